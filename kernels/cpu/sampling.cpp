// CPU sampler: the reference for kernels/sampling.h (rows are independent; one thread each).
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "kernels/sampling.h"

namespace sy::cpu {
namespace {

void apply_penalties(const SampleArgs& a, int32_t row, const SamplingRowParams& p, float* x) {
  if (!a.penalty_offsets) return;
  const bool repetition = p.repetition_penalty != 1.0f;
  const bool additive = p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f;
  if (!repetition && !additive) return;
  for (int32_t i = a.penalty_offsets[row]; i < a.penalty_offsets[row + 1]; ++i) {
    const int32_t t = a.penalty_token_ids[i];
    if (t < 0 || t >= a.vocab_size) continue;
    const int32_t count = a.penalty_output_counts[i];
    if (repetition) x[t] = x[t] > 0 ? x[t] / p.repetition_penalty : x[t] * p.repetition_penalty;
    if (count > 0) x[t] -= p.frequency_penalty * static_cast<float>(count) + p.presence_penalty;
  }
}

int32_t argmax(const float* x, int32_t n) {
  int32_t best = 0;
  for (int32_t i = 1; i < n; ++i)
    if (x[i] > x[best]) best = i;  // strict: ties keep the lower id
  return best;
}

// Descending value, ties by ascending id: the canonical order of filters and the draw.
struct ByProbDesc {
  const float* p;
  bool operator()(int32_t a, int32_t b) const { return p[a] > p[b] || (p[a] == p[b] && a < b); }
};

int32_t sample_row(const SamplingRowParams& p, float* x, int32_t vocab) {
  if (p.temperature == 0.0f) return argmax(x, vocab);

  // Softmax of x / T in fp32, max subtracted.
  const float inv_t = 1.0f / p.temperature;
  float max_x = -std::numeric_limits<float>::infinity();
  for (int32_t i = 0; i < vocab; ++i) max_x = std::max(max_x, x[i]);
  double sum = 0;
  for (int32_t i = 0; i < vocab; ++i) {
    x[i] = std::exp((x[i] - max_x) * inv_t);
    sum += x[i];
  }
  const float inv_sum = static_cast<float>(1.0 / sum);
  for (int32_t i = 0; i < vocab; ++i) x[i] *= inv_sum;

  // Candidates sorted by probability; top-k limits how many are sorted at all.
  const int32_t k = (p.top_k > 0 && p.top_k < vocab) ? p.top_k : vocab;
  std::vector<int32_t> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + k, order.end(), ByProbDesc{x});
  int32_t kept = k;
  if (p.top_p < 1.0f) {
    double mass = 0;
    for (int32_t i = 0; i < kept; ++i) {
      mass += x[order[i]];
      if (mass >= p.top_p) {
        kept = i + 1;
        break;
      }
    }
  }
  if (p.min_p > 0.0f) {
    const float threshold = p.min_p * x[order[0]];
    int32_t n = 1;  // the most likely token always survives
    while (n < kept && x[order[n]] >= threshold) ++n;
    kept = n;
  }

  double kept_mass = 0;
  for (int32_t i = 0; i < kept; ++i) kept_mass += x[order[i]];
  const double target = philox_uniform(p.seed, p.rng_counter) * kept_mass;
  double cum = 0;
  for (int32_t i = 0; i < kept; ++i) {
    cum += x[order[i]];
    if (target < cum) return order[i];
  }
  return order[kept - 1];  // rounding left target at the very top of the mass
}

void write_logprobs(const SampleArgs& a, int32_t row, const float* raw, int32_t sampled,
                    std::vector<float>& work) {
  const int32_t vocab = a.vocab_size;
  float max_x = -std::numeric_limits<float>::infinity();
  for (int32_t i = 0; i < vocab; ++i) max_x = std::max(max_x, raw[i]);
  double sum = 0;
  for (int32_t i = 0; i < vocab; ++i) sum += std::exp(static_cast<double>(raw[i] - max_x));
  const float log_z = max_x + static_cast<float>(std::log(sum));
  work.resize(vocab);
  for (int32_t i = 0; i < vocab; ++i) work[i] = raw[i] - log_z;
  a.sampled_logprobs[row] = work[sampled];
  const int32_t n = std::min(a.num_top_logprobs, vocab);
  if (n <= 0) return;
  std::vector<int32_t> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + n, order.end(), ByProbDesc{work.data()});
  for (int32_t i = 0; i < a.num_top_logprobs; ++i) {
    const bool have = i < n;
    a.top_ids[int64_t(row) * a.num_top_logprobs + i] = have ? order[i] : -1;
    a.top_logprobs[int64_t(row) * a.num_top_logprobs + i] =
        have ? work[order[i]] : -std::numeric_limits<float>::infinity();
  }
}

}  // namespace

void sample(const SampleArgs& a) {
#pragma omp parallel for schedule(dynamic) if (a.num_rows > 1)
  for (int32_t row = 0; row < a.num_rows; ++row) {
    const float* raw = a.logits + int64_t(row) * a.vocab_size;
    const SamplingRowParams& p = a.params[row];
    std::vector<float> x(raw, raw + a.vocab_size);  // working copy: penalties, probabilities
    apply_penalties(a, row, p, x.data());
    const int32_t id = sample_row(p, x.data(), a.vocab_size);
    a.sampled_ids[row] = id;
    if (a.sampled_logprobs) {
      std::vector<float> work;
      write_logprobs(a, row, raw, id, work);
    }
  }
}

}  // namespace sy::cpu
