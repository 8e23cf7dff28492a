// Sampler glue: the sequences that sample this step -> kernels/sampling.h rows -> tokens.
// Position in the flow: request -> scheduler -> runner (logits) -> [sampler] -> postprocess.
// Builds each row's parameters, masked ids and penalty token counts from its sequence, and the
// Philox counter from (sequence index within the request, output position), so that a seeded
// sequence draws the same numbers whatever else is in the batch and across preemptions.
// prepare() gives the step's SamplingBatch (engine/model/sampling_batch.h); the draw happens
// where the logits are — sample_on_host, or the executor's device (forward_and_sample) — and
// collect() turns the result into per-row tokens.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "engine/model/sampling_batch.h"
#include "engine/serving/sampling_params.h"
#include "engine/serving/sequence.h"

namespace sy {

struct SamplerRow {
  const Sequence* seq = nullptr;
  const SamplingParams* params = nullptr;
  uint64_t seed = 0;  // the request's seed (given or drawn at submission)
  // Token ids whose logits are set to -inf before sampling (EOS and stop tokens while the
  // sequence is below min_tokens); null for none.
  const std::vector<int32_t>* masked_token_ids = nullptr;
};

struct SampledToken {
  int32_t token_id = 0;
  float logprob = 0.0f;                          // valid when params->logprobs >= 0
  std::vector<std::pair<int32_t, float>> top;    // params->logprobs entries, descending
};

class Sampler {
 public:
  // The step's sampling inputs: row i for rows[i] (logits row i).
  SamplingBatch prepare(const std::vector<SamplerRow>& rows, int32_t vocab_size) const;
  // Per-row tokens from what sampling gave back; each row keeps the top-N it asked for.
  std::vector<SampledToken> collect(const std::vector<SamplerRow>& rows, const SampledBatch& sampled) const;
  // prepare + sample_on_host + collect. logits: [rows.size(), vocab_size] fp32, row i for
  // rows[i]; masked ids are written in place.
  std::vector<SampledToken> sample(const std::vector<SamplerRow>& rows, std::vector<float>& logits,
                                   int32_t vocab_size) const;
};

// Philox counter of a sequence's next draw.
inline uint64_t sampler_rng_counter(const Sequence& seq) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(seq.index)) << 32) |
         static_cast<uint32_t>(seq.num_output_tokens());
}

}  // namespace sy
