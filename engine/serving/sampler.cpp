#include "engine/serving/sampler.h"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "kernels/sampling.h"

namespace sy {

std::vector<SampledToken> Sampler::sample(const std::vector<SamplerRow>& rows,
                                          std::vector<float>& logits, int32_t vocab_size) const {
  const size_t num_rows = rows.size();
  if (logits.size() < num_rows * static_cast<size_t>(vocab_size))
    throw std::runtime_error("Sampler: logits hold " + std::to_string(logits.size()) +
                             " values, need " + std::to_string(num_rows) + " rows of " +
                             std::to_string(vocab_size));
  std::vector<SamplingRowParams> params(num_rows);
  std::vector<int32_t> pen_offsets{0}, pen_ids, pen_counts;
  int32_t max_top = -1;
  for (size_t r = 0; r < num_rows; ++r) {
    const SamplingParams& sp = *rows[r].params;
    const Sequence& seq = *rows[r].seq;
    SamplingRowParams& p = params[r];
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
        if (id >= 0 && id < vocab_size)
          logits[r * static_cast<size_t>(vocab_size) + id] = -std::numeric_limits<float>::infinity();
    if (sp.uses_penalties()) {
      // Output counts per distinct token; prompt-only tokens count 0 (repetition penalty only).
      std::unordered_map<int32_t, int32_t> counts;
      for (int32_t i = 0; i < seq.num_tokens(); ++i) {
        int32_t& c = counts[seq.token_ids[i]];
        if (i >= seq.num_prompt_tokens) ++c;
      }
      for (auto [id, c] : counts) {
        pen_ids.push_back(id);
        pen_counts.push_back(c);
      }
    }
    pen_offsets.push_back(static_cast<int32_t>(pen_ids.size()));
    max_top = std::max(max_top, sp.logprobs);
  }

  std::vector<int32_t> ids(num_rows);
  const int32_t num_top = std::max(max_top, 0);
  std::vector<float> sampled_lp(num_rows);
  std::vector<int32_t> top_ids(num_rows * num_top);
  std::vector<float> top_lp(num_rows * num_top);
  SampleArgs a;
  a.logits = logits.data();
  a.num_rows = static_cast<int32_t>(num_rows);
  a.vocab_size = vocab_size;
  a.params = params.data();
  a.penalty_offsets = pen_offsets.data();
  a.penalty_token_ids = pen_ids.data();
  a.penalty_output_counts = pen_counts.data();
  a.sampled_ids = ids.data();
  if (max_top >= 0) {
    a.sampled_logprobs = sampled_lp.data();
    a.num_top_logprobs = num_top;
    a.top_ids = top_ids.data();
    a.top_logprobs = top_lp.data();
  }
  cpu::sample(a);

  std::vector<SampledToken> out(num_rows);
  for (size_t r = 0; r < num_rows; ++r) {
    out[r].token_id = ids[r];
    const int32_t want = rows[r].params->logprobs;
    if (want < 0) continue;
    out[r].logprob = sampled_lp[r];
    for (int32_t i = 0; i < want && i < num_top; ++i) {
      const int32_t id = top_ids[r * num_top + i];
      if (id >= 0) out[r].top.emplace_back(id, top_lp[r * num_top + i]);
    }
  }
  return out;
}

}  // namespace sy
