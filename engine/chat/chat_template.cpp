// ChatTemplate: loading from a model directory and the transformers-side preparation of the
// template variables (render_jinja_template / apply_chat_template), then the sandboxed render.
#include "engine/chat/chat_template.h"

#include <fstream>
#include <sstream>

#include "engine/chat/jinja/builtins.h"
#include "engine/chat/jinja/interpreter.h"
#include "engine/chat/jinja/parser.h"

namespace sy {
namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ChatTemplateError("cannot read " + path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// tokenizer_config.json writes special tokens as a string or as an AddedToken {"content": ...}.
std::optional<std::string> token_string(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content") && value["content"].is_string())
    return value["content"].get<std::string>();
  return std::nullopt;
}

std::string template_from_config(const nlohmann::json& config, const std::filesystem::path& config_path) {
  const nlohmann::json& t = config["chat_template"];
  if (t.is_string()) return t.get<std::string>();
  if (t.is_array()) {
    for (const auto& entry : t) {
      if (entry.is_object() && entry.value("name", "") == "default" && entry.contains("template") &&
          entry["template"].is_string())
        return entry["template"].get<std::string>();
    }
    throw ChatTemplateError(config_path.string() + ": chat_template lists named templates but none is named \"default\"");
  }
  throw ChatTemplateError(config_path.string() + ": chat_template must be a string or a list of {name, template}");
}

// transformers' _alias_reasoning_fields: a message's reasoning, under any of its names, is
// offered as `thinking` (first key, for gpt-oss templates) and as `reasoning_content`.
template <typename Json>
jinja::Value alias_reasoning_fields(const Json& message) {
  jinja::Value converted = jinja::from_json(message);
  if (!message.is_object()) return converted;
  const jinja::Value* reasoning = nullptr;
  for (const char* key : {"reasoning_content", "thinking", "reasoning"}) {
    const jinja::Value* v = converted.as_dict().find(key);
    if (v && !v->is_none()) {
      reasoning = v;
      break;
    }
  }
  if (!reasoning) return converted;
  jinja::Value aliased = jinja::Value::dict();
  jinja::DictData& d = aliased.mutable_dict();
  d.set("thinking", *reasoning);
  for (const auto& [key, value] : converted.as_dict().entries) d.set(key, value);
  d.set("reasoning_content", *reasoning);
  return aliased;
}

}  // namespace

ChatTemplate::ChatTemplate() = default;
ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(const ChatTemplate&) = default;
ChatTemplate& ChatTemplate::operator=(const ChatTemplate&) = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

ChatTemplate ChatTemplate::from_string(std::string source, std::string bos_token, std::string eos_token) {
  ChatTemplate t;
  t.source_ = std::move(source);
  if (!bos_token.empty()) t.special_tokens_["bos_token"] = std::move(bos_token);
  if (!eos_token.empty()) t.special_tokens_["eos_token"] = std::move(eos_token);
  t.parsed_ = std::make_shared<const jinja::Template>(jinja::parse(t.source_, t.limits_.max_nesting_depth));
  return t;
}

ChatTemplate ChatTemplate::from_model_dir(const std::filesystem::path& dir) {
  const std::filesystem::path jinja_path = dir / "chat_template.jinja";
  const std::filesystem::path config_path = dir / "tokenizer_config.json";
  nlohmann::json config = nlohmann::json::object();
  if (std::filesystem::exists(config_path)) {
    try {
      config = nlohmann::json::parse(read_file(config_path));
    } catch (const nlohmann::json::exception& e) {
      throw ChatTemplateError(config_path.string() + ": invalid JSON: " + e.what());
    }
  }
  std::string source;
  if (std::filesystem::exists(jinja_path)) {
    source = read_file(jinja_path);
  } else if (config.is_object() && config.contains("chat_template") && !config["chat_template"].is_null()) {
    source = template_from_config(config, config_path);
  } else {
    throw ChatTemplateError("no chat template in " + dir.string() + " (neither chat_template.jinja nor \"chat_template\" in tokenizer_config.json)");
  }
  ChatTemplate t = from_string(std::move(source));
  if (config.is_object()) {
    for (const char* name : {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"}) {
      if (!config.contains(name)) continue;
      if (auto token = token_string(config[name])) t.special_tokens_[name] = *token;
    }
  }
  return t;
}

bool ChatTemplate::empty() const { return !parsed_ || source_.empty(); }

std::string ChatTemplate::render(const ChatTemplateInputs& in) const {
  return render_json(in.messages, in.tools, in.documents, in.add_generation_prompt, in.extra);
}

std::string ChatTemplate::render_ordered(const OrderedChatTemplateInputs& in) const {
  return render_json(in.messages, in.tools, in.documents, in.add_generation_prompt, in.extra);
}

template <typename Json>
std::string ChatTemplate::render_json(const Json& in_messages, const Json& in_tools, const Json& in_documents,
                                      bool add_generation_prompt, const Json& in_extra) const {
  if (!parsed_) throw ChatTemplateError("no chat template loaded");
  if (!in_messages.is_array()) throw ChatTemplateError("messages must be an array");
  if (!in_tools.is_null() && !in_tools.is_array()) throw ChatTemplateError("tools must be null or an array");
  if (!in_documents.is_null() && !in_documents.is_array()) throw ChatTemplateError("documents must be null or an array");
  if (!in_extra.is_null() && !in_extra.is_object()) throw ChatTemplateError("extra template variables must be an object");
  std::vector<jinja::Value> messages;
  for (const auto& message : in_messages) {
    if (!message.is_object()) throw ChatTemplateError("chat messages must be objects, got " + message.dump());
    messages.push_back(alias_reasoning_fields(message));
  }
  if (in_documents.is_array())
    for (const auto& document : in_documents)
      if (!document.is_object()) throw ChatTemplateError("documents should be a list of objects with 'title' and 'text' keys");

  // apply_chat_template: {**special_tokens_map, **kwargs}, then messages/tools/documents/
  // add_generation_prompt as render() keywords (a duplicate is a Python TypeError there).
  std::vector<std::pair<std::string, jinja::Value>> variables;
  for (const auto& [name, token] : special_tokens_) variables.emplace_back(name, jinja::Value(token));
  if (in_extra.is_object()) {
    for (auto it = in_extra.begin(); it != in_extra.end(); ++it) {
      const std::string& key = it.key();
      if (key == "messages" || key == "tools" || key == "documents" || key == "add_generation_prompt")
        throw ChatTemplateError("extra template variable '" + key + "' collides with a chat template argument");
      variables.emplace_back(key, jinja::from_json(it.value()));
    }
  }
  variables.emplace_back("messages", jinja::Value::list(std::move(messages)));
  variables.emplace_back("tools", jinja::from_json(in_tools));
  variables.emplace_back("documents", jinja::from_json(in_documents));
  variables.emplace_back("add_generation_prompt", jinja::Value(add_generation_prompt));

  jinja::SandboxLimits limits;
  limits.max_loop_iterations = limits_.max_loop_iterations;
  limits.max_recursion_depth = limits_.max_recursion_depth;
  limits.max_output_bytes = limits_.max_output_bytes;
  limits.max_nesting_depth = limits_.max_nesting_depth;
  return jinja::render(*parsed_, variables, limits);
}

}  // namespace sy
