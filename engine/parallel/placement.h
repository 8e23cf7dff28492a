// Expert placement: which rank holds which routed experts of one MoE layer (DESIGN.md §4.4).
// Position in the flow: chosen at start (and from routing statistics) -> decides which experts a
// rank loads (engine/model weights) and where the MoE dispatch sends each (token, expert) row.
//
//  - contiguous (default): rank r holds experts [r*E/R, (r+1)*E/R) — neighbouring experts on one
//    rank, so a dispatch in ascending expert order is already grouped by destination;
//  - round-robin: expert e on rank e % R;
//  - balanced (EPLB-style): from per-expert routed-token counts, give the hottest experts extra
//    replicas (greedy: each extra slot goes to the expert with the largest load per replica),
//    then pack replicas onto ranks heaviest first, each onto the least-loaded rank that has a
//    free slot and no copy of that expert yet. A replica takes an equal share of its expert's
//    tokens (the dispatcher spreads an expert's rows round-robin over its replicas).
// Every rank holds the same number of slots +-1; a slot is one expert's weights.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace sy {

struct ExpertPlacement {
  int num_experts = 0;
  int num_ranks = 0;
  // [num_ranks][slots of that rank]: logical expert id of each local slot, ascending.
  std::vector<std::vector<int32_t>> rank_experts;
  // [num_experts][replicas]: ranks holding each expert, ascending.
  std::vector<std::vector<int32_t>> expert_ranks;

  int num_slots(int rank) const { return int(rank_experts[size_t(rank)].size()); }
  int max_slots() const;
  int total_slots() const;
  // Local slot of `expert` on `rank`, or -1 when the rank has no copy.
  int slot_of(int rank, int expert) const;
  // Throws std::logic_error naming the broken invariant (every expert held at least once, no
  // rank holding an expert twice, the two views agreeing).
  void validate() const;
  // "rank 0: 0 1 2 | rank 1: 3 4 5 (+2)" — one line per placement for logs and GetModelInfo.
  std::string describe() const;
};

ExpertPlacement contiguous_placement(int num_experts, int num_ranks);
ExpertPlacement round_robin_placement(int num_experts, int num_ranks);
// EPLB-style replicas and packing from per-expert routed-token counts (`expert_load` holds one
// count per expert). num_redundant extra slots in total; an expert never gets more replicas
// than there are ranks.
ExpertPlacement balanced_placement(std::span<const uint64_t> expert_load, int num_ranks, int num_redundant);

// Tokens each rank is expected to process when each expert's load splits evenly over its
// replicas.
std::vector<double> rank_loads(const ExpertPlacement& p, std::span<const uint64_t> expert_load);
// max / mean of rank_loads (1 = perfectly balanced; 0 when there is no load).
double load_imbalance(const ExpertPlacement& p, std::span<const uint64_t> expert_load);

}  // namespace sy
