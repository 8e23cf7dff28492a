// GenerationRequest <-> switchyard.v1 protobuf messages (gateway -> gRPC -> server and back).
// Pure functions; upstream_grpc.cpp does the calls.
#pragma once

#include <functional>
#include <string>

#include "server/gateway/generation_events.h"
#include "server/gateway/openai_request.h"
#include "switchyard/v1/inference.pb.h"

namespace sy::gateway {

namespace pb = ::switchyard::v1;

void fill_sampling(const SamplingParams& params, pb::SamplingParams& out);
// Completions: one GenerateRequest per prompt.
pb::GenerateRequest to_generate_request(const GenerationRequest& request, size_t prompt_index,
                                        const std::string& request_id);
pb::ChatRequest to_chat_request(const GenerationRequest& request, const std::string& request_id);

// OpenAI's finish_reason for the proto enum; empty while the sequence runs.
std::string finish_reason_name(pb::FinishReason reason);

// One streamed message -> one event; `token_text` spells token ids for logprobs.
GenerationEvent to_event(const pb::GenerateResponse& response,
                         const std::function<std::string(int32_t)>& token_text);

}  // namespace sy::gateway
