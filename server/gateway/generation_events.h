// What the gateway receives from one upstream generation (gRPC server -> here -> OpenAI JSON).
// A protocol-neutral view of the server's stream, so the OpenAI shaping in openai_response.h is
// a pure function of it and can be tested without a server. upstream_client.cpp fills these
// from the switchyard.v1 protobuf messages.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sy::gateway {

struct TopLogprob {
  std::string token;  // raw token bytes; may be part of a multi-byte UTF-8 character
  double logprob = 0.0;
};

// One sampled position: the chosen token and the most likely alternatives.
struct TokenLogprob {
  std::string token;  // raw token bytes
  double logprob = 0.0;
  std::vector<TopLogprob> top;
};

// New output of one choice (0 <= index < n) since the previous event.
struct ChoiceDelta {
  int64_t index = 0;
  std::string text;  // complete UTF-8 text (the server holds back partial characters)
  std::vector<TokenLogprob> logprobs;
  std::string finish_reason;  // OpenAI vocabulary ("stop", "length"); empty while running
};

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
};

struct GenerationEvent {
  std::vector<ChoiceDelta> choices;
  std::optional<Usage> usage;  // set on the last event of a generation
};

}  // namespace sy::gateway
