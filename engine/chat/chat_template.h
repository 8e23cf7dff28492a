// ChatTemplate: turns chat messages into the prompt text a model expects (request -> chat
// template -> tokenizer -> scheduler). Renders the model's own Jinja chat template with our
// sandboxed interpreter, byte for byte as transformers' apply_chat_template(tokenize=False).
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/chat/chat_template_error.h"

namespace sy {

namespace jinja {
struct Template;
}

struct ChatTemplateInputs {
  nlohmann::json messages = nlohmann::json::array();  // [{role, content (string or parts), tool_calls, ...}]
  nlohmann::json tools;                                // null or array
  nlohmann::json documents;                            // null or array
  bool add_generation_prompt = true;
  nlohmann::json extra = nlohmann::json::object();     // e.g. {"enable_thinking": false, "reasoning_effort": "low"}
};

// ChatTemplateInputs with objects in the order the client sent their keys. transformers sees
// Python dicts in request order, so a tool's JSON schema renders (tojson, items()) in that
// order; nlohmann::json sorts keys. Servers that parse requests into ordered_json use this.
struct OrderedChatTemplateInputs {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  nlohmann::ordered_json tools;      // null or array
  nlohmann::ordered_json documents;  // null or array
  bool add_generation_prompt = true;
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();
};

// Bounds that keep a hostile template from hanging or exhausting the server.
struct ChatTemplateLimits {
  int64_t max_loop_iterations = 1'000'000;  // total for-loop iterations per render
  int max_recursion_depth = 128;            // nested macro calls
  size_t max_output_bytes = 32u << 20;      // rendered prompt (and any intermediate string)
  int max_nesting_depth = 256;              // parse depth of expressions and blocks
};

class ChatTemplate {
 public:
  ChatTemplate();
  ~ChatTemplate();
  ChatTemplate(const ChatTemplate&);
  ChatTemplate& operator=(const ChatTemplate&);
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;

  // Source order as transformers: dir/chat_template.jinja, else tokenizer_config.json
  // "chat_template" (string, or list of {name, template}: use "default"). bos/eos token
  // strings from tokenizer_config.json (string or {"content": ...}). Throws if none found.
  static ChatTemplate from_model_dir(const std::filesystem::path& dir);
  static ChatTemplate from_string(std::string source, std::string bos_token = "", std::string eos_token = "");
  bool empty() const;
  // Throws sy::ChatTemplateError (derives std::runtime_error) with line/column on template
  // errors, raise_exception(msg) calls, or sandbox limit violations.
  std::string render(const ChatTemplateInputs& in) const;
  // Same as render(), with objects in request key order (see OrderedChatTemplateInputs).
  std::string render_ordered(const OrderedChatTemplateInputs& in) const;

  // Sandbox bounds for later renders (parse depth applies at construction; defaults are safe).
  void set_limits(const ChatTemplateLimits& limits) { limits_ = limits; }
  const std::string& source() const { return source_; }

 private:
  std::string source_;
  // Special tokens visible to the template as variables (bos_token, eos_token, unk_token, ...);
  // an absent token is undefined in the template, as in transformers.
  std::map<std::string, std::string> special_tokens_;
  std::shared_ptr<const jinja::Template> parsed_;  // immutable after parsing: shared by copies
  ChatTemplateLimits limits_;

  template <typename Json>
  std::string render_json(const Json& messages, const Json& tools, const Json& documents, bool add_generation_prompt,
                          const Json& extra) const;
};

}  // namespace sy
