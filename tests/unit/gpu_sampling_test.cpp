// sy::cuda::sample against the CPU sampler (sy::cpu::sample) on the same logits, parameters
// and seeds: greedy, temperature, top-k, top-p, min-p, penalties and logprobs. The draw uses
// the same Philox uniform and the same canonical order, so the sampled ids must agree.
// Also the engine's device sampling (engine/model/device_sampling.h) through the CUDA backend:
// masks, penalties and logprobs give the host path's tokens, and a seeded row's token does not
// depend on the rows sampled beside it.
// Label gpu; skips with "skipped: no CUDA device".
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "engine/model/device_sampling.h"
#include "kernels/sampling.h"
#include "tests/unit/gpu_test_util.h"

namespace sy::test {
namespace {

// One sampling problem in host memory, and what a sampler made of it.
struct SamplingProblem {
  int32_t rows = 0, vocab = 0, top_n = 0;
  std::vector<float> logits;               // [rows, vocab]
  std::vector<SamplingRowParams> params;   // [rows]
  std::vector<int32_t> pen_offsets, pen_ids, pen_counts;
  bool all_greedy = false;
};
struct SampleResult {
  std::vector<int32_t> ids, top_ids;
  std::vector<float> lp, top_lp;
};

SampleArgs shape_args(const SamplingProblem& pr) {
  SampleArgs a;
  a.num_rows = pr.rows;
  a.vocab_size = pr.vocab;
  a.num_top_logprobs = pr.top_n;
  a.all_greedy = pr.all_greedy;
  return a;
}

SampleResult sample_with_cpu(const SamplingProblem& pr) {
  const size_t rows = size_t(pr.rows), tops = rows * size_t(pr.top_n);
  SampleResult out{std::vector<int32_t>(rows), std::vector<int32_t>(tops), std::vector<float>(rows),
                   std::vector<float>(tops)};
  SampleArgs a = shape_args(pr);
  a.logits = pr.logits.data();
  a.params = pr.params.data();
  a.penalty_offsets = pr.pen_offsets.data();
  a.penalty_token_ids = pr.pen_ids.data();
  a.penalty_output_counts = pr.pen_counts.data();
  a.sampled_ids = out.ids.data();
  a.sampled_logprobs = out.lp.data();
  a.top_ids = out.top_ids.data();
  a.top_logprobs = out.top_lp.data();
  cpu::sample(a);
  return out;
}

SampleResult sample_with_cuda(const SamplingProblem& pr, const char* what) {
  const size_t rows = size_t(pr.rows), tops = rows * size_t(pr.top_n);
  DeviceMem d_logits(pr.logits), d_params(pr.params), d_off(pr.pen_offsets), d_pid(pr.pen_ids),
      d_pcount(pr.pen_counts), d_ids(rows * 4), d_lp(rows * 4), d_top_ids(tops * 4), d_top_lp(tops * 4);
  SampleArgs a = shape_args(pr);
  a.logits = d_logits.as<float>();
  a.params = d_params.as<SamplingRowParams>();
  a.penalty_offsets = d_off.as<int32_t>();
  a.penalty_token_ids = d_pid.as<int32_t>();
  a.penalty_output_counts = d_pcount.as<int32_t>();
  a.sampled_ids = d_ids.as<int32_t>();
  a.sampled_logprobs = d_lp.as<float>();
  a.top_ids = d_top_ids.as<int32_t>();
  a.top_logprobs = d_top_lp.as<float>();
  cuda::sample(a, nullptr);
  sync_ok(what);
  return {d_ids.download<int32_t>(), d_top_ids.download<int32_t>(), d_lp.download<float>(),
          d_top_lp.download<float>()};
}

class GpuSampling : public ::testing::Test {
 protected:
  void SetUp() override { SY_REQUIRE_CUDA_DEVICE(); }
  std::mt19937 rng{99};
};

TEST_F(GpuSampling, MatchesCpuSamplerRowByRow) {
  for (int32_t vocab : {7, 1000, 50257}) {
    SamplingProblem pr;
    pr.rows = 48;
    pr.vocab = vocab;
    pr.top_n = 5;
    const int32_t rows = pr.rows;
    std::vector<float>& logits = pr.logits;
    logits.resize(size_t(rows) * vocab);
    std::normal_distribution<float> normal(0.0f, 3.0f);
    for (auto& l : logits) l = normal(rng);
    for (int32_t i = 0; i < vocab; i += 5) logits[i] = logits[0];  // exact ties in row 0
    pr.params.resize(size_t(rows));
    pr.pen_offsets.assign(size_t(rows) + 1, 0);
    for (int32_t r = 0; r < rows; ++r) {
      SamplingRowParams& p = pr.params[size_t(r)];
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
        pr.pen_ids.push_back(seen[size_t(j)]);
        pr.pen_counts.push_back(j % 3);
      }
      pr.pen_offsets[size_t(r) + 1] = int32_t(pr.pen_ids.size());
    }
    const SampleResult got = sample_with_cuda(pr, "sample");
    const SampleResult want = sample_with_cpu(pr);

    const std::string what = "vocab " + std::to_string(vocab);
    EXPECT_EQ(got.ids, want.ids) << what;
    EXPECT_EQ(got.top_ids, want.top_ids) << what;
    for (size_t i = 0; i < want.lp.size(); ++i) EXPECT_NEAR(got.lp[i], want.lp[i], 1e-4f) << what << " row " << i;
    for (size_t i = 0; i < want.top_lp.size(); ++i)
      EXPECT_NEAR(got.top_lp[i], want.top_lp[i], 1e-4f) << what << " top " << i;
  }
}

// A step's SamplingBatch of `rows` rows with every parameter kind, masks and logprobs.
SamplingBatch mixed_batch(int32_t rows, int32_t vocab, std::mt19937& rng) {
  SamplingBatch s;
  s.params.resize(size_t(rows));
  std::uniform_int_distribution<int32_t> token(0, vocab - 1);
  for (int32_t r = 0; r < rows; ++r) {
    SamplingRowParams& p = s.params[size_t(r)];
    p.seed = 77 + uint64_t(r);
    p.rng_counter = (uint64_t(r % 3) << 32) | uint64_t(r);
    switch (r % 6) {
      case 0: p.temperature = 0.0f; break;
      case 1: p.temperature = 0.8f; p.top_p = 0.9f; break;
      case 2: p.top_k = 8; break;
      case 3: p.min_p = 0.02f; p.repetition_penalty = 1.2f; break;
      case 4: p.frequency_penalty = 0.4f; p.presence_penalty = 0.2f; break;
      case 5: p.temperature = 0.0f; p.repetition_penalty = 1.5f; break;
    }
    const bool penalties = p.repetition_penalty != 1.0f || p.frequency_penalty != 0.0f;
    if (penalties)
      for (int j = 0; j < 12; ++j) {
        const int32_t id = (r * 31 + j * 17) % vocab;  // distinct for vocab > 12 * 17
        s.penalty_token_ids.push_back(id);
        s.penalty_output_counts.push_back(j % 3);
      }
    s.penalty_offsets.push_back(int32_t(s.penalty_token_ids.size()));
    if (r % 2 == 0)
      for (int j = 0; j < 3; ++j) s.mask_token_ids.push_back((r * 7 + j * 101) % vocab);
    s.mask_offsets.push_back(int32_t(s.mask_token_ids.size()));
  }
  s.num_top_logprobs = 4;
  return s;
}

class GpuDeviceSampling : public ::testing::Test {
 protected:
  void SetUp() override {
    SY_REQUIRE_CUDA_DEVICE();
    be_ = make_cuda_backend(0);
    arena_ = std::make_unique<ScratchArena>(*be_);
  }
  void TearDown() override {
    arena_.reset();
    be_.reset();
  }
  // Copies host logits into backend memory (the arena's "test.logits").
  float* upload_logits(const std::vector<float>& logits) {
    float* d = arena_->get<float>("test.logits", logits.size());
    be_->copy_from_host(d, logits.data(), logits.size() * sizeof(float));
    return d;
  }
  std::unique_ptr<Backend> be_;
  std::unique_ptr<ScratchArena> arena_;
  std::mt19937 rng{5};
};

TEST_F(GpuDeviceSampling, GivesTheHostSamplersTokensAndLogprobs) {
  ASSERT_TRUE(be_->supports_sampling());
  for (int32_t vocab : {300, 32000}) {
    const int32_t rows = 30;
    std::vector<float> logits(size_t(rows) * vocab);
    std::normal_distribution<float> normal(0.0f, 2.5f);
    for (auto& l : logits) l = normal(rng);
    const SamplingBatch s = mixed_batch(rows, vocab, rng);
    // Make every greedy row's masked ids its largest logits: the mask must decide the token.
    for (int32_t r = 0; r < rows; r += 6)
      for (int32_t i = s.mask_offsets[r]; i < s.mask_offsets[r + 1]; ++i) logits[size_t(r) * vocab + s.mask_token_ids[i]] = 50.0f;
    float* d_logits = upload_logits(logits);

    SampledBatch host, device;
    std::vector<float> host_logits = logits;
    sample_on_host(s, host_logits, vocab, host);
    sample_on_device(*be_, *arena_, d_logits, vocab, s, device);

    const std::string what = "vocab " + std::to_string(vocab);
    EXPECT_EQ(device.token_ids, host.token_ids) << what;
    EXPECT_EQ(device.top_ids, host.top_ids) << what;
    ASSERT_EQ(device.logprobs.size(), host.logprobs.size());
    for (size_t i = 0; i < host.logprobs.size(); ++i) EXPECT_NEAR(device.logprobs[i], host.logprobs[i], 1e-4f) << what;
    for (size_t i = 0; i < host.top_logprobs.size(); ++i)
      EXPECT_NEAR(device.top_logprobs[i], host.top_logprobs[i], 1e-4f) << what;
    for (int32_t r = 0; r < rows; ++r)
      for (int32_t i = s.mask_offsets[r]; i < s.mask_offsets[r + 1]; ++i)
        EXPECT_NE(device.token_ids[size_t(r)], s.mask_token_ids[i]) << what << " row " << r << " sampled a masked id";

    // The masks were written into the device logits in place, as the host path writes them.
    std::vector<float> after(logits.size());
    be_->copy_to_host(after.data(), d_logits, after.size() * sizeof(float));
    EXPECT_EQ(after, host_logits) << what;
  }
}

TEST_F(GpuDeviceSampling, SeededRowsDoNotDependOnTheBatch) {
  const int32_t vocab = 5000, rows = 24;
  std::vector<float> logits(size_t(rows) * vocab);
  std::normal_distribution<float> normal(0.0f, 1.0f);  // flat: many tokens stay in play
  for (auto& l : logits) l = normal(rng);
  const SamplingBatch batch = mixed_batch(rows, vocab, rng);
  SampledBatch together;
  sample_on_device(*be_, *arena_, upload_logits(logits), vocab, batch, together);
  for (int32_t r = 0; r < rows; ++r) {
    SamplingBatch one;
    one.params = {batch.params[size_t(r)]};
    one.penalty_token_ids.assign(batch.penalty_token_ids.begin() + batch.penalty_offsets[r],
                                 batch.penalty_token_ids.begin() + batch.penalty_offsets[r + 1]);
    one.penalty_output_counts.assign(batch.penalty_output_counts.begin() + batch.penalty_offsets[r],
                                     batch.penalty_output_counts.begin() + batch.penalty_offsets[r + 1]);
    one.penalty_offsets.push_back(int32_t(one.penalty_token_ids.size()));
    one.mask_token_ids.assign(batch.mask_token_ids.begin() + batch.mask_offsets[r],
                              batch.mask_token_ids.begin() + batch.mask_offsets[r + 1]);
    one.mask_offsets.push_back(int32_t(one.mask_token_ids.size()));
    const std::vector<float> row(logits.begin() + size_t(r) * vocab, logits.begin() + size_t(r + 1) * vocab);
    SampledBatch alone;
    sample_on_device(*be_, *arena_, upload_logits(row), vocab, one, alone);
    EXPECT_EQ(alone.token_ids.at(0), together.token_ids[size_t(r)]) << "row " << r;
  }
}

// Greedy decoding skips the sort (SampleArgs::all_greedy): same ids and logprobs as the CPU
// sampler, penalties included.
TEST_F(GpuSampling, AllGreedyBatchesSkipTheSortAndMatchTheCpuSampler) {
  SamplingProblem pr;
  pr.rows = 16;
  pr.vocab = 32000;
  pr.top_n = 3;
  pr.all_greedy = true;
  const int32_t rows = pr.rows, vocab = pr.vocab;
  pr.logits.resize(size_t(rows) * vocab);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  for (auto& l : pr.logits) l = normal(rng);
  pr.params.resize(size_t(rows));
  pr.pen_offsets = {0};
  for (int32_t r = 0; r < rows; ++r) {
    pr.params[size_t(r)].temperature = 0.0f;
    if (r % 2) pr.params[size_t(r)].repetition_penalty = 1.5f;
    for (int j = 0; j < 10; ++j) {
      pr.pen_ids.push_back((r * 977 + j * 131) % vocab);
      pr.pen_counts.push_back(j % 2);
    }
    pr.pen_offsets.push_back(int32_t(pr.pen_ids.size()));
  }
  const SampleResult got = sample_with_cuda(pr, "sample (all greedy)");
  const SampleResult want = sample_with_cpu(pr);
  EXPECT_EQ(got.ids, want.ids);
  EXPECT_EQ(got.top_ids, want.top_ids);
  for (size_t i = 0; i < want.lp.size(); ++i) EXPECT_NEAR(got.lp[i], want.lp[i], 1e-4f) << "row " << i;
}

}  // namespace
}  // namespace sy::test
