// gRPC status -> OpenAI error mapping.
#include "server/gateway/status_mapping.h"

#include <algorithm>
#include <cctype>
#include <map>

namespace sy::gateway {
namespace {

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

bool is_field_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '[' ||
         c == ']';
}

ApiError with_retry(int status, std::string message, std::string type, std::string code) {
  ApiError error{status, std::move(message), std::move(type), std::nullopt, std::move(code), 0};
  error.retry_after_seconds = kRetryAfterSeconds;
  return error;
}

}  // namespace

std::optional<std::string> openai_param_from_message(const std::string& message,
                                                     Endpoint endpoint) {
  size_t end = 0;
  while (end < message.size() && is_field_char(message[end])) ++end;
  if (end == 0 || end >= message.size() || message[end] != ':') return std::nullopt;
  std::string path = message.substr(0, end);
  // Chat message paths keep their index ("messages[2].content"): the client wrote them.
  if (path.rfind("messages", 0) == 0) return path;
  // The prompt's oneof ("text", "token_ids.ids[3]") is the OpenAI prompt.
  bool chat = endpoint == Endpoint::kChatCompletions;
  if (path.rfind("token_ids", 0) == 0 || path.rfind("text", 0) == 0 ||
      path.rfind("prompt", 0) == 0) {
    return chat ? "messages" : "prompt";
  }
  // Otherwise the last component names the parameter ("sampling.top_p" -> "top_p").
  std::string field = path.substr(path.find_last_of('.') == std::string::npos
                                      ? 0
                                      : path.find_last_of('.') + 1);
  field = field.substr(0, field.find('['));
  static const std::map<std::string, std::string> kRenames = {
      {"stop_strings", "stop"},
      {"stop_sequences", "stop"},
      {"prompt_token_ids", "prompt"},
      {"token_ids", "prompt"},
      {"prompt_text", "prompt"},
      {"text", "prompt"},
      {"num_choices", "n"},
  };
  if (auto it = kRenames.find(field); it != kRenames.end()) field = it->second;
  if (field == "prompt" && chat) field = "messages";
  if (field == "max_new_tokens") field = chat ? "max_completion_tokens" : "max_tokens";
  if (chat && (field == "num_logprobs" || field == "logprobs")) field = "top_logprobs";
  if (!chat && (field == "num_logprobs" || field == "top_logprobs")) field = "logprobs";
  return field;
}

bool is_context_length_message(const std::string& message) {
  std::string lower = lowercase(message);
  // switchyard-server names its limit max_model_len ("prompt (300 tokens) + max_tokens (10)
  // exceeds max_model_len 256"); other wordings say "context length/window".
  if (lower.find("max_model_len") != std::string::npos) return true;
  return lower.find("context") != std::string::npos &&
         (lower.find("length") != std::string::npos || lower.find("window") != std::string::npos ||
          lower.find("exceed") != std::string::npos);
}

ApiError api_error_from_status(grpc::StatusCode code, const std::string& message,
                               Endpoint endpoint) {
  std::string text = message.empty() ? "upstream error (no message)" : message;
  switch (code) {
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE:
    case grpc::StatusCode::FAILED_PRECONDITION: {
      std::optional<std::string> param = openai_param_from_message(message, endpoint);
      if (is_context_length_message(message)) {
        if (!param) param = endpoint == Endpoint::kChatCompletions ? "messages" : "prompt";
        return invalid_request(text, param, "context_length_exceeded");
      }
      return invalid_request(text, param);
    }
    case grpc::StatusCode::NOT_FOUND:
      return {404, text, "invalid_request_error", "model", "model_not_found", 0};
    case grpc::StatusCode::UNAUTHENTICATED:
      return unauthorized(text);
    case grpc::StatusCode::PERMISSION_DENIED:
      return {403, text, "permission_error", std::nullopt, std::nullopt, 0};
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return with_retry(429, text, "rate_limit_error", "server_overloaded");
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::CANCELLED:
      return with_retry(503, text, "service_unavailable", "server_unavailable");
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return {504, text, "timeout_error", std::nullopt, "timeout", 0};
    case grpc::StatusCode::UNIMPLEMENTED:
      return {501, text, "not_implemented", std::nullopt, std::nullopt, 0};
    case grpc::StatusCode::OK:
      return internal_error("upstream reported OK where an error was expected");
    default:
      return internal_error("upstream error: " + text);
  }
}

}  // namespace sy::gateway
