// Sampling: one row of fp32 logits per sequence -> the next token id (+ logprobs).
// Position in the flow: request -> scheduler -> runner (logits) -> [sampler] -> detokenizer.
//
// Per row, in this order (vLLM's order, so parameters mean what users expect):
//   1. penalties   repetition (prompt + output tokens: logit > 0 ? logit / r : logit * r),
//                  frequency and presence (output tokens: logit -= f * count + p * (count > 0))
//   2. greedy      temperature == 0: argmax (ties go to the lower token id); stop here
//   3. temperature logits / T, softmax in fp32 (max subtracted)
//   4. filters     top-k (k largest probabilities; ties to the lower id), then top-p (smallest
//                  prefix of the sorted distribution whose mass reaches p; always >= 1 token),
//                  then min-p (keep p_i >= min_p * max_i p_i)
//   5. draw        inverse CDF over the kept tokens, walked in a fixed order (descending
//                  probability, ties by id), with one uniform number u from Philox4x32-10 keyed
//                  by the request's seed and counted by rng_counter. u depends only on
//                  (seed, counter), never on the batch: a seeded request samples the same
//                  tokens whatever runs beside it.
// Logprobs (optional): log_softmax of the raw logits (before penalties and temperature),
// the sampled token's value and the top-N (descending, ties by id).
#pragma once

#include <cstdint>

#include "kernels/dtype.h"

namespace sy {

struct SamplingRowParams {
  float temperature = 1.0f;         // 0: greedy
  int32_t top_k = -1;               // -1 or 0: off
  float top_p = 1.0f;               // 1: off
  float min_p = 0.0f;               // 0: off
  float repetition_penalty = 1.0f;  // 1: off
  float presence_penalty = 0.0f;    // 0: off
  float frequency_penalty = 0.0f;   // 0: off
  uint64_t seed = 0;                // Philox key
  uint64_t rng_counter = 0;         // Philox counter: distinct per (sequence, output position)
};

struct SampleArgs {
  const float* logits = nullptr;  // [num_rows, vocab_size] fp32
  int32_t num_rows = 0;
  int32_t vocab_size = 0;
  const SamplingRowParams* params = nullptr;  // [num_rows]
  // Tokens each row has seen, for penalties, as a ragged array: row r owns entries
  // [penalty_offsets[r], penalty_offsets[r+1]) of penalty_token_ids / penalty_output_counts.
  // Each token appears once per row; its output count is 0 when it only occurs in the prompt.
  // All three may be null when no row uses penalties.
  const int32_t* penalty_offsets = nullptr;        // [num_rows + 1]
  const int32_t* penalty_token_ids = nullptr;      // [total]
  const int32_t* penalty_output_counts = nullptr;  // [total]
  int32_t* sampled_ids = nullptr;  // [num_rows] out
  // Logprobs: null to skip. sampled_logprobs [num_rows]; top_ids / top_logprobs
  // [num_rows, num_top_logprobs] (num_top_logprobs may be 0).
  float* sampled_logprobs = nullptr;
  int32_t num_top_logprobs = 0;
  int32_t* top_ids = nullptr;
  float* top_logprobs = nullptr;
  // Set only when every row has temperature 0 (greedy decoding, the common serving case): a
  // device sampler then skips the probabilities, the per-row sort and its scratch memory.
  // The CPU sampler does not need it; results are the same either way. (A device sampler given
  // the hint treats every row as greedy.)
  bool all_greedy = false;
};

// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3"): counter-based,
// so any (key, counter) pair is one independent draw with no state to carry between steps.
struct Philox4x32 {
  uint32_t v[4];
};
SY_HOST_DEVICE inline Philox4x32 philox4x32_10(uint64_t counter, uint64_t key) {
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32);
  uint32_t c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = uint64_t(0xD2511F53u) * c0;
    const uint64_t p1 = uint64_t(0xCD9E8D57u) * c2;
    const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0;
    const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
    c1 = static_cast<uint32_t>(p1);
    c3 = static_cast<uint32_t>(p0);
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {{c0, c1, c2, c3}};
}

// Uniform in [0, 1) with 53 random bits, from one Philox draw.
SY_HOST_DEVICE inline double philox_uniform(uint64_t seed, uint64_t counter) {
  const Philox4x32 r = philox4x32_10(counter, seed);
  const uint64_t bits = (uint64_t(r.v[0]) << 21) ^ uint64_t(r.v[1] >> 11);
  return static_cast<double>(bits & ((uint64_t(1) << 53) - 1)) * (1.0 / 9007199254740992.0);
}

// Masking before sampling: in row r, the logits of ids [mask_offsets[r], mask_offsets[r+1]) of
// mask_token_ids become -inf (EOS and stop tokens while a sequence is below min_tokens). On the
// host the serving sampler writes them directly; a device sampler runs this op first.
struct LogitMaskArgs {
  float* logits = nullptr;  // [num_rows, vocab_size] fp32, in place
  int32_t num_rows = 0;
  int32_t vocab_size = 0;
  const int32_t* mask_offsets = nullptr;    // [num_rows + 1]
  const int32_t* mask_token_ids = nullptr;  // [total]; ids outside [0, vocab_size) are skipped
};

namespace cpu {
void sample(const SampleArgs& a);
}
namespace cuda {
void sample(const SampleArgs& a, void* stream);
void mask_logits(const LogitMaskArgs& a, void* stream);
}

}  // namespace sy
