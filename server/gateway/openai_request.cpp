// OpenAI request parsing and validation. Each reader names the field it failed on, using the
// path a client would write ("messages[2].content[0].text").
#include "server/gateway/openai_request.h"

#include <cmath>
#include <limits>
#include <utility>

namespace sy::gateway {
namespace {

using nlohmann::json;

// Thrown inside this file only; the public functions return it as a value.
struct RequestError {
  ApiError error;
};

[[noreturn]] void fail(std::string message, std::string param) {
  throw RequestError{invalid_request(std::move(message), std::move(param))};
}

std::string json_type(const json& value) { return value.is_null() ? "null" : value.type_name(); }

// Returns the member or nullptr when it is absent or JSON null (OpenAI treats null as "unset").
const json* member(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string read_string(const json& value, const std::string& path) {
  if (!value.is_string()) fail(path + " must be a string, got " + json_type(value) + ".", path);
  return value.get<std::string>();
}

std::optional<std::string> optional_string(const json& object, const char* key) {
  const json* value = member(object, key);
  if (!value) return std::nullopt;
  return read_string(*value, key);
}

std::optional<bool> optional_bool(const json& object, const char* key) {
  const json* value = member(object, key);
  if (!value) return std::nullopt;
  if (!value->is_boolean()) {
    fail(std::string(key) + " must be a boolean, got " + json_type(*value) + ".", key);
  }
  return value->get<bool>();
}

// Integers only: 1.5 tokens is a client bug, and 1e30 must not wrap around.
std::optional<int64_t> optional_int(const json& object, const char* key) {
  const json* value = member(object, key);
  if (!value) return std::nullopt;
  if (value->is_number_unsigned()) {
    if (value->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      fail(std::string(key) + " is too large.", key);
    }
    return static_cast<int64_t>(value->get<uint64_t>());
  }
  if (!value->is_number_integer()) {
    fail(std::string(key) + " must be an integer, got " + json_type(*value) + ".", key);
  }
  return value->get<int64_t>();
}

// Counts travel as int32 in the gRPC API.
std::optional<int64_t> optional_int32(const json& object, const char* key) {
  std::optional<int64_t> value = optional_int(object, key);
  if (value && (*value > INT32_MAX || *value < INT32_MIN)) {
    fail(std::string(key) + " is out of range, got " + std::to_string(*value) + ".", key);
  }
  return value;
}

std::optional<double> optional_number(const json& object, const char* key) {
  const json* value = member(object, key);
  if (!value) return std::nullopt;
  if (!value->is_number()) {
    fail(std::string(key) + " must be a number, got " + json_type(*value) + ".", key);
  }
  double number = value->get<double>();
  if (!std::isfinite(number)) fail(std::string(key) + " must be finite.", key);
  return number;
}

// Shortest round-trip form, so messages read "0.5" rather than "0.500000".
std::string describe(double value) { return json(value).dump(); }

void check_range(const std::optional<double>& value, const char* key, double low, double high,
                 bool low_inclusive) {
  if (!value) return;
  bool above_low = low_inclusive ? *value >= low : *value > low;
  if (!above_low || *value > high) {
    fail(std::string(key) + " must be in " + (low_inclusive ? "[" : "(") + describe(low) + ", " +
             describe(high) + "], got " + describe(*value) + ".",
         key);
  }
}

std::vector<std::string> read_stop(const json& body) {
  const json* stop = member(body, "stop");
  if (!stop) return {};
  if (stop->is_string()) return {stop->get<std::string>()};
  if (!stop->is_array()) {
    fail("stop must be a string or an array of strings, got " + json_type(*stop) + ".", "stop");
  }
  std::vector<std::string> stops;
  for (size_t i = 0; i < stop->size(); ++i) {
    std::string path = "stop[" + std::to_string(i) + "]";
    std::string text = read_string((*stop)[i], path);
    if (text.empty()) fail(path + " must not be empty.", path);
    stops.push_back(std::move(text));
  }
  return stops;
}

// Fields shared by both endpoints; logprobs differ and are read by the callers.
void read_common(const json& body, GenerationRequest& request) {
  const json* model = member(body, "model");
  if (!model) fail("model is required.", "model");
  request.model = read_string(*model, "model");
  if (request.model.empty()) fail("model must not be empty.", "model");

  SamplingParams& s = request.sampling;
  auto max_tokens = optional_int32(body, "max_tokens");
  auto max_completion_tokens = optional_int32(body, "max_completion_tokens");
  s.max_tokens = max_completion_tokens ? max_completion_tokens : max_tokens;
  if (s.max_tokens && *s.max_tokens < 1) {
    const char* key = max_completion_tokens ? "max_completion_tokens" : "max_tokens";
    fail(std::string(key) + " must be at least 1, got " + std::to_string(*s.max_tokens) + ".",
         key);
  }
  s.temperature = optional_number(body, "temperature");
  check_range(s.temperature, "temperature", 0.0, 2.0, true);
  s.top_p = optional_number(body, "top_p");
  check_range(s.top_p, "top_p", 0.0, 1.0, false);
  s.top_k = optional_int32(body, "top_k");
  if (s.top_k && *s.top_k < -1) fail("top_k must be -1 (disabled) or positive.", "top_k");
  s.min_p = optional_number(body, "min_p");
  check_range(s.min_p, "min_p", 0.0, 1.0, true);
  s.presence_penalty = optional_number(body, "presence_penalty");
  check_range(s.presence_penalty, "presence_penalty", -2.0, 2.0, true);
  s.frequency_penalty = optional_number(body, "frequency_penalty");
  check_range(s.frequency_penalty, "frequency_penalty", -2.0, 2.0, true);
  s.repetition_penalty = optional_number(body, "repetition_penalty");
  if (s.repetition_penalty && *s.repetition_penalty <= 0.0) {
    fail("repetition_penalty must be positive.", "repetition_penalty");
  }
  s.seed = optional_int(body, "seed");
  if (auto n = optional_int32(body, "n")) {
    if (*n < 1) fail("n must be at least 1, got " + std::to_string(*n) + ".", "n");
    s.n = *n;
  }
  s.stop = read_stop(body);

  request.stream = optional_bool(body, "stream").value_or(false);
  if (const json* options = member(body, "stream_options")) {
    if (!request.stream) {
      fail("stream_options is only allowed when stream is true.", "stream_options");
    }
    if (!options->is_object()) {
      fail("stream_options must be an object, got " + json_type(*options) + ".",
           "stream_options");
    }
    if (const json* usage = member(*options, "include_usage")) {
      if (!usage->is_boolean()) {
        fail("stream_options.include_usage must be a boolean.", "stream_options.include_usage");
      }
      request.include_usage = usage->get<bool>();
    }
  }
  request.user = optional_string(body, "user").value_or("");

  if (const json* bias = member(body, "logit_bias"); bias && !(bias->is_object() && bias->empty())) {
    fail("logit_bias is not supported by this server.", "logit_bias");
  }
}

// A message's content: a string, or an array of {"type": "text", "text": ...} parts.
std::string read_content(const json& content, const std::string& path) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) {
    fail(path + " must be a string or an array of content parts, got " + json_type(content) + ".",
         path);
  }
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const json& part = content[i];
    std::string part_path = path + "[" + std::to_string(i) + "]";
    if (!part.is_object()) fail(part_path + " must be an object.", part_path);
    const json* type = member(part, "type");
    if (!type) fail(part_path + ".type is required.", part_path + ".type");
    std::string part_type = read_string(*type, part_path + ".type");
    if (part_type != "text") {
      fail(part_path + ".type '" + part_type + "' is not supported; only text parts are.",
           part_path + ".type");
    }
    const json* part_text = member(part, "text");
    if (!part_text) fail(part_path + ".text is required.", part_path + ".text");
    text += read_string(*part_text, part_path + ".text");
  }
  return text;
}

ChatMessage read_message(const json& message, size_t index) {
  std::string path = "messages[" + std::to_string(index) + "]";
  if (!message.is_object()) {
    fail(path + " must be an object, got " + json_type(message) + ".", path);
  }
  ChatMessage out;
  const json* role = member(message, "role");
  if (!role) fail(path + ".role is required.", path + ".role");
  out.role = read_string(*role, path + ".role");
  // "developer" is OpenAI's newer name for the system turn; chat templates know "system".
  if (out.role == "developer") out.role = "system";
  if (out.role != "system" && out.role != "user" && out.role != "assistant" && out.role != "tool") {
    fail(path + ".role '" + out.role +
             "' is not one of system, developer, user, assistant, tool.",
         path + ".role");
  }
  if (const json* tool_calls = member(message, "tool_calls")) {
    if (out.role != "assistant" || !tool_calls->is_array()) {
      fail(path + ".tool_calls must be an array on an assistant message.", path + ".tool_calls");
    }
    out.tool_calls_json = tool_calls->dump();
  }
  const json* content = member(message, "content");
  if (content) {
    out.content = read_content(*content, path + ".content");
  } else if (out.tool_calls_json.empty()) {
    fail(path + ".content is required.", path + ".content");
  }
  if (const json* name = member(message, "name")) out.name = read_string(*name, path + ".name");
  if (const json* id = member(message, "tool_call_id")) {
    out.tool_call_id = read_string(*id, path + ".tool_call_id");
  }
  if (out.role == "tool" && !out.tool_call_id) {
    fail(path + ".tool_call_id is required for role 'tool'.", path + ".tool_call_id");
  }
  return out;
}

// A token id must fit the proto's int32 and be non-negative; the vocabulary bound is the
// server's to check.
int64_t read_token_id(const json& value, const std::string& path) {
  if (!value.is_number_integer()) fail(path + " must be an integer token id.", path);
  int64_t id = value.is_number_unsigned() && value.get<uint64_t>() > INT32_MAX
                   ? int64_t{-1}
                   : value.get<int64_t>();
  if (id < 0 || id > INT32_MAX) fail(path + " is not a valid token id.", path);
  return id;
}

Prompt token_prompt(const json& ids, const std::string& path) {
  Prompt prompt;
  prompt.is_token_ids = true;
  if (ids.empty()) fail(path + " must not be empty.", path);
  for (size_t i = 0; i < ids.size(); ++i) {
    prompt.token_ids.push_back(read_token_id(ids[i], path + "[" + std::to_string(i) + "]"));
  }
  return prompt;
}

// prompt: "text" | ["text", ...] | [id, ...] | [[id, ...], ...]
std::vector<Prompt> read_prompts(const json& body) {
  const json* prompt = member(body, "prompt");
  if (!prompt) fail("prompt is required.", "prompt");
  if (prompt->is_string()) return {Prompt{prompt->get<std::string>(), {}, false}};
  if (!prompt->is_array()) {
    fail("prompt must be a string, an array of strings, or token ids, got " + json_type(*prompt) +
             ".",
         "prompt");
  }
  if (prompt->empty()) fail("prompt must not be empty.", "prompt");
  if ((*prompt)[0].is_number()) return {token_prompt(*prompt, "prompt")};
  if (prompt->size() > kMaxPromptsPerRequest) {
    fail("prompt holds " + std::to_string(prompt->size()) + " prompts; at most " +
             std::to_string(kMaxPromptsPerRequest) + " per request.",
         "prompt");
  }
  std::vector<Prompt> prompts;
  for (size_t i = 0; i < prompt->size(); ++i) {
    const json& item = (*prompt)[i];
    std::string path = "prompt[" + std::to_string(i) + "]";
    if (item.is_string()) {
      prompts.push_back(Prompt{item.get<std::string>(), {}, false});
    } else if (item.is_array()) {
      prompts.push_back(token_prompt(item, path));
    } else {
      fail(path + " must be a string or an array of token ids, got " + json_type(item) + ".", path);
    }
  }
  return prompts;
}

GenerationRequest chat_request(const json& body) {
  GenerationRequest request;
  request.endpoint = Endpoint::kChatCompletions;
  read_common(body, request);

  const json* messages = member(body, "messages");
  if (!messages) fail("messages is required.", "messages");
  if (!messages->is_array()) {
    fail("messages must be an array, got " + json_type(*messages) + ".", "messages");
  }
  if (messages->empty()) fail("messages must contain at least one message.", "messages");
  for (size_t i = 0; i < messages->size(); ++i) {
    request.messages.push_back(read_message((*messages)[i], i));
  }

  SamplingParams& s = request.sampling;
  s.logprobs = optional_bool(body, "logprobs").value_or(false);
  if (auto top = optional_int(body, "top_logprobs")) {
    if (!s.logprobs) fail("top_logprobs requires logprobs to be true.", "top_logprobs");
    if (*top < 0 || *top > 20) fail("top_logprobs must be in [0, 20].", "top_logprobs");
    s.top_logprobs = *top;
  }

  if (const json* tools = member(body, "tools")) {
    if (!tools->is_array()) fail("tools must be an array of tool definitions.", "tools");
    request.tools_json = tools->dump();
  }
  json template_kwargs = json::object();
  if (const json* kwargs = member(body, "chat_template_kwargs")) {
    if (!kwargs->is_object()) {
      fail("chat_template_kwargs must be an object, got " + json_type(*kwargs) + ".",
           "chat_template_kwargs");
    }
    template_kwargs = *kwargs;
  }
  if (const json* choice = member(body, "tool_choice")) {
    if (!choice->is_string() && !choice->is_object()) {
      fail("tool_choice must be a string or an object.", "tool_choice");
    }
    template_kwargs["tool_choice"] = *choice;
  }
  if (!template_kwargs.empty()) request.template_kwargs_json = template_kwargs.dump();
  if (const json* format = member(body, "response_format")) {
    const json* type = format->is_object() ? member(*format, "type") : nullptr;
    if (!type || !type->is_string() || type->get<std::string>() != "text") {
      fail("response_format other than {\"type\": \"text\"} is not supported by this server.",
           "response_format");
    }
  }
  return request;
}

GenerationRequest completion_request(const json& body) {
  GenerationRequest request;
  request.endpoint = Endpoint::kCompletions;
  read_common(body, request);
  request.prompts = read_prompts(body);

  // Completions: logprobs is the number of alternatives (0 = only the sampled token's).
  if (auto logprobs = optional_int(body, "logprobs")) {
    if (*logprobs < 0 || *logprobs > 20) fail("logprobs must be in [0, 20].", "logprobs");
    request.sampling.logprobs = true;
    request.sampling.top_logprobs = *logprobs;
  }
  if (optional_bool(body, "echo").value_or(false)) {
    fail("echo is not supported by this server.", "echo");
  }
  if (optional_string(body, "suffix").value_or("") != "") {
    fail("suffix is not supported by this server.", "suffix");
  }
  if (auto best_of = optional_int(body, "best_of"); best_of && *best_of != request.sampling.n) {
    fail("best_of different from n is not supported by this server.", "best_of");
  }
  return request;
}

template <typename Parse>
std::variant<GenerationRequest, ApiError> run_parser(const json& body, Parse parse) {
  if (!body.is_object()) return invalid_request("Request body must be a JSON object.");
  try {
    return parse(body);
  } catch (const RequestError& e) {
    return e.error;
  }
}

}  // namespace

std::variant<GenerationRequest, ApiError> parse_chat_request(const nlohmann::json& body) {
  return run_parser(body, chat_request);
}

std::variant<GenerationRequest, ApiError> parse_completion_request(const nlohmann::json& body) {
  return run_parser(body, completion_request);
}

}  // namespace sy::gateway
