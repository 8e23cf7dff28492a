// sy::cuda::sample against the CPU sampler (sy::cpu::sample) on the same logits, parameters
// and seeds: greedy, temperature, top-k, top-p, min-p, penalties and logprobs. The draw uses
// the same Philox uniform and the same canonical order, so the sampled ids must agree.
// Label gpu; skips with "skipped: no CUDA device".
#include <algorithm>
#include <numeric>
#include <random>

#include "kernels/sampling.h"
#include "tests/unit/gpu_test_util.h"

namespace sy::test {
namespace {

class GpuSampling : public ::testing::Test {
 protected:
  void SetUp() override { SY_REQUIRE_CUDA_DEVICE(); }
  std::mt19937 rng{99};
};

TEST_F(GpuSampling, MatchesCpuSamplerRowByRow) {
  for (int32_t vocab : {7, 1000, 50257}) {
    const int32_t rows = 48;
    std::vector<float> logits(size_t(rows) * vocab);
    std::normal_distribution<float> normal(0.0f, 3.0f);
    for (auto& l : logits) l = normal(rng);
    for (int32_t i = 0; i < vocab; i += 5) logits[i] = logits[0];  // exact ties in row 0
    std::vector<SamplingRowParams> params(rows);
    std::vector<int32_t> pen_offsets(rows + 1, 0), pen_ids, pen_counts;
    for (int32_t r = 0; r < rows; ++r) {
      SamplingRowParams& p = params[size_t(r)];
      p.seed = 1000 + r;
      p.rng_counter = uint64_t(r) * 7;
      switch (r % 8) {
        case 0: p.temperature = 0.0f; break;
        case 1: p.temperature = 0.7f; break;
        case 2: p.top_k = 5; break;
        case 3: p.top_p = 0.9f; p.temperature = 1.3f; break;
        case 4: p.min_p = 0.05f; break;
        case 5: p.top_k = 50; p.top_p = 0.8f; p.min_p = 0.01f; break;
        case 6: p.repetition_penalty = 1.3f; p.frequency_penalty = 0.5f; p.presence_penalty = 0.25f; break;
        case 7: p.temperature = 0.0f; p.repetition_penalty = 2.0f; break;
      }
      // Up to 20 distinct tokens per row; count 0 = seen only in the prompt.
      std::vector<int32_t> seen(static_cast<size_t>(vocab));
      std::iota(seen.begin(), seen.end(), 0);
      std::shuffle(seen.begin(), seen.end(), rng);
      for (int32_t j = 0; j < std::min(vocab, 20); ++j) {
        pen_ids.push_back(seen[size_t(j)]);
        pen_counts.push_back(j % 3);
      }
      pen_offsets[size_t(r) + 1] = int32_t(pen_ids.size());
    }
    const int32_t top_n = 5;
    DeviceMem d_logits(logits), d_params(params), d_off(pen_offsets), d_pid(pen_ids), d_pcount(pen_counts),
        d_ids(size_t(rows) * 4), d_lp(size_t(rows) * 4), d_top_ids(size_t(rows) * top_n * 4),
        d_top_lp(size_t(rows) * top_n * 4);
    SampleArgs a;
    a.logits = d_logits.as<float>();
    a.num_rows = rows;
    a.vocab_size = vocab;
    a.params = d_params.as<SamplingRowParams>();
    a.penalty_offsets = d_off.as<int32_t>();
    a.penalty_token_ids = d_pid.as<int32_t>();
    a.penalty_output_counts = d_pcount.as<int32_t>();
    a.sampled_ids = d_ids.as<int32_t>();
    a.sampled_logprobs = d_lp.as<float>();
    a.num_top_logprobs = top_n;
    a.top_ids = d_top_ids.as<int32_t>();
    a.top_logprobs = d_top_lp.as<float>();
    cuda::sample(a, nullptr);
    sync_ok("sample");

    std::vector<int32_t> ids(rows), top_ids(size_t(rows) * top_n);
    std::vector<float> lp(rows), top_lp(size_t(rows) * top_n);
    a.logits = logits.data();
    a.params = params.data();
    a.penalty_offsets = pen_offsets.data();
    a.penalty_token_ids = pen_ids.data();
    a.penalty_output_counts = pen_counts.data();
    a.sampled_ids = ids.data();
    a.sampled_logprobs = lp.data();
    a.top_ids = top_ids.data();
    a.top_logprobs = top_lp.data();
    cpu::sample(a);

    const std::string what = "vocab " + std::to_string(vocab);
    EXPECT_EQ(d_ids.download<int32_t>(), ids) << what;
    EXPECT_EQ(d_top_ids.download<int32_t>(), top_ids) << what;
    const std::vector<float> got_lp = d_lp.download<float>(), got_top = d_top_lp.download<float>();
    for (size_t i = 0; i < lp.size(); ++i) EXPECT_NEAR(got_lp[i], lp[i], 1e-4f) << what << " row " << i;
    for (size_t i = 0; i < top_lp.size(); ++i) EXPECT_NEAR(got_top[i], top_lp[i], 1e-4f) << what << " top " << i;
  }
}

}  // namespace
}  // namespace sy::test
