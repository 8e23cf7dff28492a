// SamplingParams: how one request wants its tokens chosen and when it stops.
// Position in the flow: [request] -> scheduler -> runner -> sampler (uses these per row).
// Ranges are checked by validate_sampling_params (request_validation.h) before a request
// reaches the engine; the engine trusts them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sy {

struct SamplingParams {
  int32_t n = 1;                  // sequences generated from the prompt
  int32_t max_tokens = 0;         // output tokens per sequence; 0: up to max_model_len
  int32_t min_tokens = 0;         // EOS and stop tokens are masked until this many are out
  float temperature = 1.0f;       // 0: greedy
  int32_t top_k = -1;             // -1 or 0: off
  float top_p = 1.0f;             // (0, 1]
  float min_p = 0.0f;             // [0, 1]
  float repetition_penalty = 1.0f;  // (0, 2]; 1: off
  float presence_penalty = 0.0f;    // [-2, 2]
  float frequency_penalty = 0.0f;   // [-2, 2]
  std::optional<uint64_t> seed;     // unset: drawn at submission
  std::vector<std::string> stop;          // stop strings, excluded from the text
  std::vector<int32_t> stop_token_ids;    // stop tokens, in addition to EOS
  bool ignore_eos = false;
  bool skip_special_tokens = true;  // in the text deltas
  int32_t logprobs = -1;            // -1: none; 0: the sampled token's; N: plus the top N

  bool uses_penalties() const {
    return repetition_penalty != 1.0f || presence_penalty != 0.0f || frequency_penalty != 0.0f;
  }
};

}  // namespace sy
