#include "server/grpc/request_conversion.h"

#include <random>

#include <nlohmann/json.hpp>

namespace sy::server {

std::optional<FieldError> check_model_name(const ServedModel& m, const std::string& requested) {
  if (requested.empty() || requested == m.id) return std::nullopt;
  return FieldError{"model", "unknown model '" + requested + "' (this server serves '" + m.id + "')"};
}

std::optional<FieldError> convert_sampling(const pb::SamplingParams& in, const ServedModel& m,
                                           SamplingParams& out) {
  out = SamplingParams{};
  if (in.has_n()) out.n = in.n();
  if (in.has_max_tokens()) {
    if (in.max_tokens() <= 0)
      return FieldError{"sampling.max_tokens", "must be > 0, got " + std::to_string(in.max_tokens())};
    if (in.max_tokens() > m.engine->max_model_len())
      return FieldError{"sampling.max_tokens", "must be <= max_model_len " + std::to_string(m.engine->max_model_len()) +
                                                   ", got " + std::to_string(in.max_tokens())};
    out.max_tokens = in.max_tokens();
  }
  if (in.has_min_tokens()) out.min_tokens = in.min_tokens();
  if (in.has_temperature()) out.temperature = in.temperature();
  if (in.has_top_k()) out.top_k = in.top_k();
  if (in.has_top_p()) out.top_p = in.top_p();
  if (in.has_min_p()) out.min_p = in.min_p();
  if (in.has_repetition_penalty()) out.repetition_penalty = in.repetition_penalty();
  if (in.has_presence_penalty()) out.presence_penalty = in.presence_penalty();
  if (in.has_frequency_penalty()) out.frequency_penalty = in.frequency_penalty();
  if (in.has_seed()) out.seed = in.seed();
  out.stop.assign(in.stop().begin(), in.stop().end());
  out.stop_token_ids.assign(in.stop_token_ids().begin(), in.stop_token_ids().end());
  out.ignore_eos = in.ignore_eos();
  if (in.has_skip_special_tokens()) out.skip_special_tokens = in.skip_special_tokens();
  if (in.has_logprobs()) {
    if (in.logprobs() < 0)
      return FieldError{"sampling.logprobs", "must be >= 0 (or unset), got " + std::to_string(in.logprobs())};
    out.logprobs = in.logprobs();
  }
  if (auto e = validate_sampling_params(out, m.limits)) return e;
  const int32_t vocab = m.engine->vocab_size();
  for (int i = 0; i < in.stop_token_ids_size(); ++i)
    if (in.stop_token_ids(i) < 0 || in.stop_token_ids(i) >= vocab)
      return FieldError{"sampling.stop_token_ids[" + std::to_string(i) + "]",
                        "token id " + std::to_string(in.stop_token_ids(i)) + " is outside the vocabulary [0, " +
                            std::to_string(vocab) + ")"};
  return std::nullopt;
}

std::optional<FieldError> check_generate_request(const pb::GenerateRequest& r, const ServedModel& m) {
  if (auto e = check_model_name(m, r.model())) return e;
  switch (r.prompt_case()) {
    case pb::GenerateRequest::kText:
      if (r.text().empty()) return FieldError{"text", "the prompt is empty"};
      if (!is_valid_utf8(r.text())) return FieldError{"text", "is not valid UTF-8"};
      break;
    case pb::GenerateRequest::kTokenIds: {
      std::vector<int32_t> ids(r.token_ids().ids().begin(), r.token_ids().ids().end());
      if (auto e = validate_token_ids(ids, m.engine->vocab_size(), "token_ids.ids")) return e;
      break;
    }
    default:
      return FieldError{"prompt", "set either text or token_ids"};
  }
  SamplingParams unused;
  return convert_sampling(r.sampling(), m, unused);
}

std::optional<FieldError> generate_prompt_tokens(const pb::GenerateRequest& r, const ServedModel& m,
                                                 std::vector<int32_t>& ids) {
  if (r.prompt_case() == pb::GenerateRequest::kTokenIds) {
    ids.assign(r.token_ids().ids().begin(), r.token_ids().ids().end());
    return std::nullopt;
  }
  ids = m.tokenizer->encode(r.text(), r.add_special_tokens());
  if (ids.empty()) return FieldError{"text", "tokenizes to no tokens"};
  return std::nullopt;
}

std::optional<FieldError> check_chat_request(const pb::ChatRequest& r, const ServedModel& m) {
  if (auto e = check_model_name(m, r.model())) return e;
  if (r.messages_size() == 0) return FieldError{"messages", "is empty"};
  for (int i = 0; i < r.messages_size(); ++i) {
    const auto& msg = r.messages(i);
    const std::string at = "messages[" + std::to_string(i) + "]";
    if (msg.role().empty()) return FieldError{at + ".role", "is empty"};
    if (!is_valid_utf8(msg.role())) return FieldError{at + ".role", "is not valid UTF-8"};
    if (!is_valid_utf8(msg.content())) return FieldError{at + ".content", "is not valid UTF-8"};
    if (!msg.tool_calls_json().empty() && !nlohmann::json::accept(msg.tool_calls_json()))
      return FieldError{at + ".tool_calls_json", "is not valid JSON"};
  }
  if (!r.tools_json().empty()) {
    if (!nlohmann::json::accept(r.tools_json()) || !nlohmann::json::parse(r.tools_json()).is_array())
      return FieldError{"tools_json", "must be a JSON array"};
  }
  if (!r.template_kwargs_json().empty()) {
    if (!nlohmann::json::accept(r.template_kwargs_json()) ||
        !nlohmann::json::parse(r.template_kwargs_json()).is_object())
      return FieldError{"template_kwargs_json", "must be a JSON object"};
  }
  SamplingParams unused;
  return convert_sampling(r.sampling(), m, unused);
}

std::optional<FieldError> chat_prompt_tokens(const pb::ChatRequest& r, const ServedModel& m,
                                             std::vector<int32_t>& ids) {
  // Render with a unique marker in place of each content, then tokenize the template's text
  // with special tokens recognised and each content as plain text. The marker is delimited by
  // U+E000 (private use): not whitespace, so templates that trim contents keep it intact.
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  const std::string delim = "\xEE\x80\x80";
  const std::string prefix = delim + "sy" + std::to_string(rng()) + "m";
  auto marker = [&](int i) { return prefix + std::to_string(i) + delim; };

  ChatTemplateInputs in;
  for (int i = 0; i < r.messages_size(); ++i) {
    const auto& msg = r.messages(i);
    nlohmann::json j = {{"role", msg.role()}, {"content", msg.content().empty() ? "" : marker(i)}};
    if (!msg.name().empty()) j["name"] = msg.name();
    if (!msg.tool_call_id().empty()) j["tool_call_id"] = msg.tool_call_id();
    if (!msg.tool_calls_json().empty()) j["tool_calls"] = nlohmann::json::parse(msg.tool_calls_json());
    in.messages.push_back(std::move(j));
  }
  if (!r.tools_json().empty()) in.tools = nlohmann::json::parse(r.tools_json());
  if (!r.template_kwargs_json().empty()) in.extra = nlohmann::json::parse(r.template_kwargs_json());
  in.add_generation_prompt = true;
  std::string rendered;
  try {
    rendered = m.chat_template->render(in);
  } catch (const std::exception& e) {
    return FieldError{"messages", std::string("the chat template failed: ") + e.what()};
  }

  ids.clear();
  size_t pos = 0;
  while (pos < rendered.size()) {
    const size_t start = rendered.find(prefix, pos);
    const size_t text_end = start == std::string::npos ? rendered.size() : start;
    if (text_end > pos) {
      auto part = m.tokenizer->encode(std::string_view(rendered).substr(pos, text_end - pos), false);
      ids.insert(ids.end(), part.begin(), part.end());
    }
    if (start == std::string::npos) break;
    const size_t num_begin = start + prefix.size();
    const size_t close = rendered.find(delim, num_begin);
    if (close == std::string::npos) return FieldError{"messages", "the chat template cut a message content"};
    const int index = std::stoi(rendered.substr(num_begin, close - num_begin));
    if (index < 0 || index >= r.messages_size()) return FieldError{"messages", "the chat template produced an unknown message"};
    auto part = m.tokenizer->encode_plain(r.messages(index).content(), false);
    ids.insert(ids.end(), part.begin(), part.end());
    pos = close + delim.size();
  }
  if (ids.empty()) return FieldError{"messages", "the rendered prompt is empty"};
  return std::nullopt;
}

pb::FinishReason to_proto(FinishReason r) {
  switch (r) {
    case FinishReason::kNone: return pb::FINISH_REASON_UNSPECIFIED;
    case FinishReason::kStop: return pb::FINISH_REASON_STOP;
    case FinishReason::kLength: return pb::FINISH_REASON_LENGTH;
    default: return pb::FINISH_REASON_ABORT;
  }
}

pb::GenerateResponse to_proto(const RequestOutput& out, const std::string& request_id) {
  pb::GenerateResponse msg;
  msg.set_request_id(request_id);
  for (const SequenceDelta& d : out.sequences) {
    pb::SequenceOutput* s = msg.add_outputs();
    s->set_index(d.index);
    s->mutable_token_ids()->Add(d.token_ids.begin(), d.token_ids.end());
    s->set_text(d.text);
    for (size_t i = 0; i < d.logprobs.size(); ++i) {
      pb::TokenLogprob* lp = s->add_logprobs();
      lp->set_token_id(d.token_ids[i]);
      lp->set_logprob(d.logprobs[i].logprob);
      for (const auto& [id, value] : d.logprobs[i].top) {
        pb::TopLogprob* t = lp->add_top_logprobs();
        t->set_token_id(id);
        t->set_logprob(value);
      }
    }
    s->set_finish_reason(to_proto(d.finish_reason));
  }
  msg.set_finished(out.finished);
  if (out.finished) {
    msg.mutable_usage()->set_prompt_tokens(out.usage.prompt_tokens);
    msg.mutable_usage()->set_completion_tokens(out.usage.completion_tokens);
    msg.mutable_usage()->set_cached_prompt_tokens(out.usage.cached_prompt_tokens);
  }
  return msg;
}

}  // namespace sy::server
