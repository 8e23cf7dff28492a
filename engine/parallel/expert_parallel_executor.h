// ExpertParallelExecutor: a ModelExecutor spread over the ranks of an MPI job (DESIGN.md §4.4).
// Position in the flow: engine loop (rank 0) -> [this] -> ModelRunner on every rank.
//
// Every rank loads the non-expert weights whole and only its placement's experts, and owns a
// ModelRunner whose MoE layers go through ExpertParallelMoe. Rank 0 runs the serving engine and
// calls forward(): it broadcasts the step's batch, runs its own share of the sequences, and
// gathers the other ranks' logits (and routing counters). Ranks != 0 call serve_worker(), which
// follows rank 0's plans in lockstep until rank 0 says stop.
//
// Liveness: while rank 0 is idle it sends a heartbeat plan every heartbeat interval (a quarter
// of the collective timeout), answered by a barrier, so a dead or hung rank is noticed within
// about 1.25 timeouts whether or not requests are running. A failed collective calls the fault
// handler (default: log the message naming the rank, exit with kCommFailureExitCode — mpirun
// then ends the remaining ranks).
//
// KV memory: each rank's runner holds only its share of the cache (blocks_per_rank blocks);
// the engine on rank 0 sees all ranks' blocks as one cache of num_ranks partitions (see
// step_plan.h), so N ranks hold N times the KV capacity of one.
//
// Live EPLB: with an EplbSchedule, forward() rebalances every interval_steps steps before it
// runs the step (between engine steps, in lockstep), from the routing counts of the steps
// since the previous rebalance.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/model/executor.h"
#include "engine/model/memory_plan_model.h"
#include "engine/model/model.h"
#include "engine/model/model_runner.h"
#include "engine/parallel/communicator.h"
#include "engine/parallel/ep_moe.h"
#include "engine/parallel/placement.h"
#include "engine/parallel/step_plan.h"

namespace sy {

inline constexpr int kCommFailureExitCode = 3;

// Loads the model with only `rank`'s experts of every MoE layer (placements in MoE-layer order).
std::shared_ptr<Model> load_expert_shard(const std::filesystem::path& dir, Backend& backend,
                                         const std::vector<ExpertPlacement>& placements, int rank);

// The same placement for every MoE layer of a model.
std::vector<ExpertPlacement> uniform_placements(const ModelConfig& config, const ExpertPlacement& p);

// The device memory plan's model for one rank of an expert-parallel job: the whole model less
// the routed experts the rank does not hold. EPLB may give a rank up to
// ceil((num_experts + redundant_experts) / num_ranks) slots per layer, so that many are planned.
MemoryPlanModel shard_memory_plan_model(const ModelConfig& config, DType weight_dtype, const MemoryPlanOptions& options,
                                        int num_ranks, int redundant_experts);

// Bytes of routed-expert weights each rank holds, summed over MoE layers.
std::vector<int64_t> expert_bytes_per_rank(const ModelConfig& config, const std::vector<ExpertPlacement>& placements);

// When rank 0 rebalances the experts while serving (--eplb-interval-steps,
// --eplb-redundant-experts).
struct EplbSchedule {
  int64_t interval_steps = 0;  // 0: never
  int num_redundant = 0;       // replica slots per MoE layer
};

// The last live rebalance: what it was computed from.
struct EplbStatus {
  EplbSchedule schedule;
  uint64_t rebalances = 0;
  int64_t window_first_step = 0, window_last_step = 0;  // steps whose routing chose the placement
  uint64_t window_routed_rows = 0;                      // (token, expert) rows in that window, all layers
  double imbalance_before = 0, imbalance_after = 0;     // max/mean rank load over the window, worst layer
};

class ExpertParallelExecutor final : public ModelExecutor {
 public:
  // Called with a message naming the failed collective and the rank(s) that did not arrive.
  using FaultHandler = std::function<void(const std::string& message)>;

  // Same arguments on every rank; `model` from load_expert_shard for this rank; `kv_per_rank`:
  // the KV blocks each rank allocates (its partition of the engine's cache).
  // The executor replaces the model's routed-expert weights when it rebalances.
  ExpertParallelExecutor(std::shared_ptr<Model> model, KvCacheGeometry kv_per_rank, Communicator& comm,
                         std::vector<ExpertPlacement> placements);
  ~ExpertParallelExecutor() override;  // rank 0: stop()

  // ---- rank 0 ----
  void forward(const ForwardBatch& batch, std::vector<float>& logits) override;
  // Tells the workers to leave serve_worker(). Idempotent.
  void stop();
  // Live EPLB: recomputes every MoE layer's placement from the routing counts of all ranks
  // since the previous rebalance (or the start) — balanced_placement with num_redundant replica
  // slots per layer — and every rank reloads its routed experts from the checkpoint to match.
  // Runs between steps, in lockstep; KV caches and sequences are untouched, and logits stay the
  // same numbers. Returns the new placements (unchanged when no token was routed since).
  std::vector<ExpertPlacement> rebalance(int num_redundant);
  // Rebalance automatically from forward() on this schedule (set before serving starts).
  void set_eplb_schedule(const EplbSchedule& schedule);
  EplbStatus eplb_status() const;

  // ---- ranks != 0 ----
  // Follows rank 0's plans until it stops; returns normally then.
  void serve_worker();

  int vocab_size() const override { return runner_.vocab_size(); }
  int max_model_len() const override { return runner_.max_model_len(); }
  // The whole cache as the engine sees it: every rank's partition, num_ranks() of them.
  KvCacheGeometry kv_cache() const override;
  // What this rank's runner allocated: its partition only.
  KvCacheGeometry local_kv_cache() const { return runner_.kv_cache(); }
  // Rank 0: every rank's routing counts as of the last step.
  void routing_counts(RoutingCounts& out) const override;

  // Rank 0: each rank's traffic counters as of the last step.
  std::vector<EpTrafficStats> rank_stats() const;
  // A copy: gRPC threads read it while the engine thread may rebalance.
  std::vector<ExpertPlacement> placements() const;
  // Bytes of one routed expert's weights (gate, up, down) as loaded.
  uint64_t bytes_per_expert() const { return bytes_per_expert_; }
  int rank() const { return comm_.rank(); }
  int num_ranks() const { return comm_.size(); }
  // Replaces the default fault handler (e.g. to turn health NOT_SERVING before exiting).
  // Rank 0 takes the communicator lock, so the heartbeat thread never sees it half-set.
  void set_fault_handler(FaultHandler handler);

 private:
  // Runs this rank's share of `b`; returns its report (logits rows + counters) for rank 0.
  std::vector<char> run_share(const ForwardBatch& b);
  void send_plan(PlanKind kind, const std::vector<char>& payload);  // rank 0, holds comm_mutex_
  std::vector<ExpertPlacement> rebalance_locked(int num_redundant);  // rank 0, holds comm_mutex_
  // Every rank: new placements from the counts in a rebalance plan, experts reloaded.
  void apply_rebalance(const std::vector<char>& payload);
  void heartbeat_loop();
  [[noreturn]] void fail(const std::string& message);

  Communicator& comm_;
  std::shared_ptr<Model> model_;
  ModelRunner runner_;
  ExpertParallelMoe moe_;
  FaultHandler fault_handler_;
  KvPartitioning kv_partitioning_;
  uint64_t bytes_per_expert_ = 0;
  int64_t step_ = 0;

  // Rank 0, engine thread: live EPLB schedule and the window start.
  EplbSchedule eplb_;
  int64_t window_first_step_ = 1;
  RoutingCounts counts_at_window_start_;  // empty: the start

  // Rank 0: latest report of every rank, the placements as last applied, the EPLB status.
  mutable std::mutex stats_mutex_;
  std::vector<RoutingCounts> rank_routing_;
  std::vector<EpTrafficStats> rank_traffic_;
  std::vector<ExpertPlacement> placements_snapshot_;
  EplbStatus eplb_status_;

  // Rank 0: one thread talks to the communicator at a time (engine loop or heartbeat).
  std::mutex comm_mutex_;
  std::condition_variable wake_;
  bool stopped_ = false;
  std::chrono::steady_clock::time_point last_contact_;
  std::thread heartbeat_;
};

}  // namespace sy
