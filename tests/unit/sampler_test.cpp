// CPU sampler (kernels/sampling.h): greedy, temperature, filters, penalties, seeded draws that
// do not depend on the batch, logprobs.
#include "kernels/sampling.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

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

}  // namespace
}  // namespace sy
