#include "engine/serving/sampler.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <unordered_map>

namespace sy {

SamplingBatch Sampler::prepare(const std::vector<SamplerRow>& rows, int32_t vocab_size) const {
  SamplingBatch b;
  b.params.resize(rows.size());
  for (size_t r = 0; r < rows.size(); ++r) {
    const SamplingParams& sp = *rows[r].params;
    const Sequence& seq = *rows[r].seq;
    SamplingRowParams& p = b.params[r];
    p.temperature = sp.temperature;
    p.top_k = sp.top_k;
    p.top_p = sp.top_p;
    p.min_p = sp.min_p;
    p.repetition_penalty = sp.repetition_penalty;
    p.presence_penalty = sp.presence_penalty;
    p.frequency_penalty = sp.frequency_penalty;
    p.seed = rows[r].seed;
    p.rng_counter = sampler_rng_counter(seq);
    if (rows[r].masked_token_ids)
      for (int32_t id : *rows[r].masked_token_ids)
        if (id >= 0 && id < vocab_size) b.mask_token_ids.push_back(id);
    b.mask_offsets.push_back(static_cast<int32_t>(b.mask_token_ids.size()));
    if (sp.uses_penalties()) {
      // Output counts per distinct token; prompt-only tokens count 0 (repetition penalty only).
      std::unordered_map<int32_t, int32_t> counts;
      for (int32_t i = 0; i < seq.num_tokens(); ++i) {
        int32_t& c = counts[seq.token_ids[i]];
        if (i >= seq.num_prompt_tokens) ++c;
      }
      for (auto [id, c] : counts) {
        b.penalty_token_ids.push_back(id);
        b.penalty_output_counts.push_back(c);
      }
    }
    b.penalty_offsets.push_back(static_cast<int32_t>(b.penalty_token_ids.size()));
    b.num_top_logprobs = std::max(b.num_top_logprobs, sp.logprobs);
  }
  return b;
}

std::vector<SampledToken> Sampler::collect(const std::vector<SamplerRow>& rows, const SampledBatch& sampled) const {
  const size_t num_rows = rows.size();
  if (sampled.token_ids.size() != num_rows)
    throw std::runtime_error("Sampler: " + std::to_string(sampled.token_ids.size()) + " sampled tokens for " +
                             std::to_string(num_rows) + " rows");
  const size_t num_top = num_rows ? sampled.top_ids.size() / num_rows : 0;
  std::vector<SampledToken> out(num_rows);
  for (size_t r = 0; r < num_rows; ++r) {
    out[r].token_id = sampled.token_ids[r];
    const int32_t want = rows[r].params->logprobs;
    if (want < 0) continue;
    if (sampled.logprobs.size() != num_rows)
      throw std::runtime_error("Sampler: row " + std::to_string(r) + " asked for logprobs, none came back");
    out[r].logprob = sampled.logprobs[r];
    for (size_t i = 0; i < size_t(want) && i < num_top; ++i) {
      const int32_t id = sampled.top_ids[r * num_top + i];
      if (id >= 0) out[r].top.emplace_back(id, sampled.top_logprobs[r * num_top + i]);
    }
  }
  return out;
}

std::vector<SampledToken> Sampler::sample(const std::vector<SamplerRow>& rows, std::vector<float>& logits,
                                          int32_t vocab_size) const {
  const SamplingBatch batch = prepare(rows, vocab_size);
  SampledBatch sampled;
  sample_on_host(batch, logits, vocab_size, sampled);
  return collect(rows, sampled);
}

}  // namespace sy
