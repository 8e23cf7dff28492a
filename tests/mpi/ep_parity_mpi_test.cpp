// Expert parallelism across ranks (mpirun -np 2 / -np 4): for every fixture, the logits of the
// multi-rank run equal those of a single-rank ModelRunner bit for bit — the per-row math is the
// same, only where it runs changes — with contiguous placement, round-robin placement, EPLB
// replicas, and routing skewed onto one rank. Rank 0 checks; the others serve its plans.
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/backend/backend.h"
#include "engine/model/model.h"
#include "engine/model/model_runner.h"
#include "engine/parallel/expert_parallel_executor.h"
#include "kernels/cpu/cpu_features.h"
#include "tests/mpi/ep_scenario.h"
#include "tests/mpi/mpi_test_env.h"

namespace fs = std::filesystem;

namespace {

const fs::path kModels = fs::path(SY_TEST_DATA_DIR) / "models";
const char* const kFixtures[] = {"mixtral-f32", "mixtral-bf16", "mixtral-f32-fused", "qwen2moe-f32", "qwen2moe-bf16",
                                 "qwen3moe-f32", "qwen3moe-bf16", "olmoe-f32",         "olmoe-bf16"};

enum class Policy { kContiguous, kRoundRobin, kReplicas };

// Every router row set to row 0: all experts tie, so every token picks experts 0..top_k-1
// (ties go to the lower id) — all the routed work lands on the rank(s) holding them.
void skew_router(sy::Model& m) {
  for (auto& layer : m.weights.layers) {
    if (!layer.is_moe) continue;
    sy::Weight& w = layer.moe.router;
    const size_t row = size_t(w.shape[1]) * sy::dtype_size(w.dtype);
    char* p = static_cast<char*>(w.buffer.get());
    for (int64_t e = 1; e < w.shape[0]; ++e) std::memcpy(p + size_t(e) * row, p, row);
  }
}

// Placements for `policy`; kReplicas uses a reference run's routing counts (EPLB-style, one
// extra slot per rank), shared from rank 0 so every rank builds the same placement.
std::vector<sy::ExpertPlacement> make_placements(Policy policy, const sy::ModelConfig& c,
                                                 const std::vector<std::vector<int64_t>>& counts) {
  sy::Communicator& w = sy::test::world();
  std::vector<sy::ExpertPlacement> out;
  for (size_t i = 0; i < counts.size(); ++i) {
    switch (policy) {
      case Policy::kContiguous: out.push_back(sy::contiguous_placement(c.num_experts, w.size())); break;
      case Policy::kRoundRobin: out.push_back(sy::round_robin_placement(c.num_experts, w.size())); break;
      case Policy::kReplicas: {
        std::vector<uint64_t> load(counts[i].begin(), counts[i].end());
        out.push_back(sy::balanced_placement(load, w.size(), w.size()));
        break;
      }
    }
  }
  return out;
}

struct RunResult {
  std::vector<sy::EpTrafficStats> stats;
  sy::RoutingCounts routing;
  std::vector<sy::ExpertPlacement> final_placements;
  sy::EplbStatus eplb;
};

// Runs the standard workload through the expert-parallel executor on every rank and compares
// rank 0's logits with a single-rank runner's. Returns rank 0's view of the run.
// rebalance_after: when >= 0, rank 0 calls rebalance(num_ranks) after that many steps (live
// EPLB from the counts so far) and the remaining steps run on the new placement. eplb: a
// schedule forward() rebalances on by itself, as the server does.
RunResult run_and_compare(const std::string& fixture, Policy policy, bool skewed, int rebalance_after = -1,
                          sy::EplbSchedule eplb = {}) {
  // Bit equality needs one summation order per row whatever else shares its matmul. The AMX
  // path (Isa::kAmx) takes bf16 segments of >= 16 rows and sums them in another order than the
  // vdpbf16ps path below that, and each rank's attention sees only its own sequences' rows, so
  // the comparison runs on the AVX-512 kernels (docs/perf/cpu.md, "AMX").
  struct CapIsa {
    sy::cpu::Isa previous = sy::cpu::set_active_isa(std::min(sy::cpu::active_isa(), sy::cpu::Isa::kAvx512));
    ~CapIsa() { sy::cpu::set_active_isa(previous); }
  } cap;
  sy::Communicator& world = sy::test::world();
  auto be = sy::make_cpu_backend();
  const fs::path dir = kModels / fixture;
  sy::test::Scenario sc;
  // The single-rank reference holds the whole cache; each rank of the job only its partition
  // (sequences 0..3 own blocks [5s, 5s + 5), so 2 or 4 ranks split them evenly).
  const sy::KvCacheGeometry kv{.num_blocks = sc.num_blocks(4), .block_size = sc.block_size()};
  const sy::KvCacheGeometry kv_per_rank{.num_blocks = kv.num_blocks / world.size(), .block_size = kv.block_size};

  // Rank 0 runs the reference first: its routing counts feed the replica placement.
  std::shared_ptr<sy::Model> full;
  std::vector<std::vector<float>> want;
  sy::RoutingCounts want_routing;
  const sy::ModelConfig config = sy::ModelConfig::from_model_dir(dir);
  int num_moe = 0;
  for (int l = 0; l < config.num_layers; ++l) num_moe += config.is_moe_layer(l) ? 1 : 0;
  std::vector<int64_t> flat_counts(size_t(num_moe) * config.num_experts, 0);
  if (world.rank() == 0) {
    full = sy::load_model(dir, *be);
    if (skewed) skew_router(*full);
    sy::ModelRunner reference(full, kv);
    sy::test::Scenario ref_sc;
    for (const sy::ForwardBatch& b : sy::test::standard_workload(config.vocab_size, ref_sc)) {
      want.emplace_back();
      reference.forward(b, want.back());
    }
    reference.routing_counts(want_routing);
    for (size_t i = 0; i < want_routing.counts.size(); ++i)
      for (size_t e = 0; e < want_routing.counts[i].size(); ++e)
        flat_counts[i * config.num_experts + e] = int64_t(want_routing.counts[i][e]);
  }
  world.broadcast(flat_counts.data(), int64_t(flat_counts.size() * sizeof(int64_t)), 0);
  std::vector<std::vector<int64_t>> counts(static_cast<size_t>(num_moe));
  for (int i = 0; i < num_moe; ++i)
    counts[size_t(i)].assign(flat_counts.begin() + i * config.num_experts,
                             flat_counts.begin() + (i + 1) * config.num_experts);
  const std::vector<sy::ExpertPlacement> placements = make_placements(policy, config, counts);

  auto shard = sy::load_expert_shard(dir, *be, placements, world.rank());
  if (skewed) skew_router(*shard);
  sy::ExpertParallelExecutor ep(shard, kv_per_rank, world, placements);
  // Each rank's runner allocated only its share; the engine's view is the whole cache.
  EXPECT_EQ(ep.local_kv_cache().num_blocks, kv.num_blocks / world.size()) << "rank " << world.rank();
  EXPECT_EQ(ep.kv_cache().num_blocks, kv.num_blocks);
  RunResult result;
  if (world.rank() != 0) {
    ep.serve_worker();
    return result;
  }
  ep.set_eplb_schedule(eplb);
  const auto steps = sy::test::standard_workload(config.vocab_size, sc);
  for (size_t s = 0; s < steps.size(); ++s) {
    if (int(s) == rebalance_after) ep.rebalance(world.size());
    std::vector<float> got;
    ep.forward(steps[s], got);
    EXPECT_EQ(got.size(), want[s].size()) << fixture << " step " << s;
    if (got.size() == want[s].size())
      EXPECT_EQ(std::memcmp(got.data(), want[s].data(), got.size() * sizeof(float)), 0)
          << fixture << " step " << s << ": logits differ from the single-rank run";
  }
  result.final_placements = ep.placements();
  result.eplb = ep.eplb_status();
  ep.stop();
  ep.routing_counts(result.routing);
  EXPECT_EQ(result.routing.counts, want_routing.counts) << fixture;
  result.stats = ep.rank_stats();
  int64_t dispatched = 0, computed = 0;
  for (const auto& s : result.stats) dispatched += s.rows_dispatched, computed += s.rows_computed;
  EXPECT_EQ(dispatched, computed) << "every dispatched row is computed exactly once";
  return result;
}

}  // namespace

TEST(ExpertParallel, ContiguousPlacementMatchesSingleRankForEveryFixture) {
  for (const char* f : kFixtures) run_and_compare(f, Policy::kContiguous, false);
}

TEST(ExpertParallel, RoundRobinPlacementMatchesSingleRank) {
  for (const char* f : {"mixtral-bf16", "qwen2moe-bf16", "qwen3moe-f32", "olmoe-bf16"})
    run_and_compare(f, Policy::kRoundRobin, false);
}

TEST(ExpertParallel, ReplicasGiveTheSameLogitsAsWithout) {
  for (const char* f : {"mixtral-bf16", "qwen3moe-bf16", "olmoe-f32"}) {
    RunResult r = run_and_compare(f, Policy::kReplicas, false);
    if (sy::test::world().rank() == 0) {
      ASSERT_EQ(r.stats.size(), size_t(sy::test::world().size()));
    }
  }
}

TEST(ExpertParallel, SkewedRoutingRunsOnOneRank) {
  sy::Communicator& world = sy::test::world();
  // Contiguous: experts 0..top_k-1 all live on rank 0, which computes every row.
  RunResult r = run_and_compare("mixtral-bf16", Policy::kContiguous, true);
  if (world.rank() == 0) {
    for (const auto& layer : r.routing.counts)
      for (size_t e = 2; e < layer.size(); ++e) EXPECT_EQ(layer[e], 0u) << "expert " << e;
    ASSERT_EQ(r.stats.size(), size_t(world.size()));
    EXPECT_GT(r.stats[0].rows_computed, 0);
    for (int rank = 1; rank < world.size(); ++rank) EXPECT_EQ(r.stats[size_t(rank)].rows_computed, 0) << rank;
  }
  // With replicas placed from those counts, the two hot experts are copied to every rank and
  // the work spreads — with the same logits.
  RunResult b = run_and_compare("mixtral-bf16", Policy::kReplicas, true);
  if (world.rank() == 0)
    for (int rank = 0; rank < world.size(); ++rank) EXPECT_GT(b.stats[size_t(rank)].rows_computed, 0) << rank;
}

TEST(ExpertParallel, LiveRebalanceFromRoutingStatsKeepsTheLogits) {
  sy::Communicator& world = sy::test::world();
  // Skewed routing, rebalanced after 3 steps: the hot experts get replicas on every rank, the
  // remaining steps spread over them, and every step's logits still match the single rank.
  RunResult r = run_and_compare("qwen3moe-bf16", Policy::kContiguous, true, 3);
  if (world.rank() == 0) {
    ASSERT_FALSE(r.final_placements.empty());
    for (const auto& p : r.final_placements) {
      EXPECT_EQ(p.total_slots(), p.num_experts + world.size());
      EXPECT_GT(p.expert_ranks[0].size(), 1u) << p.describe();
    }
    for (int rank = 1; rank < world.size(); ++rank) EXPECT_GT(r.stats[size_t(rank)].rows_computed, 0) << rank;
  }
  run_and_compare("qwen2moe-f32", Policy::kRoundRobin, false, 2);
}

TEST(ExpertParallel, ScheduledRebalancesBetweenStepsKeepTheLogits) {
  sy::Communicator& world = sy::test::world();
  // The server's schedule: every 2 steps, from the routing of those 2 steps, with one replica
  // slot per rank. Skewed routing makes the map change; the 7-step workload rebalances before
  // steps 3, 5 and 7, and the logits still match the single rank at every step.
  RunResult r = run_and_compare("qwen3moe-bf16", Policy::kContiguous, true, -1,
                                {.interval_steps = 2, .num_redundant = world.size()});
  if (world.rank() == 0) {
    EXPECT_EQ(r.eplb.rebalances, 3u);
    EXPECT_EQ(r.eplb.window_first_step, 5);
    EXPECT_EQ(r.eplb.window_last_step, 6);
    EXPECT_GT(r.eplb.window_routed_rows, 0u);
    EXPECT_LE(r.eplb.imbalance_after, r.eplb.imbalance_before);
    for (const auto& p : r.final_placements) EXPECT_GT(p.expert_ranks[0].size(), 1u) << p.describe();
  }
}
