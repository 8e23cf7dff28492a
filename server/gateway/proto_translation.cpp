// Protobuf translation for the gateway's upstream calls.
#include "server/gateway/proto_translation.h"

namespace sy::gateway {

void fill_sampling(const SamplingParams& p, pb::SamplingParams& out) {
  // openai_request.cpp bounds the int32 fields, so the narrowing casts are exact.
  out.set_n(static_cast<int32_t>(p.n));
  if (p.max_tokens) out.set_max_tokens(static_cast<int32_t>(*p.max_tokens));
  if (p.temperature) out.set_temperature(static_cast<float>(*p.temperature));
  if (p.top_k) out.set_top_k(static_cast<int32_t>(*p.top_k));
  if (p.top_p) out.set_top_p(static_cast<float>(*p.top_p));
  if (p.min_p) out.set_min_p(static_cast<float>(*p.min_p));
  if (p.repetition_penalty) out.set_repetition_penalty(static_cast<float>(*p.repetition_penalty));
  if (p.presence_penalty) out.set_presence_penalty(static_cast<float>(*p.presence_penalty));
  if (p.frequency_penalty) out.set_frequency_penalty(static_cast<float>(*p.frequency_penalty));
  // OpenAI seeds are signed 64-bit; the server's are unsigned: keep the bit pattern.
  if (p.seed) out.set_seed(static_cast<uint64_t>(*p.seed));
  for (const std::string& stop : p.stop) out.add_stop(stop);
  if (p.logprobs) out.set_logprobs(static_cast<int32_t>(p.top_logprobs));
}

pb::GenerateRequest to_generate_request(const GenerationRequest& request, size_t prompt_index,
                                        const std::string& request_id) {
  pb::GenerateRequest out;
  out.set_model(request.model);
  const Prompt& prompt = request.prompts.at(prompt_index);
  if (prompt.is_token_ids) {
    pb::TokenIds* ids = out.mutable_token_ids();
    for (int64_t id : prompt.token_ids) ids->add_ids(static_cast<int32_t>(id));
  } else {
    out.set_text(prompt.text);
    // OpenAI's completions tokenize the prompt as the model's tokenizer is configured (BOS etc.).
    out.set_add_special_tokens(true);
  }
  fill_sampling(request.sampling, *out.mutable_sampling());
  out.set_request_id(request_id);
  return out;
}

pb::ChatRequest to_chat_request(const GenerationRequest& request, const std::string& request_id) {
  pb::ChatRequest out;
  out.set_model(request.model);
  for (const ChatMessage& message : request.messages) {
    pb::ChatMessage* m = out.add_messages();
    m->set_role(message.role);
    m->set_content(message.content);
    if (message.name) m->set_name(*message.name);
    if (message.tool_call_id) m->set_tool_call_id(*message.tool_call_id);
    m->set_tool_calls_json(message.tool_calls_json);
  }
  out.set_tools_json(request.tools_json);
  out.set_template_kwargs_json(request.template_kwargs_json);
  fill_sampling(request.sampling, *out.mutable_sampling());
  out.set_request_id(request_id);
  return out;
}

std::string finish_reason_name(pb::FinishReason reason) {
  switch (reason) {
    case pb::FINISH_REASON_STOP:
      return "stop";
    case pb::FINISH_REASON_LENGTH:
      return "length";
    case pb::FINISH_REASON_ABORT:
      return "abort";
    default:
      return "";
  }
}

GenerationEvent to_event(const pb::GenerateResponse& response,
                         const std::function<std::string(int32_t)>& token_text) {
  GenerationEvent event;
  for (const pb::SequenceOutput& output : response.outputs()) {
    ChoiceDelta delta;
    delta.index = output.index();
    delta.text = output.text();
    delta.finish_reason = finish_reason_name(output.finish_reason());
    for (const pb::TokenLogprob& logprob : output.logprobs()) {
      TokenLogprob token{token_text(logprob.token_id()), logprob.logprob(), {}};
      for (const pb::TopLogprob& alternative : logprob.top_logprobs()) {
        token.top.push_back({token_text(alternative.token_id()), alternative.logprob()});
      }
      delta.logprobs.push_back(std::move(token));
    }
    event.choices.push_back(std::move(delta));
  }
  if (response.finished()) {  // usage is the whole generation's, sent once at the end
    event.usage = Usage{response.usage().prompt_tokens(), response.usage().completion_tokens()};
  }
  return event;
}

}  // namespace sy::gateway
