// Expert placement policies (engine/parallel/placement.h): contiguous, round-robin and the
// EPLB-style balanced placement with replicas of hot experts. Policy code, no model.
#include <algorithm>
#include <numeric>
#include <vector>

#include <gtest/gtest.h>

#include "engine/parallel/placement.h"

using sy::ExpertPlacement;

namespace {

std::vector<int32_t> v(std::initializer_list<int32_t> l) { return l; }

}  // namespace

TEST(Placement, ContiguousSplitsInOrderWithRemainderOnFirstRanks) {
  ExpertPlacement p = sy::contiguous_placement(6, 4);
  EXPECT_EQ(p.rank_experts[0], v({0, 1}));
  EXPECT_EQ(p.rank_experts[1], v({2, 3}));
  EXPECT_EQ(p.rank_experts[2], v({4}));
  EXPECT_EQ(p.rank_experts[3], v({5}));
  EXPECT_EQ(p.expert_ranks[3], v({1}));
  EXPECT_EQ(p.slot_of(1, 3), 1);
  EXPECT_EQ(p.slot_of(0, 3), -1);
  EXPECT_EQ(p.total_slots(), 6);
  EXPECT_EQ(p.max_slots(), 2);
  EXPECT_EQ(p.describe(), "rank 0: 0 1 | rank 1: 2 3 | rank 2: 4 | rank 3: 5");
}

TEST(Placement, RoundRobinDealsExperts) {
  ExpertPlacement p = sy::round_robin_placement(5, 2);
  EXPECT_EQ(p.rank_experts[0], v({0, 2, 4}));
  EXPECT_EQ(p.rank_experts[1], v({1, 3}));
  EXPECT_EQ(p.expert_ranks[4], v({0}));
}

TEST(Placement, RejectsMoreRanksThanExperts) {
  EXPECT_THROW(sy::contiguous_placement(2, 3), std::invalid_argument);
  EXPECT_THROW(sy::round_robin_placement(0, 1), std::invalid_argument);
}

TEST(Placement, BalancedWithoutReplicasPacksHeaviestFirst) {
  // Loads 8,7,6,5,4,3 over 2 ranks: greedy gives {8,5,4}=17 / {7,6,3}=16.
  const std::vector<uint64_t> load = {8, 7, 6, 5, 4, 3};
  ExpertPlacement p = sy::balanced_placement(load, 2, 0);
  EXPECT_EQ(p.total_slots(), 6);
  std::vector<double> per_rank = sy::rank_loads(p, load);
  EXPECT_DOUBLE_EQ(std::max(per_rank[0], per_rank[1]), 17.0);
  EXPECT_DOUBLE_EQ(per_rank[0] + per_rank[1], 33.0);
  EXPECT_EQ(p.num_slots(0), 3);
  EXPECT_EQ(p.num_slots(1), 3);
}

TEST(Placement, ReplicasGoToTheHottestExpertAndSplitItsLoad) {
  // Expert 2 takes 90% of the tokens: every replica goes to it, one per rank.
  const std::vector<uint64_t> load = {10, 10, 900, 10, 10, 10, 10, 10};
  const ExpertPlacement contiguous = sy::contiguous_placement(8, 4);
  ExpertPlacement p = sy::balanced_placement(load, 4, 3);
  EXPECT_EQ(p.total_slots(), 11);
  EXPECT_EQ(p.expert_ranks[2], v({0, 1, 2, 3}));
  for (int e = 0; e < 8; ++e)
    if (e != 2) EXPECT_EQ(p.expert_ranks[size_t(e)].size(), 1u) << "expert " << e;
  EXPECT_GT(sy::load_imbalance(contiguous, load), 3.5);  // one rank holds 910 of 970
  EXPECT_LT(sy::load_imbalance(p, load), 1.1);
  for (int r = 0; r < 4; ++r) EXPECT_LE(p.num_slots(r), 3);
}

TEST(Placement, ReplicasNeverExceedOneCopyPerRank) {
  const std::vector<uint64_t> load = {1000, 1, 1, 1};
  ExpertPlacement p = sy::balanced_placement(load, 2, 6);  // asks for more than fits
  EXPECT_EQ(p.expert_ranks[0], v({0, 1}));
  for (int r = 0; r < 2; ++r)
    EXPECT_TRUE(std::is_sorted(p.rank_experts[size_t(r)].begin(), p.rank_experts[size_t(r)].end()));
}

TEST(Placement, SeveralHotExpertsShareTheRedundantSlots) {
  const std::vector<uint64_t> load = {400, 300, 10, 10, 10, 10};
  ExpertPlacement p = sy::balanced_placement(load, 3, 3);
  // Slot 1 -> expert 0 (share 400), slot 2 -> expert 1 (300 beats 400/2 = 200? no: 300 > 200),
  // slot 3 -> expert 0 again (its share 200 beats expert 1's 150).
  EXPECT_EQ(p.expert_ranks[0].size(), 3u);
  EXPECT_EQ(p.expert_ranks[1].size(), 2u);
  EXPECT_EQ(p.total_slots(), 9);
  EXPECT_LT(sy::load_imbalance(p, load), sy::load_imbalance(sy::contiguous_placement(6, 3), load));
}

TEST(Placement, ZeroLoadIsBalancedBySlotCount) {
  const std::vector<uint64_t> load(6, 0);
  ExpertPlacement p = sy::balanced_placement(load, 3, 0);
  for (int r = 0; r < 3; ++r) EXPECT_EQ(p.num_slots(r), 2);
  EXPECT_EQ(sy::load_imbalance(p, load), 0.0);
}

TEST(Placement, ValidateCatchesBrokenPlacements) {
  ExpertPlacement p = sy::contiguous_placement(4, 2);
  p.expert_ranks[3].clear();
  EXPECT_THROW(p.validate(), std::logic_error);
  ExpertPlacement q = sy::contiguous_placement(4, 2);
  q.rank_experts[1] = {3, 2};
  EXPECT_THROW(q.validate(), std::logic_error);
  EXPECT_THROW(sy::rank_loads(sy::contiguous_placement(4, 2), std::vector<uint64_t>(3, 1)), std::invalid_argument);
}
