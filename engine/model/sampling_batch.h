// SamplingBatch: one step's sampling inputs in kernels/sampling.h form, and SampledBatch, what
// sampling gives back. Position: scheduler -> runner (logits) -> [sampling] -> postprocess.
// The serving sampler (engine/serving/sampler.h) builds a SamplingBatch from its sequences;
// the tokens are then drawn where the logits are: on the host (sample_on_host), or on the
// device by an executor that samples there (ModelExecutor::forward_and_sample), which copies
// only these arrays up and the ids/logprobs back. Both run the kernels/sampling.h algorithm
// with the same Philox draws, so a seeded row's token does not depend on the batch either way.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/sampling.h"

namespace sy {

struct SamplingBatch {
  std::vector<SamplingRowParams> params;  // [rows]; row r samples logits row r
  // Tokens each row has seen, ragged as in SampleArgs: row r owns entries
  // [penalty_offsets[r], penalty_offsets[r + 1]) of penalty_token_ids / penalty_output_counts.
  std::vector<int32_t> penalty_offsets{0};
  std::vector<int32_t> penalty_token_ids;
  std::vector<int32_t> penalty_output_counts;
  // Token ids whose logits become -inf before sampling (EOS and stop tokens while a sequence
  // is below min_tokens), ragged the same way; ids are within [0, vocab).
  std::vector<int32_t> mask_offsets{0};
  std::vector<int32_t> mask_token_ids;
  // -1: no logprobs; N >= 0: every row gets its sampled token's logprob and the top N.
  int32_t num_top_logprobs = -1;

  int32_t num_rows() const { return static_cast<int32_t>(params.size()); }
};

struct SampledBatch {
  std::vector<int32_t> token_ids;   // [rows]
  std::vector<float> logprobs;      // [rows]; empty without logprobs
  std::vector<int32_t> top_ids;     // [rows, num_top_logprobs]; -1 past the vocabulary
  std::vector<float> top_logprobs;  // [rows, num_top_logprobs]
};

// Host sampling of fp32 logits [rows, vocab_size]: masks applied in place, then cpu::sample.
// Throws std::invalid_argument when the logits or the ragged arrays do not fit `sampling`.
void sample_on_host(const SamplingBatch& sampling, std::vector<float>& logits, int32_t vocab_size,
                    SampledBatch& out);

// Checks the ragged arrays of `sampling` (offsets from 0, non-decreasing, matching sizes);
// throws std::invalid_argument naming the array that is wrong.
void validate_sampling_batch(const SamplingBatch& sampling);

}  // namespace sy
