// Small serving pieces with no model: batch layout, request validation, routing statistics.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/serving/batch_builder.h"
#include "engine/serving/request_validation.h"
#include "engine/serving/routing_stats.h"

namespace sy {
namespace {

TEST(BatchBuilder, LaysOutPrefillChunksAndDecodes) {
  Sequence prefill, decode;
  prefill.id = 1;
  prefill.token_ids = {10, 11, 12, 13, 14, 15};
  prefill.num_prompt_tokens = 6;
  prefill.num_computed_tokens = 2;  // an earlier chunk
  prefill.block_table = {7, 3};
  decode.id = 2;
  decode.token_ids = {20, 21, 22, 23, 24};
  decode.num_prompt_tokens = 4;
  decode.num_computed_tokens = 4;
  decode.block_table = {5, 9};
  // block_size 4: prefill computes positions 2..4 (not the last: no logits), decode position 4.
  ForwardBatch b = build_forward_batch({{&decode, 1}, {&prefill, 3}}, 4);
  EXPECT_EQ(b.token_ids, (std::vector<int32_t>{24, 12, 13, 14}));
  EXPECT_EQ(b.positions, (std::vector<int32_t>{4, 2, 3, 4}));
  EXPECT_EQ(b.query_start, (std::vector<int32_t>{0, 1, 4}));
  EXPECT_EQ(b.seq_lens, (std::vector<int32_t>{5, 5}));
  EXPECT_EQ(b.max_blocks_per_seq, 2);
  EXPECT_EQ(b.block_tables, (std::vector<int32_t>{5, 9, 7, 3}));
  EXPECT_EQ(b.slot_mapping, (std::vector<int64_t>{9 * 4 + 0, 7 * 4 + 2, 7 * 4 + 3, 3 * 4 + 0}));
  EXPECT_EQ(b.logits_indices, (std::vector<int32_t>{0}));
}

TEST(BatchBuilder, RefusesASequenceWithoutBlocksForItsTokens) {
  Sequence s;
  s.token_ids = {1, 2, 3, 4, 5};
  s.block_table = {0};
  EXPECT_THROW(build_forward_batch({{&s, 5}}, 4), std::logic_error);
}

TEST(RequestValidation, NamesTheOffendingField) {
  RequestLimits limits;
  auto field_of = [&](SamplingParams p) {
    auto e = validate_sampling_params(p, limits);
    return e ? e->field : std::string("ok");
  };
  SamplingParams ok;
  EXPECT_EQ(field_of(ok), "ok");
  SamplingParams p;
  p = ok; p.temperature = -0.1f; EXPECT_EQ(field_of(p), "sampling.temperature");
  p = ok; p.temperature = std::nanf(""); EXPECT_EQ(field_of(p), "sampling.temperature");
  p = ok; p.top_p = 0.0f; EXPECT_EQ(field_of(p), "sampling.top_p");
  p = ok; p.top_p = 1.5f; EXPECT_EQ(field_of(p), "sampling.top_p");
  p = ok; p.top_k = -2; EXPECT_EQ(field_of(p), "sampling.top_k");
  p = ok; p.min_p = 1.1f; EXPECT_EQ(field_of(p), "sampling.min_p");
  p = ok; p.repetition_penalty = 0.0f; EXPECT_EQ(field_of(p), "sampling.repetition_penalty");
  p = ok; p.presence_penalty = 2.5f; EXPECT_EQ(field_of(p), "sampling.presence_penalty");
  p = ok; p.frequency_penalty = -3.0f; EXPECT_EQ(field_of(p), "sampling.frequency_penalty");
  p = ok; p.n = 0; EXPECT_EQ(field_of(p), "sampling.n");
  p = ok; p.n = limits.max_n + 1; EXPECT_EQ(field_of(p), "sampling.n");
  p = ok; p.max_tokens = -1; EXPECT_EQ(field_of(p), "sampling.max_tokens");
  p = ok; p.logprobs = limits.max_logprobs + 1; EXPECT_EQ(field_of(p), "sampling.logprobs");
  p = ok; p.stop.assign(limits.max_stop_strings + 1, "x"); EXPECT_EQ(field_of(p), "sampling.stop");
  p = ok; p.stop = {"ok", std::string(limits.max_stop_string_bytes + 1, 'a')};
  EXPECT_EQ(field_of(p), "sampling.stop[1]");
  p = ok; p.stop = {"\xff"}; EXPECT_EQ(field_of(p), "sampling.stop[0]");
}

TEST(RequestValidation, TokenIdsAndUtf8) {
  EXPECT_FALSE(validate_token_ids({0, 5, 9}, 10, "prompt_token_ids"));
  EXPECT_EQ(validate_token_ids({}, 10, "prompt_token_ids")->field, "prompt_token_ids");
  EXPECT_EQ(validate_token_ids({1, 10}, 10, "prompt_token_ids")->field, "prompt_token_ids[1]");
  EXPECT_EQ(validate_token_ids({-1}, 10, "ids")->field, "ids[0]");
  EXPECT_TRUE(is_valid_utf8("héllo, 世界 🚂"));
  EXPECT_FALSE(is_valid_utf8("\xc3"));          // truncated
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));      // overlong
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));  // surrogate
}

TEST(RoutingStats, ImbalanceOfCounts) {
  RoutingImbalance even = routing_imbalance({5, 5, 5, 5});
  EXPECT_DOUBLE_EQ(even.max_over_mean, 1.0);
  EXPECT_DOUBLE_EQ(even.cv, 0.0);
  EXPECT_EQ(even.dead_experts, 0);
  RoutingImbalance skewed = routing_imbalance({12, 0, 4, 0});  // mean 4, std sqrt(24)
  EXPECT_DOUBLE_EQ(skewed.max_over_mean, 3.0);
  EXPECT_NEAR(skewed.cv, std::sqrt(24.0) / 4.0, 1e-12);
  EXPECT_EQ(skewed.dead_experts, 2);
  EXPECT_EQ(routing_imbalance({0, 0}).max_over_mean, 0.0);
}

TEST(RoutingStats, WindowCountsAreDifferencesOverTheWindow) {
  using namespace std::chrono_literals;
  RoutingStatsTracker tracker(100ms);
  auto counts = [](uint64_t a, uint64_t b) {
    RoutingCounts c;
    c.moe_layer_ids = {3};
    c.counts = {{a, b}};
    return c;
  };
  const auto t0 = RoutingStatsTracker::Clock::now();
  tracker.record(counts(10, 0), t0);
  tracker.record(counts(20, 5), t0 + 60ms);
  tracker.record(counts(30, 9), t0 + 90ms);  // window start t0 - 10 ms: t0 is the baseline
  RoutingStatsSnapshot s = tracker.snapshot();
  ASSERT_EQ(s.layers.size(), 1u);
  EXPECT_EQ(s.layers[0].layer, 3);
  EXPECT_EQ(s.layers[0].window_counts, (std::vector<uint64_t>{20, 9}));
  tracker.record(counts(40, 9), t0 + 170ms);  // window start t0 + 70 ms: baseline t0 + 60 ms
  s = tracker.snapshot();
  EXPECT_EQ(s.layers[0].total_counts, (std::vector<uint64_t>{40, 9}));
  EXPECT_EQ(s.layers[0].window_counts, (std::vector<uint64_t>{20, 4}));
  EXPECT_NEAR(s.window_seconds, 0.110, 1e-9);
  EXPECT_EQ(s.layers[0].window.dead_experts, 0);
}

}  // namespace
}  // namespace sy
