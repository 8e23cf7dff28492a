// OpenAI response and stream-chunk shaping.
#include "server/gateway/openai_response.h"

#include <random>

namespace sy::gateway {
namespace {

using nlohmann::json;

json usage_json(const Usage& usage) {
  return {{"prompt_tokens", usage.prompt_tokens},
          {"completion_tokens", usage.completion_tokens},
          {"total_tokens", usage.prompt_tokens + usage.completion_tokens}};
}

json byte_list(const std::string& token) {
  json bytes = json::array();
  for (unsigned char c : token) bytes.push_back(static_cast<int>(c));
  return bytes;
}

// Chat: {"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}]}
json chat_logprobs(const std::vector<TokenLogprob>& tokens) {
  json content = json::array();
  for (const TokenLogprob& t : tokens) {
    json top = json::array();
    for (const TopLogprob& alt : t.top) {
      top.push_back({{"token", to_valid_utf8(alt.token)},
                     {"logprob", alt.logprob},
                     {"bytes", byte_list(alt.token)}});
    }
    content.push_back({{"token", to_valid_utf8(t.token)},
                       {"logprob", t.logprob},
                       {"bytes", byte_list(t.token)},
                       {"top_logprobs", std::move(top)}});
  }
  return {{"content", std::move(content)}, {"refusal", nullptr}};
}

// Completions: parallel arrays; text_offset counts bytes from the start of the completion.
json completion_logprobs(const std::vector<TokenLogprob>& tokens, int64_t first_offset) {
  json out = {{"tokens", json::array()},
              {"token_logprobs", json::array()},
              {"top_logprobs", json::array()},
              {"text_offset", json::array()}};
  int64_t offset = first_offset;
  for (const TokenLogprob& t : tokens) {
    out["tokens"].push_back(to_valid_utf8(t.token));
    out["token_logprobs"].push_back(t.logprob);
    json top = json::object();
    for (const TopLogprob& alt : t.top) top[to_valid_utf8(alt.token)] = alt.logprob;
    out["top_logprobs"].push_back(std::move(top));
    out["text_offset"].push_back(offset);
    offset += static_cast<int64_t>(t.token.size());
  }
  return out;
}

json nullable(const std::string& text) { return text.empty() ? json(nullptr) : json(text); }

json envelope(const ResponseMeta& meta, const char* chat_object, const char* completion_object) {
  bool chat = meta.endpoint == Endpoint::kChatCompletions;
  return {{"id", meta.id},
          {"object", chat ? chat_object : completion_object},
          {"created", meta.created},
          {"model", meta.model},
          {"system_fingerprint", meta.system_fingerprint}};
}

}  // namespace

std::string to_valid_utf8(const std::string& bytes) {
  // Dumping with error_handler_t::replace substitutes U+FFFD for each invalid byte sequence;
  // parse the dump back to get the cleaned string.
  json as_json = bytes;
  std::string dumped = as_json.dump(-1, ' ', false, json::error_handler_t::replace);
  return json::parse(dumped).get<std::string>();
}

std::string new_response_id(Endpoint endpoint) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* kHex = "0123456789abcdef";
  std::string id = endpoint == Endpoint::kChatCompletions ? "chatcmpl-" : "cmpl-";
  uint64_t high = rng(), low = rng();
  for (int i = 0; i < 8; ++i) id += kHex[(high >> (4 * i)) & 0xF];
  for (int i = 0; i < 16; ++i) id += kHex[(low >> (4 * i)) & 0xF];
  return id;
}

void ResponseAccumulator::add(const GenerationEvent& event, int64_t index_offset) {
  for (const ChoiceDelta& delta : event.choices) {
    Choice& choice = choices_[index_offset + delta.index];
    choice.text += delta.text;
    choice.logprobs.insert(choice.logprobs.end(), delta.logprobs.begin(), delta.logprobs.end());
    if (!delta.finish_reason.empty()) choice.finish_reason = delta.finish_reason;
  }
  if (event.usage) {
    usage_.prompt_tokens += event.usage->prompt_tokens;
    usage_.completion_tokens += event.usage->completion_tokens;
  }
}

json ResponseAccumulator::to_json() const {
  bool chat = meta_.endpoint == Endpoint::kChatCompletions;
  json response = envelope(meta_, "chat.completion", "text_completion");
  json choices = json::array();
  for (const auto& [index, choice] : choices_) {
    json out = {{"index", index}};
    json logprobs = nullptr;
    if (meta_.logprobs) {
      logprobs = chat ? chat_logprobs(choice.logprobs) : completion_logprobs(choice.logprobs, 0);
    }
    if (chat) {
      out["message"] = {{"role", "assistant"}, {"content", choice.text}, {"refusal", nullptr}};
    } else {
      out["text"] = choice.text;
    }
    out["logprobs"] = std::move(logprobs);
    out["finish_reason"] = nullable(choice.finish_reason);
    choices.push_back(std::move(out));
  }
  response["choices"] = std::move(choices);
  response["usage"] = usage_json(usage_);
  return response;
}

json StreamShaper::chunk(const GenerationEvent& event, int64_t index_offset) {
  if (event.usage) {
    usage_.prompt_tokens += event.usage->prompt_tokens;
    usage_.completion_tokens += event.usage->completion_tokens;
  }
  if (event.choices.empty()) return nullptr;
  bool chat = meta_.endpoint == Endpoint::kChatCompletions;
  json out = envelope(meta_, "chat.completion.chunk", "text_completion");
  json choices = json::array();
  for (const ChoiceDelta& delta : event.choices) {
    int64_t index = index_offset + delta.index;
    json choice = {{"index", index}};
    json logprobs = nullptr;
    if (meta_.logprobs && !delta.logprobs.empty()) {
      int64_t& offset = text_offsets_[index];
      logprobs = chat ? chat_logprobs(delta.logprobs) : completion_logprobs(delta.logprobs, offset);
      for (const TokenLogprob& t : delta.logprobs) offset += static_cast<int64_t>(t.token.size());
    }
    if (chat) {
      json message = json::object();
      if (!role_sent_[index]) {
        message["role"] = "assistant";
        role_sent_[index] = true;
      }
      if (!delta.text.empty() || delta.finish_reason.empty()) message["content"] = delta.text;
      choice["delta"] = std::move(message);
    } else {
      choice["text"] = delta.text;
    }
    choice["logprobs"] = std::move(logprobs);
    choice["finish_reason"] = nullable(delta.finish_reason);
    choices.push_back(std::move(choice));
  }
  out["choices"] = std::move(choices);
  // With include_usage every chunk carries "usage": null; only the final one has numbers.
  if (include_usage_) out["usage"] = nullptr;
  return out;
}

json StreamShaper::usage_chunk() const {
  json out = envelope(meta_, "chat.completion.chunk", "text_completion");
  out["choices"] = json::array();
  out["usage"] = usage_json(usage_);
  return out;
}

}  // namespace sy::gateway
