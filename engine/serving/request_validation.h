// Request validation: every out-of-range field of a request, named, before it costs anything.
// Position in the flow: client -> [validation] -> tokenize -> engine. The gRPC service maps a
// FieldError to INVALID_ARGUMENT; the engine assumes validated input.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/serving/sampling_params.h"

namespace sy {

struct RequestLimits {
  int32_t max_n = 16;
  int32_t max_logprobs = 20;
  int32_t max_stop_strings = 16;
  int32_t max_stop_string_bytes = 256;
  int32_t max_stop_token_ids = 64;
};

struct FieldError {
  std::string field;    // e.g. "sampling.top_p"
  std::string message;  // what is wrong, with the value
  std::string to_string() const { return field + ": " + message; }
};

// Ranges of the sampling fields (field names are prefixed with `prefix`).
std::optional<FieldError> validate_sampling_params(const SamplingParams& p,
                                                   const RequestLimits& limits,
                                                   const std::string& prefix = "sampling.");

// Token ids in [0, vocab_size); a non-empty list.
std::optional<FieldError> validate_token_ids(const std::vector<int32_t>& ids, int32_t vocab_size,
                                             const std::string& field);

bool is_valid_utf8(std::string_view s);

}  // namespace sy
