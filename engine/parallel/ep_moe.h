// Expert-parallel MoE block: the MoE layer when experts are spread over ranks (DESIGN.md §2,
// "with EP: all-to-all to the expert's rank"). Position in the flow: runner -> [this] -> runner.
//
// Per layer, on every rank, for that rank's own tokens (data-parallel attention):
//   route         router -> top-k (expert, weight) per token, as the single-rank block
//   layout        (host) each (token, expert) pair picks a destination: a rank holding the
//                 expert (replicas take turns) and its local slot there; pairs are ordered by
//                 (destination rank, slot) — the send order
//   notify        all_to_all of row counts per (source, destination slot)
//   dispatch      gather the token rows in send order, all_to_all_v them to their ranks
//   experts       regroup received rows by local slot, grouped GEMM gate_up -> SwiGLU ->
//                 grouped GEMM down over the rank's local experts, restore arrival order
//   combine       all_to_all_v the expert outputs back; the weighted sum per token runs the same
//                 moe_combine as the single-rank block (ascending expert id per token), so the
//                 results are the same numbers
//   shared        shared expert on the rank's own tokens
// A rank with no tokens still takes part in both all-to-alls (it may hold experts others use).
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "engine/backend/backend.h"
#include "engine/model/config.h"
#include "engine/parallel/communicator.h"
#include "engine/parallel/moe_dispatcher.h"
#include "engine/parallel/placement.h"

namespace sy {

// Cumulative counters of this rank's expert-parallel traffic.
struct EpTrafficStats {
  int64_t bytes_sent = 0;        // token rows sent in dispatch + expert outputs sent in combine (not to self)
  int64_t bytes_received = 0;
  int64_t rows_dispatched = 0;   // (token, expert) rows this rank's tokens sent out, self included
  int64_t rows_computed = 0;     // rows this rank's experts computed for all ranks
  std::chrono::nanoseconds dispatch_time{0};  // notify + dispatch all-to-alls
  std::chrono::nanoseconds combine_time{0};   // combine all-to-all
};

class ExpertParallelMoe final : public MoeDispatcher {
 public:
  // placements: one per MoE layer, in layer order. The weights passed to run() must stack
  // exactly placements[i].rank_experts[comm.rank()] (MoeWeights::expert_ids).
  ExpertParallelMoe(Backend& be, const ModelConfig& config, Communicator& comm, std::vector<ExpertPlacement> placements);

  void run(int moe_index, const MoeWeights& w, const MoeBlockArgs& a, ScratchArena& scratch) override;

  const EpTrafficStats& stats() const { return stats_; }
  const std::vector<ExpertPlacement>& placements() const { return placements_; }
  // New placements (same layer count, model and job); the caller reloads the weights to match.
  void set_placements(std::vector<ExpertPlacement> placements);

 private:
  // Host-side plan of one layer's dispatch on this rank.
  struct Layout {
    std::vector<int32_t> send_pairs;   // [rows] pair index p = t*K + j in send order
    std::vector<int32_t> pair_to_row;  // [T*K] row of each pair in the send (and return) order
    std::vector<int64_t> slot_counts;  // [R * max_slots] rows for (destination rank, slot)
    std::vector<int32_t> expert_offsets;  // [E + 1] this rank's pairs per logical expert
  };
  Layout make_layout(const ExpertPlacement& p, const std::vector<int32_t>& topk_ids) const;

  Backend& be_;
  const ModelConfig& config_;
  Communicator& comm_;
  std::vector<ExpertPlacement> placements_;
  EpTrafficStats stats_;
};

}  // namespace sy
