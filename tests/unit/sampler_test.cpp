// CPU sampler (kernels/sampling.h): greedy, temperature, filters, penalties, seeded draws that
// do not depend on the batch, logprobs. Serving glue (engine/serving/sampler.h): the
// SamplingBatch a step's sequences give, host sampling from it, and the engine's choice of where
// to sample (an executor that samples on its device gets forward_and_sample; tokens, seeded
// draws and logprobs are those of host sampling). The device path's packing of inputs and
// results (device_sampling.h) and ModelRunner::forward_and_sample run here on a CPU backend
// that "samples on its device" with the CPU kernels.
#include "kernels/sampling.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <cmath>
#include <map>
#include <vector>

#include "engine/backend/backend.h"
#include "engine/model/device_sampling.h"
#include "engine/model/model.h"
#include "engine/model/model_runner.h"
#include "engine/model/single_sequence.h"
#include "engine/serving/engine.h"
#include "engine/serving/sampler.h"
#include "fake_executor.h"
#include "forwarding_backend.h"
#include "request_collector.h"

namespace sy {
namespace {

struct Batch {
  int32_t vocab;
  std::vector<float> logits;
  std::vector<SamplingRowParams> params;
  std::vector<int32_t> pen_offsets{0}, pen_ids, pen_counts;

  void add(std::vector<float> row, SamplingRowParams p,
           std::vector<std::pair<int32_t, int32_t>> seen = {}) {
    logits.insert(logits.end(), row.begin(), row.end());
    params.push_back(p);
    for (auto [id, count] : seen) {
      pen_ids.push_back(id);
      pen_counts.push_back(count);
    }
    pen_offsets.push_back(static_cast<int32_t>(pen_ids.size()));
  }
  std::vector<int32_t> run() const {
    std::vector<int32_t> out(params.size());
    SampleArgs a;
    a.logits = logits.data();
    a.num_rows = static_cast<int32_t>(params.size());
    a.vocab_size = vocab;
    a.params = params.data();
    a.penalty_offsets = pen_offsets.data();
    a.penalty_token_ids = pen_ids.data();
    a.penalty_output_counts = pen_counts.data();
    a.sampled_ids = out.data();
    cpu::sample(a);
    return out;
  }
};

SamplingRowParams greedy() {
  SamplingRowParams p;
  p.temperature = 0;
  return p;
}

// Frequency of each token over `draws` seeded draws of one row.
std::vector<double> frequencies(const std::vector<float>& row, SamplingRowParams p, int draws,
                                std::vector<std::pair<int32_t, int32_t>> seen = {}) {
  Batch b{static_cast<int32_t>(row.size())};
  for (int i = 0; i < draws; ++i) {
    p.rng_counter = static_cast<uint64_t>(i);
    b.add(row, p, seen);
  }
  std::vector<double> f(row.size(), 0.0);
  for (int32_t id : b.run()) f[id] += 1.0 / draws;
  return f;
}

TEST(Sampler, GreedyTakesTheArgmaxAndTheLowerIdOnTies) {
  Batch b{4};
  b.add({0.1f, 3.0f, -1.0f, 2.9f}, greedy());
  b.add({1.0f, 5.0f, 5.0f, 0.0f}, greedy());
  EXPECT_EQ(b.run(), (std::vector<int32_t>{1, 1}));
}

TEST(Sampler, TemperatureOneFollowsTheSoftmax) {
  // p = [1, 2, 3] / 6
  auto f = frequencies({0.0f, std::log(2.0f), std::log(3.0f)}, SamplingRowParams{}, 30000);
  EXPECT_NEAR(f[0], 1.0 / 6, 0.015);
  EXPECT_NEAR(f[1], 2.0 / 6, 0.015);
  EXPECT_NEAR(f[2], 3.0 / 6, 0.015);
}

TEST(Sampler, TemperatureSharpens) {
  SamplingRowParams p;
  p.temperature = 0.5f;  // p ∝ [1, 4, 9]
  auto f = frequencies({0.0f, std::log(2.0f), std::log(3.0f)}, p, 30000);
  EXPECT_NEAR(f[0], 1.0 / 14, 0.015);
  EXPECT_NEAR(f[1], 4.0 / 14, 0.015);
  EXPECT_NEAR(f[2], 9.0 / 14, 0.015);
}

TEST(Sampler, TopKKeepsTheKMostLikely) {
  SamplingRowParams p;
  p.top_k = 2;
  auto f = frequencies({1.0f, 3.0f, 2.0f, 0.5f}, p, 4000);
  EXPECT_EQ(f[0], 0.0);
  EXPECT_EQ(f[3], 0.0);
  EXPECT_NEAR(f[1], 1.0 / (1.0 + std::exp(-1.0)), 0.03);
}

TEST(Sampler, TopPKeepsTheSmallestPrefixReachingP) {
  const std::vector<float> row = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  SamplingRowParams p;
  p.top_p = 0.6f;  // 0.5 < 0.6 <= 0.8: tokens 0 and 1
  auto f = frequencies(row, p, 4000);
  EXPECT_EQ(f[2], 0.0);
  EXPECT_NEAR(f[0], 0.5 / 0.8, 0.03);
  p.top_p = 0.45f;  // the first token alone reaches 0.45
  f = frequencies(row, p, 500);
  EXPECT_NEAR(f[0], 1.0, 1e-9);
}

TEST(Sampler, MinPDropsTokensBelowAFractionOfTheMostLikely) {
  const std::vector<float> row = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  SamplingRowParams p;
  p.min_p = 0.5f;  // threshold 0.25
  auto f = frequencies(row, p, 4000);
  EXPECT_EQ(f[2], 0.0);
  EXPECT_GT(f[1], 0.2);
}

TEST(Sampler, RepetitionPenaltyDividesPositiveAndMultipliesNegativeLogits) {
  SamplingRowParams p = greedy();
  p.repetition_penalty = 1.2f;
  Batch b{3};
  b.add({2.0f, 1.9f, -5.0f}, p, {{0, 0}});  // 2 / 1.2 = 1.67 < 1.9
  b.add({-1.0f, -1.1f, -5.0f}, p, {{0, 1}});  // -1 * 1.2 = -1.2 < -1.1
  b.add({2.0f, 1.9f, -5.0f}, greedy(), {{0, 3}});  // no penalty configured
  EXPECT_EQ(b.run(), (std::vector<int32_t>{1, 1, 0}));
}

TEST(Sampler, PresenceAndFrequencyPenaltiesUseOutputCounts) {
  SamplingRowParams presence = greedy();
  presence.presence_penalty = 0.5f;
  SamplingRowParams frequency = greedy();
  frequency.frequency_penalty = 0.2f;
  Batch b{3};
  b.add({1.0f, 0.6f, 0.0f}, presence, {{0, 1}});    // 1.0 - 0.5 < 0.6
  b.add({1.0f, 0.6f, 0.0f}, presence, {{0, 0}});    // prompt-only token: not penalised
  b.add({1.0f, 0.5f, 0.0f}, frequency, {{0, 2}});   // 1.0 - 0.4 > 0.5
  b.add({1.0f, 0.5f, 0.0f}, frequency, {{0, 3}});   // 1.0 - 0.6 < 0.5
  EXPECT_EQ(b.run(), (std::vector<int32_t>{1, 0, 0, 1}));
}

TEST(Sampler, SeededDrawDoesNotDependOnTheBatch) {
  std::vector<float> row(64);
  for (int i = 0; i < 64; ++i) row[i] = std::sin(i * 0.7f) * 2.0f;
  SamplingRowParams p;
  p.seed = 1234;
  p.top_p = 0.95f;
  std::vector<int32_t> alone;
  for (uint64_t step = 0; step < 32; ++step) {
    p.rng_counter = step;
    Batch b{64};
    b.add(row, p);
    alone.push_back(b.run()[0]);
  }
  // The same row at each step, batched among 7 other rows with other seeds and params.
  for (uint64_t step = 0; step < 32; ++step) {
    Batch b{64};
    for (int other = 0; other < 7; ++other) {
      SamplingRowParams q;
      q.seed = 99 + other;
      q.rng_counter = step * 3 + other;
      q.top_k = 5 + other;
      std::vector<float> noise(64);
      for (int i = 0; i < 64; ++i) noise[i] = std::cos(i * (other + 1.3f));
      b.add(noise, q);
      if (other == 3) {
        p.rng_counter = step;
        b.add(row, p);
      }
    }
    EXPECT_EQ(b.run()[4], alone[step]) << "step " << step;
  }
  // Different counters must actually vary the draw.
  int distinct = 0;
  for (size_t i = 1; i < alone.size(); ++i) distinct += alone[i] != alone[0];
  EXPECT_GT(distinct, 0);
}

TEST(Sampler, DifferentSeedsGiveDifferentStreams) {
  std::vector<float> row(32, 0.0f);  // uniform
  SamplingRowParams a, b;
  a.seed = 1;
  b.seed = 2;
  int same = 0;
  for (uint64_t c = 0; c < 64; ++c) {
    a.rng_counter = b.rng_counter = c;
    Batch x{32};
    x.add(row, a);
    x.add(row, b);
    auto out = x.run();
    same += out[0] == out[1];
  }
  EXPECT_LT(same, 16);
}

TEST(Sampler, LogprobsAreTheRawLogSoftmaxWithTopN) {
  const std::vector<float> row = {0.0f, 2.0f, 1.0f, 2.0f};
  Batch b{4};
  b.add(row, greedy());
  std::vector<int32_t> ids(1), top_ids(3);
  std::vector<float> lp(1), top_lp(3);
  SampleArgs a;
  a.logits = b.logits.data();
  a.num_rows = 1;
  a.vocab_size = 4;
  a.params = b.params.data();
  a.sampled_ids = ids.data();
  a.sampled_logprobs = lp.data();
  a.num_top_logprobs = 3;
  a.top_ids = top_ids.data();
  a.top_logprobs = top_lp.data();
  cpu::sample(a);
  const double log_z = std::log(1 + 2 * std::exp(2.0) + std::exp(1.0));
  EXPECT_EQ(ids[0], 1);
  EXPECT_NEAR(lp[0], 2.0 - log_z, 1e-5);
  EXPECT_EQ(top_ids, (std::vector<int32_t>{1, 3, 2}));
  EXPECT_NEAR(top_lp[2], 1.0 - log_z, 1e-5);
}

TEST(Philox, KnownAnswer) {
  // Random123's published known-answer vector for philox4x32_10 with counter 0, key 0.
  Philox4x32 r = philox4x32_10(0, 0);
  EXPECT_EQ(r.v[0], 0x6627e8d5u);
  EXPECT_EQ(r.v[1], 0xe169c58du);
  EXPECT_EQ(r.v[2], 0xbc57ac4cu);
  EXPECT_EQ(r.v[3], 0x9b00dbd8u);
}

// ---- serving glue ----

Sequence make_sequence(int32_t index, std::vector<int32_t> prompt, std::vector<int32_t> output) {
  Sequence s;
  s.index = index;
  s.num_prompt_tokens = static_cast<int32_t>(prompt.size());
  s.token_ids = std::move(prompt);
  s.token_ids.insert(s.token_ids.end(), output.begin(), output.end());
  return s;
}

TEST(SamplerGlue, PrepareGivesParamsCountersPenaltiesAndMasksPerRow) {
  const Sequence a = make_sequence(0, {5, 6, 5}, {6, 6}), b = make_sequence(3, {1}, {});
  SamplingParams pa, pb;
  pa.temperature = 0.7f;
  pa.top_k = 5;
  pa.repetition_penalty = 1.2f;
  pa.logprobs = 2;
  pb.temperature = 0;
  const std::vector<int32_t> masked{7, 99, -1, 2};  // 99 and -1 are outside a vocabulary of 10
  const std::vector<SamplerRow> rows{{&a, &pa, 11, nullptr}, {&b, &pb, 12, &masked}};
  const SamplingBatch s = Sampler().prepare(rows, 10);
  ASSERT_EQ(s.num_rows(), 2);
  EXPECT_EQ(s.params[0].temperature, 0.7f);
  EXPECT_EQ(s.params[0].top_k, 5);
  EXPECT_EQ(s.params[0].seed, 11u);
  EXPECT_EQ(s.params[0].rng_counter, sampler_rng_counter(a));
  EXPECT_EQ(s.params[1].rng_counter, (uint64_t(3) << 32) | 0u);
  EXPECT_EQ(s.params[1].temperature, 0.0f);
  // Row 0: tokens 5 (prompt only: count 0) and 6 (prompt once, output twice: count 2); row 1 none.
  ASSERT_EQ(s.penalty_offsets, (std::vector<int32_t>{0, 2, 2}));
  std::map<int32_t, int32_t> counts;
  for (int i = 0; i < 2; ++i) counts[s.penalty_token_ids[i]] = s.penalty_output_counts[i];
  EXPECT_EQ(counts, (std::map<int32_t, int32_t>{{5, 0}, {6, 2}}));
  EXPECT_EQ(s.mask_offsets, (std::vector<int32_t>{0, 0, 2}));
  EXPECT_EQ(s.mask_token_ids, (std::vector<int32_t>{7, 2}));
  EXPECT_EQ(s.num_top_logprobs, 2);
  EXPECT_NO_THROW(validate_sampling_batch(s));
}

TEST(SamplerGlue, HostSamplingMasksThenSamplesAndCollectCutsTopN) {
  const Sequence a = make_sequence(0, {1}, {}), b = make_sequence(1, {1}, {});
  SamplingParams greedy_lp, greedy;
  greedy_lp.temperature = 0;
  greedy_lp.logprobs = 1;
  greedy.temperature = 0;
  const std::vector<int32_t> masked{3};
  const std::vector<SamplerRow> rows{{&a, &greedy_lp, 1, &masked}, {&b, &greedy, 1, nullptr}};
  std::vector<float> logits{0, 1, 2, 9, /*row 1*/ 0, 1, 2, 9};
  const std::vector<SampledToken> out = Sampler().sample(rows, logits, 4);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].token_id, 2);  // 3 is masked
  EXPECT_EQ(out[1].token_id, 3);
  EXPECT_TRUE(std::isinf(logits[3]) && logits[3] < 0);
  const double log_z = std::log(1 + std::exp(1.0) + std::exp(2.0));
  EXPECT_NEAR(out[0].logprob, 2.0 - log_z, 1e-5);
  ASSERT_EQ(out[0].top.size(), 1u);
  EXPECT_EQ(out[0].top[0].first, 2);
  EXPECT_TRUE(out[1].top.empty());
}

TEST(SamplerGlue, MalformedBatchesAreRejectedNamingTheArray) {
  SamplingBatch s;
  s.params.resize(2);
  s.penalty_offsets = {0, 0, 0};
  s.mask_offsets = {0, 1};
  try {
    validate_sampling_batch(s);
    FAIL() << "a mask_offsets of the wrong length must be rejected";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("mask_offsets"), std::string::npos) << e.what();
  }
  std::vector<float> logits(3 * 4);
  SampledBatch out;
  s.mask_offsets = {0, 0, 0};
  EXPECT_THROW(sample_on_host(s, logits, 8, out), std::invalid_argument);  // 2 rows of 8 > 12 values
}

// A FakeExecutor that says it samples on its device: the engine must hand it the step's
// SamplingBatch (forward_and_sample) instead of asking for logits. It "samples on the device" by
// running the host reference on its own logits, so its tokens must be the host path's.
class FakeDeviceSamplingExecutor : public testing::FakeExecutor {
 public:
  using FakeExecutor::FakeExecutor;
  bool samples_on_device() const override { return true; }
  void forward_and_sample(const ForwardBatch& batch, const SamplingBatch& sampling, SampledBatch& out) override {
    ++num_device_samples;
    rows_sampled += sampling.num_rows();
    EXPECT_EQ(size_t(sampling.num_rows()), batch.logits_indices.size());
    std::vector<float> logits;
    forward(batch, logits);
    sample_on_host(sampling, logits, vocab_size(), out);
  }
  int num_device_samples = 0;
  int rows_sampled = 0;
};

using Streamed = testing::RequestCollector;

// Seeded sampling with filters, penalties, a min_tokens mask and logprobs, three requests at once.
std::vector<std::unique_ptr<Streamed>> run_requests(std::shared_ptr<ModelExecutor> executor) {
  EngineConfig cfg;
  cfg.scheduler.max_num_seqs = 8;
  cfg.scheduler.max_num_batched_tokens = 16;
  cfg.eos_token_ids = {testing::FakeExecutor::kEos};
  Engine engine(std::move(executor), {}, cfg);
  engine.start();
  std::vector<std::unique_ptr<Streamed>> streams;
  for (int r = 0; r < 3; ++r) {
    RequestSpec spec;
    spec.prompt_token_ids = {1 + r, 2, 3, 4, 5 + r, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18};
    spec.params.temperature = 0.6f + 0.2f * float(r);
    spec.params.top_p = 0.9f;
    spec.params.top_k = 20;
    spec.params.min_p = 0.01f;
    spec.params.repetition_penalty = 1.1f;
    spec.params.frequency_penalty = 0.3f;
    spec.params.max_tokens = 12;
    spec.params.min_tokens = 6;
    spec.params.logprobs = 2;
    spec.params.seed = 1234 + uint64_t(r);
    streams.push_back(std::make_unique<Streamed>());
    auto slot = engine.reserve_queue_slot();
    EXPECT_TRUE(slot.has_value());
    const Engine::SubmitResult res = engine.submit(std::move(spec), streams.back()->sink(), std::move(*slot));
    EXPECT_FALSE(res.error.has_value());
  }
  for (auto& s : streams) EXPECT_TRUE(s->wait());
  engine.stop();
  return streams;
}

TEST(SamplerGlue, EngineSamplesOnTheDeviceOfAnExecutorThatCanAndGetsTheHostTokens) {
  auto host = std::make_shared<testing::FakeExecutor>(256, 4);
  auto device = std::make_shared<FakeDeviceSamplingExecutor>(256, 4);
  const auto on_host = run_requests(host);
  const auto on_device = run_requests(device);
  EXPECT_GT(device->num_device_samples, 0);
  EXPECT_EQ(device->num_forward_calls, device->num_device_samples) << "every step went through forward_and_sample";
  int total_tokens = 0;
  for (size_t r = 0; r < on_host.size(); ++r) {
    EXPECT_EQ(on_device[r]->tokens(), on_host[r]->tokens()) << "request " << r;
    EXPECT_GE(on_host[r]->tokens().size(), 6u);  // min_tokens: EOS masked for the first 6
    const std::vector<TokenLogprob> device_lp = on_device[r]->logprobs(), host_lp = on_host[r]->logprobs();
    ASSERT_EQ(device_lp.size(), host_lp.size());
    for (size_t i = 0; i < host_lp.size(); ++i) {
      EXPECT_EQ(device_lp[i].logprob, host_lp[i].logprob);
      EXPECT_EQ(device_lp[i].top, host_lp[i].top);
      EXPECT_EQ(device_lp[i].top.size(), 2u);
    }
    total_tokens += int(on_host[r]->tokens().size());
  }
  EXPECT_EQ(device->rows_sampled, total_tokens);
}

// Any executor may be asked to forward_and_sample: the default is forward + host sampling.
TEST(SamplerGlue, DefaultForwardAndSampleIsForwardThenHostSampling) {
  testing::FakeExecutor a(16, 4), b(16, 4);
  ForwardBatch batch;
  batch.token_ids = {1, 2, 3};
  batch.positions = {0, 1, 2};
  batch.slot_mapping = {0, 1, 2};
  batch.query_start = {0, 3};
  batch.seq_lens = {3};
  batch.max_blocks_per_seq = 1;
  batch.block_tables = {0};
  batch.logits_indices = {2};
  SamplingBatch s;
  s.params.resize(1);
  s.params[0].temperature = 0.8f;
  s.params[0].seed = 5;
  s.penalty_offsets = {0, 0};
  s.mask_offsets = {0, 0};
  SampledBatch via_default, via_host;
  ModelExecutor& as_executor = a;
  EXPECT_FALSE(as_executor.samples_on_device());
  as_executor.forward_and_sample(batch, s, via_default);
  std::vector<float> logits;
  b.forward(batch, logits);
  sample_on_host(s, logits, b.vocab_size(), via_host);
  EXPECT_EQ(via_default.token_ids, via_host.token_ids);
  EXPECT_EQ(a.num_forward_calls, 1);
}

// The CPU backend plus sampling "on the device" (its own memory) with the CPU sampler: lets the
// device-sampling code path (packed inputs, one results buffer, ModelRunner::forward_and_sample)
// run without a GPU. Counts the sampling calls it gets.
class SamplingCpuBackend final : public test::ForwardingBackend {
 public:
  std::string name() const override { return "sampling-cpu"; }

  bool supports_sampling() const override { return true; }
  void mask_logits(const LogitMaskArgs& a) override {
    ++num_masks;
    for (int32_t r = 0; r < a.num_rows; ++r)
      for (int32_t i = a.mask_offsets[r]; i < a.mask_offsets[r + 1]; ++i)
        if (a.mask_token_ids[i] >= 0 && a.mask_token_ids[i] < a.vocab_size)
          a.logits[size_t(r) * a.vocab_size + a.mask_token_ids[i]] = -INFINITY;
  }
  void sample(const SampleArgs& a) override {
    ++num_samples;
    all_greedy_hints += a.all_greedy;
    cpu::sample(a);
  }
  int num_masks = 0, num_samples = 0, all_greedy_hints = 0;
};

SamplingBatch varied_batch(int32_t rows, int32_t vocab, bool greedy_only) {
  SamplingBatch s;
  for (int32_t r = 0; r < rows; ++r) {
    SamplingRowParams p;
    p.seed = 900 + uint64_t(r);
    p.rng_counter = uint64_t(r) * 3;
    p.temperature = greedy_only || r % 3 == 0 ? 0.0f : 0.9f;
    p.top_p = r % 3 == 1 ? 0.8f : 1.0f;
    p.repetition_penalty = r % 2 ? 1.3f : 1.0f;
    s.params.push_back(p);
    if (r % 2)
      for (int j = 0; j < 5; ++j) {
        s.penalty_token_ids.push_back((r + 7 * j) % vocab);
        s.penalty_output_counts.push_back(j % 2);
      }
    s.penalty_offsets.push_back(int32_t(s.penalty_token_ids.size()));
    if (r % 3 != 1)
      for (int j = 0; j < 2; ++j) s.mask_token_ids.push_back((3 * r + 11 * j) % vocab);
    s.mask_offsets.push_back(int32_t(s.mask_token_ids.size()));
  }
  s.num_top_logprobs = 3;
  return s;
}

TEST(DeviceSamplingPath, PackedInputsAndResultsGiveTheHostSamplersTokensAndLogprobs) {
  SamplingCpuBackend be;
  ScratchArena arena(be);
  const int32_t rows = 9, vocab = 50;
  std::vector<float> logits(size_t(rows) * vocab);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = float((i * 37) % 101) / 10.0f;
  for (const bool greedy_only : {false, true}) {
    const SamplingBatch s = varied_batch(rows, vocab, greedy_only);
    std::vector<float> host_logits = logits;
    float* dev_logits = arena.get<float>("test.logits", logits.size());
    be.copy_from_host(dev_logits, logits.data(), logits.size() * sizeof(float));
    SampledBatch host, device;
    sample_on_host(s, host_logits, vocab, host);
    sample_on_device(be, arena, dev_logits, vocab, s, device);
    EXPECT_EQ(device.token_ids, host.token_ids);
    EXPECT_EQ(device.logprobs, host.logprobs);
    EXPECT_EQ(device.top_ids, host.top_ids);
    EXPECT_EQ(device.top_logprobs, host.top_logprobs);
    EXPECT_EQ(std::vector<float>(dev_logits, dev_logits + logits.size()), host_logits) << "masks written in place";
  }
  EXPECT_EQ(be.num_samples, 2);
  EXPECT_EQ(be.num_masks, 2);
  EXPECT_EQ(be.all_greedy_hints, 1) << "the hint is set exactly for the all-greedy batch";
}

// ModelRunner on a backend that samples: forward_and_sample keeps the logits in backend memory
// and samples there; tokens and logprobs equal forward + host sampling on a plain CPU runner.
TEST(DeviceSamplingPath, ModelRunnerForwardAndSampleEqualsForwardThenHostSampling) {
  const auto dir = std::filesystem::path(SY_TEST_DATA_DIR) / "models" / "olmoe-f32";
  SamplingCpuBackend sampling_be;
  std::unique_ptr<Backend> plain_be = make_cpu_backend();
  const KvCacheGeometry kv{.num_blocks = 8, .block_size = 16};
  ModelRunner on_device(load_model(dir, sampling_be), kv), on_host(load_model(dir, *plain_be), kv);
  ASSERT_TRUE(on_device.samples_on_device());
  ASSERT_FALSE(on_host.samples_on_device());
  // Two sequences prefilled together; logits rows at each one's last token.
  ForwardBatch b;
  b.token_ids = {5, 9, 2, 7, 3, 11, 4};
  b.positions = {0, 1, 2, 3, 0, 1, 2};
  b.query_start = {0, 4, 7};
  b.seq_lens = {4, 3};
  b.max_blocks_per_seq = 1;
  b.block_tables = {0, 1};
  b.slot_mapping = {0, 1, 2, 3, 16, 17, 18};
  b.logits_indices = {3, 6};
  const SamplingBatch s = varied_batch(2, on_host.vocab_size(), false);
  SampledBatch device, host;
  on_device.forward_and_sample(b, s, device);
  std::vector<float> logits;
  on_host.forward(b, logits);
  sample_on_host(s, logits, on_host.vocab_size(), host);
  EXPECT_EQ(device.token_ids, host.token_ids);
  EXPECT_EQ(device.logprobs, host.logprobs);
  EXPECT_EQ(device.top_ids, host.top_ids);
  EXPECT_EQ(sampling_be.num_samples, 1);
  SampledBatch mismatch;
  EXPECT_THROW(on_device.forward_and_sample(b, varied_batch(3, on_host.vocab_size(), false), mismatch),
               std::invalid_argument);
}

}  // namespace
}  // namespace sy
