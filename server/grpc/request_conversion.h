// Protobuf <-> engine types for the gRPC service: sampling parameters, validation that names
// the offending field, chat prompts, engine outputs as GenerateResponse messages.
// Position: client -> InferenceService -> [conversion] -> engine -> [conversion] -> client.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "engine/serving/request.h"
#include "engine/serving/request_validation.h"
#include "server/grpc/served_model.h"
#include "switchyard/v1/inference.pb.h"

namespace sy::server {

namespace pb = ::switchyard::v1;

// Empty or the served id; otherwise a FieldError on "model".
std::optional<FieldError> check_model_name(const ServedModel& m, const std::string& requested);

// Proto sampling params -> engine params (defaults for unset fields), validated.
std::optional<FieldError> convert_sampling(const pb::SamplingParams& in, const ServedModel& m,
                                           SamplingParams& out);

// Cheap checks of a Generate request that need no tokenizer.
std::optional<FieldError> check_generate_request(const pb::GenerateRequest& r, const ServedModel& m);
// Prompt token ids of a checked Generate request (tokenizes a text prompt).
std::optional<FieldError> generate_prompt_tokens(const pb::GenerateRequest& r, const ServedModel& m,
                                                 std::vector<int32_t>& ids);

std::optional<FieldError> check_chat_request(const pb::ChatRequest& r, const ServedModel& m);
// Renders the chat template and tokenizes it. Message contents are tokenized as plain text, so
// special-token text a user typed can never act as a control token; the template's own text
// keeps its special tokens. Template errors come back as a FieldError on "messages".
std::optional<FieldError> chat_prompt_tokens(const pb::ChatRequest& r, const ServedModel& m,
                                             std::vector<int32_t>& ids);

pb::FinishReason to_proto(FinishReason r);
// One engine message -> one GenerateResponse.
pb::GenerateResponse to_proto(const RequestOutput& out, const std::string& request_id);

}  // namespace sy::server
