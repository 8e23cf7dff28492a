// gRPC status from the server -> OpenAI error (server -> here -> HTTP response).
// The table, in one place:
//   INVALID_ARGUMENT, OUT_OF_RANGE, FAILED_PRECONDITION -> 400 invalid_request_error, param named;
//                        a prompt beyond the context window gets code context_length_exceeded
//   NOT_FOUND           -> 404 (unknown model)
//   UNAUTHENTICATED     -> 401, PERMISSION_DENIED -> 403
//   RESOURCE_EXHAUSTED  -> 429 + Retry-After (the server's waiting queue is full)
//   UNAVAILABLE, ABORTED, CANCELLED (by the server, e.g. draining) -> 503 + Retry-After
//   DEADLINE_EXCEEDED   -> 504
//   UNIMPLEMENTED       -> 501
//   INTERNAL, UNKNOWN, DATA_LOSS -> 500
#pragma once

#include <string>

#include <grpcpp/support/status_code_enum.h>

#include "server/gateway/api_error.h"
#include "server/gateway/openai_request.h"

namespace sy::gateway {

// Seconds a client should wait before retrying after 429/503.
inline constexpr int kRetryAfterSeconds = 1;

ApiError api_error_from_status(grpc::StatusCode code, const std::string& message,
                               Endpoint endpoint);

// The request field a server message names, translated to the OpenAI parameter name. The server
// starts INVALID_ARGUMENT messages with the proto field path ("sampling.top_p: must be in (0, 1]").
std::optional<std::string> openai_param_from_message(const std::string& message,
                                                     Endpoint endpoint);

// Whether an INVALID_ARGUMENT message reports a prompt (+ max_tokens) beyond the context window
// (the server's max_model_len).
bool is_context_length_message(const std::string& message);

}  // namespace sy::gateway
