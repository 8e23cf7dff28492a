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
  const int32_t rows = 16, vocab = 32000, top_n = 3;
  std::vector<float> logits(size_t(rows) * vocab);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  for (auto& l : logits) l = normal(rng);
  std::vector<SamplingRowParams> params(rows);
  std::vector<int32_t> pen_offsets{0}, pen_ids, pen_counts;
  for (int32_t r = 0; r < rows; ++r) {
    params[size_t(r)].temperature = 0.0f;
    if (r % 2) params[size_t(r)].repetition_penalty = 1.5f;
    for (int j = 0; j < 10; ++j) {
      pen_ids.push_back((r * 977 + j * 131) % vocab);
      pen_counts.push_back(j % 2);
    }
    pen_offsets.push_back(int32_t(pen_ids.size()));
  }
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
  a.all_greedy = true;
  cuda::sample(a, nullptr);
  sync_ok("sample (all greedy)");

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
  EXPECT_EQ(d_ids.download<int32_t>(), ids);
  EXPECT_EQ(d_top_ids.download<int32_t>(), top_ids);
  const std::vector<float> got_lp = d_lp.download<float>();
  for (size_t i = 0; i < lp.size(); ++i) EXPECT_NEAR(got_lp[i], lp[i], 1e-4f) << "row " << i;
}

}  // namespace
}  // namespace sy::test
