// OpenAI request JSON -> GenerationRequest (HTTP body -> here -> gRPC Generate/Chat -> server).
// Pure functions: no I/O. They check JSON types and the simple ranges the OpenAI API documents,
// naming the offending field; everything that needs the model (context length, vocabulary,
// server limits on n/logprobs/stop) is checked by the server and mapped back by
// status_mapping.h. Unknown fields are ignored, as OpenAI-compatible servers do; fields that
// would silently change the meaning of a request (echo, suffix, logit_bias, ...) are rejected.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/gateway/api_error.h"

namespace sy::gateway {

enum class Endpoint { kChatCompletions, kCompletions };

// Completions prompts per request: each one is a separate upstream generation started at once,
// so the list is bounded like OpenAI bounds it.
inline constexpr size_t kMaxPromptsPerRequest = 2048;

struct SamplingParams {
  std::optional<int64_t> max_tokens;  // max_completion_tokens, else max_tokens
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<int64_t> top_k;  // extension; -1 disables
  std::optional<double> min_p;   // extension
  std::optional<double> presence_penalty;
  std::optional<double> frequency_penalty;
  std::optional<double> repetition_penalty;  // extension; 1 disables
  std::optional<int64_t> seed;
  int64_t n = 1;
  std::vector<std::string> stop;
  bool logprobs = false;     // report the sampled token's logprob
  int64_t top_logprobs = 0;  // and this many alternatives per position
};

struct ChatMessage {
  std::string role;  // system (also for "developer"), user, assistant, tool
  std::string content;  // text parts joined; empty for an assistant turn that only calls tools
  std::optional<std::string> name;
  std::optional<std::string> tool_call_id;  // role "tool"
  std::string tool_calls_json;              // assistant tool_calls as JSON text, or empty
};

// One completion prompt: text, or token ids when the client sent integers.
struct Prompt {
  std::string text;
  std::vector<int64_t> token_ids;
  bool is_token_ids = false;
};

struct GenerationRequest {
  std::string id;  // the response id ("chatcmpl-…"), also the upstream request_id
  Endpoint endpoint = Endpoint::kChatCompletions;
  std::string model;
  std::vector<ChatMessage> messages;  // chat only
  std::string tools_json;             // chat only: "tools" as JSON text for the template
  // chat only: extra chat-template variables as a JSON object text: the request's
  // chat_template_kwargs (e.g. {"enable_thinking": false}) plus "tool_choice" when given.
  std::string template_kwargs_json;
  std::vector<Prompt> prompts;        // completions only: each gets n choices
  SamplingParams sampling;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  std::string user;
};

std::variant<GenerationRequest, ApiError> parse_chat_request(const nlohmann::json& body);
std::variant<GenerationRequest, ApiError> parse_completion_request(const nlohmann::json& body);

}  // namespace sy::gateway
