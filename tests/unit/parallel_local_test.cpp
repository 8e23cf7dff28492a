// Expert parallelism in one process: the local communicator, step plans (serialization, the
// data-parallel split, validation) and the expert-parallel executor over one rank, which runs
// the whole dispatch / combine path and must give exactly the single-rank runner's logits.
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/backend/backend.h"
#include "engine/model/model.h"
#include "engine/model/model_runner.h"
#include "engine/parallel/communicator.h"
#include "engine/parallel/expert_parallel_executor.h"
#include "engine/parallel/step_plan.h"
#include "tests/mpi/ep_scenario.h"

namespace fs = std::filesystem;

namespace {

const fs::path kModels = fs::path(SY_TEST_DATA_DIR) / "models";

sy::ForwardBatch sample_batch() {
  sy::test::Scenario sc;
  sc.step({{0, {5, 6}}});
  return sc.step({{0, {7}}, {1, {1, 2, 3}}, {2, {4}}, {3, {9, 9}}});
}

}  // namespace

TEST(LocalCommunicator, CollectivesAreCopies) {
  auto comm = sy::make_local_communicator();
  EXPECT_EQ(comm->rank(), 0);
  EXPECT_EQ(comm->size(), 1);
  const char send[] = "abcdef";
  char recv[7] = {};
  const int64_t n[] = {6};
  comm->all_to_all_v(send, n, recv, n);
  EXPECT_STREQ(recv, "abcdef");
  const int64_t bad[] = {5};
  EXPECT_THROW(comm->all_to_all_v(send, n, recv, bad), std::invalid_argument);
  std::vector<int64_t> vals = {3, 4};
  comm->all_reduce_sum(vals);
  EXPECT_EQ(vals, (std::vector<int64_t>{3, 4}));
  std::vector<int64_t> out(2);
  comm->all_to_all(vals, out, 2);
  EXPECT_EQ(out, vals);
  std::vector<char> gathered;
  std::vector<int64_t> sizes;
  comm->gather_v(send, 3, gathered, sizes, 0);
  EXPECT_EQ(std::string(gathered.begin(), gathered.end()), "abc");
  EXPECT_EQ(sizes, (std::vector<int64_t>{3}));
  EXPECT_THROW(comm->broadcast(recv, 1, 1), std::invalid_argument);
}

TEST(StepPlan, SerializationRoundTrips) {
  const sy::ForwardBatch b = sample_batch();
  const sy::ForwardBatch c = sy::deserialize_batch(sy::serialize_batch(b));
  EXPECT_EQ(c.token_ids, b.token_ids);
  EXPECT_EQ(c.positions, b.positions);
  EXPECT_EQ(c.query_start, b.query_start);
  EXPECT_EQ(c.seq_lens, b.seq_lens);
  EXPECT_EQ(c.block_tables, b.block_tables);
  EXPECT_EQ(c.max_blocks_per_seq, b.max_blocks_per_seq);
  EXPECT_EQ(c.slot_mapping, b.slot_mapping);
  EXPECT_EQ(c.logits_indices, b.logits_indices);
  std::vector<char> bytes = sy::serialize_batch(b);
  bytes.pop_back();
  EXPECT_THROW(sy::deserialize_batch(bytes), std::runtime_error);
}

TEST(StepPlan, SharesFollowTheKvPartitionOfTheFirstBlock) {
  const sy::ForwardBatch b = sample_batch();  // first blocks 0, 5, 10, 15
  // Two ranks of 10 blocks: sequences 0 and 1 on rank 0, 2 and 3 on rank 1.
  const sy::KvPartitioning kv{.blocks_per_rank = 10, .block_size = 16};
  EXPECT_EQ(sy::sequence_owner(b, 1, kv), 0);
  EXPECT_EQ(sy::sequence_owner(b, 2, kv), 1);
  sy::RankShare r0 = sy::rank_share(b, 0, kv), r1 = sy::rank_share(b, 1, kv);
  EXPECT_EQ(r0.batch.token_ids, (std::vector<int32_t>{7, 1, 2, 3}));
  EXPECT_EQ(r0.batch.positions, (std::vector<int32_t>{2, 0, 1, 2}));
  EXPECT_EQ(r0.batch.query_start, (std::vector<int32_t>{0, 1, 4}));
  EXPECT_EQ(r0.batch.seq_lens, (std::vector<int32_t>{3, 3}));
  EXPECT_EQ(r0.logits_positions, (std::vector<int32_t>{0, 1, 2, 3}));
  // Rank 0's ids are already local; the unused tail of a block table is 0.
  EXPECT_EQ(r0.batch.block_tables, (std::vector<int32_t>{0, 0, 0, 0, 0, 5, 0, 0, 0, 0}));
  EXPECT_EQ(r1.batch.token_ids, (std::vector<int32_t>{4, 9, 9}));
  EXPECT_EQ(r1.batch.logits_indices, (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(r1.logits_positions, (std::vector<int32_t>{4, 5, 6}));
  // Rank 1 holds global blocks 10..19 as its local 0..9: block 15 is its block 5.
  EXPECT_EQ(r1.batch.block_tables, (std::vector<int32_t>{0, 0, 0, 0, 0, 5, 0, 0, 0, 0}));
  EXPECT_EQ(r1.batch.slot_mapping, (std::vector<int64_t>{0, 5 * 16, 5 * 16 + 1}));
  // A rank that owns none of the sequences gets an empty, valid batch.
  sy::RankShare none = sy::rank_share(sy::test::Scenario().step({{0, {1}}}), 1, kv);
  EXPECT_EQ(none.batch.num_tokens(), 0);
  EXPECT_EQ(none.batch.query_start, (std::vector<int32_t>{0}));
}

TEST(StepPlan, ASequenceSpanningTwoPartitionsIsRejected) {
  sy::ForwardBatch b = sample_batch();
  const sy::KvPartitioning kv{.blocks_per_rank = 10, .block_size = 16};
  sy::ForwardBatch grown = sy::test::Scenario().step({{1, std::vector<int32_t>(20, 1)}});  // blocks 5, 6 of rank 0
  grown.block_tables[1] = 12;  // its second block in rank 1's partition
  grown.slot_mapping[19] = 12 * 16 + 3;
  try {
    sy::rank_share(grown, 0, kv);
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("block 12 of another rank's KV partition"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(sy::rank_share(b, 0, kv));
}

TEST(StepPlan, ValidationNamesTheBadField) {
  const sy::ForwardBatch good = sample_batch();
  EXPECT_NO_THROW(sy::validate_plan(good, 16, 20, 16));
  auto message = [&](sy::ForwardBatch b, int vocab = 16, int blocks = 20) {
    try {
      sy::validate_plan(b, vocab, blocks, 16);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(good, 8).find("token id 9"), std::string::npos);
  EXPECT_NE(message(good, 16, 10).find("outside the cache"), std::string::npos);
  sy::ForwardBatch b = good;
  b.logits_indices.push_back(99);
  EXPECT_NE(message(b).find("logits index 99"), std::string::npos);
  EXPECT_NE(message(sy::ForwardBatch{}).find("empty batch"), std::string::npos);
}

class OneRankExpertParallel : public ::testing::TestWithParam<std::string> {};

// With one rank every expert is local, but the path is the expert-parallel one: layout,
// counts exchange, dispatch, regrouping by slot, combine from the returned rows.
TEST_P(OneRankExpertParallel, LogitsEqualTheSingleRankRunner) {
  auto be = sy::make_cpu_backend();
  const fs::path dir = kModels / GetParam();
  auto comm = sy::make_local_communicator();
  auto full = sy::load_model(dir, *be);
  // Round-robin over one rank is all experts; still exercises the selector path.
  const auto placements = sy::uniform_placements(full->config, sy::round_robin_placement(full->config.num_experts, 1));
  auto shard = sy::load_expert_shard(dir, *be, placements, 0);
  sy::test::Scenario sc;
  const sy::KvCacheGeometry kv{.num_blocks = sc.num_blocks(4), .block_size = sc.block_size()};
  sy::ModelRunner reference(full, kv);
  sy::ExpertParallelExecutor ep(shard, kv, *comm, placements);
  for (const sy::ForwardBatch& b : sy::test::standard_workload(full->config.vocab_size, sc)) {
    std::vector<float> want, got;
    reference.forward(b, want);
    ep.forward(b, got);
    ASSERT_EQ(got.size(), want.size());
    EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0);
  }
  sy::RoutingCounts want_counts, got_counts;
  reference.routing_counts(want_counts);
  ep.routing_counts(got_counts);
  EXPECT_EQ(got_counts.counts, want_counts.counts);
  EXPECT_EQ(got_counts.moe_layer_ids, want_counts.moe_layer_ids);
  const auto stats = ep.rank_stats();
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats[0].bytes_sent, 0);  // nothing leaves the only rank
  EXPECT_EQ(stats[0].rows_computed, stats[0].rows_dispatched);
  EXPECT_GT(stats[0].rows_computed, 0);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, OneRankExpertParallel,
                         ::testing::Values("mixtral-f32", "mixtral-bf16", "mixtral-f32-fused", "qwen2moe-f32",
                                           "qwen2moe-bf16", "qwen3moe-f32", "qwen3moe-bf16", "olmoe-f32", "olmoe-bf16"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

TEST(ExpertShard, LoadsOnlyTheRanksExperts) {
  auto be = sy::make_cpu_backend();
  const fs::path dir = kModels / "mixtral-f32";
  auto full = sy::load_model(dir, *be);
  const auto placements = sy::uniform_placements(full->config, sy::round_robin_placement(6, 4));
  for (const char* name : {"mixtral-f32", "mixtral-f32-fused"}) {
    auto shard = sy::load_expert_shard(kModels / name, *be, placements, 1);  // experts 1 and 5
    const sy::MoeWeights& m = shard->weights.layers[0].moe;
    EXPECT_EQ(m.expert_ids, (std::vector<int32_t>{1, 5}));
    ASSERT_EQ(m.gate_up.shape, (std::vector<int64_t>{2, 32, 32}));
    ASSERT_EQ(m.down.shape, (std::vector<int64_t>{2, 32, 16}));
    const sy::MoeWeights& f = full->weights.layers[0].moe;
    const size_t gu = 32 * 32 * sizeof(float), dn = 32 * 16 * sizeof(float);
    const char* fg = static_cast<const char*>(f.gate_up.data());
    const char* mg = static_cast<const char*>(m.gate_up.data());
    EXPECT_EQ(std::memcmp(mg, fg + 1 * gu, gu), 0) << name;
    EXPECT_EQ(std::memcmp(mg + gu, fg + 5 * gu, gu), 0) << name;
    EXPECT_EQ(std::memcmp(static_cast<const char*>(m.down.data()) + dn, static_cast<const char*>(f.down.data()) + 5 * dn,
                          dn),
              0)
        << name;
  }
  const std::vector<int64_t> bytes = sy::expert_bytes_per_rank(full->config, placements);
  EXPECT_EQ(bytes, (std::vector<int64_t>{2 * 2 * 3 * 16 * 32 * 4, 2 * 2 * 3 * 16 * 32 * 4, 2 * 1 * 3 * 16 * 32 * 4,
                                         2 * 1 * 3 * 16 * 32 * 4}));
}

// A rank's device memory plan counts only the expert slots it can hold, so the KV cache gets
// the memory the other ranks' experts would have taken.
TEST(ShardMemoryPlan, CountsOnlyTheRanksExpertSlots) {
  const sy::ModelConfig c = sy::ModelConfig::from_model_dir(kModels / "qwen3moe-bf16");
  const sy::MemoryPlanOptions options{.kv_share = 0.9, .max_tokens_per_step = 256, .max_seqs_per_step = 16, .block_size = 16};
  const sy::MemoryPlanModel whole = sy::memory_plan_model(c, sy::DType::kBF16, options);
  const int64_t per_expert = 3 * int64_t(c.hidden_size) * c.moe_intermediate_size;
  const int64_t E = c.num_experts, L = whole.num_moe_layers;
  ASSERT_GT(L, 0);
  const auto params = [&](int ranks, int redundant) {
    return sy::count_weight_params(sy::shard_memory_plan_model(c, sy::DType::kBF16, options, ranks, redundant));
  };
  const int64_t all = sy::count_weight_params(whole);
  EXPECT_EQ(all - params(2, 0), L * (E - (E + 1) / 2) * per_expert);
  // Two replica slots per layer: ceil((E + 2) / 2) slots a rank must be able to hold.
  EXPECT_EQ(all - params(2, 2), L * (E - (E + 3) / 2) * per_expert);
  EXPECT_EQ(params(1, 0), all);
  EXPECT_EQ(params(2, int(E)), all);  // every expert on every rank
  // Same device: a shard leaves more memory for KV blocks.
  const size_t free_bytes = size_t(sy::count_weight_params(whole)) * 2 + (size_t(1) << 30);
  const sy::MemoryPlan one = sy::plan_memory(whole, free_bytes, 0.9);
  const sy::MemoryPlan shard = sy::plan_memory(sy::shard_memory_plan_model(c, sy::DType::kBF16, options, 4, 0), free_bytes, 0.9);
  EXPECT_LT(shard.weight_bytes, one.weight_bytes);
  EXPECT_GT(shard.kv_blocks, one.kv_blocks);
}
