// Runs one sequence through a ModelRunner without the scheduler: its KV blocks are simply
// 0, 1, 2, ... Used by switchyard-cli and the parity tests; the server uses engine/serving.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/model/model_runner.h"

namespace sy {

// KV geometry big enough for one sequence of max_len tokens.
KvCacheGeometry single_sequence_kv(int max_len, int block_size = 16);

class SingleSequence {
 public:
  explicit SingleSequence(ModelRunner& runner) : runner_(runner) {}
  // Appends tokens (a prefill chunk or one decode token) and returns logits [rows, vocab] for
  // every appended position (all_positions) or for the last one only.
  std::vector<float> append(const std::vector<int32_t>& tokens, bool all_positions = false);
  int32_t length() const { return length_; }

 private:
  ModelRunner& runner_;
  int32_t length_ = 0;
};

// Index of the largest logit; ties go to the lowest index (as torch.argmax).
int32_t argmax(const float* logits, int64_t n);

// Greedy continuation of `prompt`: max_new_tokens new tokens, stopping early after a token in
// `stop_ids` (which is included in the result).
std::vector<int32_t> greedy_generate(ModelRunner& runner, const std::vector<int32_t>& prompt, int max_new_tokens,
                                     const std::vector<int>& stop_ids = {});

}  // namespace sy
