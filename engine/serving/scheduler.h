// Scheduler: the engine's view of all live sequences, and one step's plan.
// Position in the flow: request -> [scheduler] -> runner -> sampler -> postprocess.
//
// schedule() runs the capacity step (what holds KV: growth, preemption, admission; see
// capacity_scheduler.h) and then the micro-batch step (which tokens run under the token
// budget; see micro_batch_scheduler.h). After the model ran, commit() records the computed
// tokens and enters newly full blocks into the prefix cache; finish() releases a sequence.
#pragma once

#include <deque>
#include <string>
#include <vector>

#include "engine/serving/block_manager.h"
#include "engine/serving/capacity_scheduler.h"
#include "engine/serving/micro_batch_scheduler.h"
#include "engine/serving/scheduler_config.h"
#include "engine/serving/sequence.h"

namespace sy {

struct SchedulerOutput {
  std::vector<ScheduledSequence> scheduled;  // this step's batch (may be empty)
  std::vector<Sequence*> preempted;
  std::vector<Sequence*> admitted;
  int64_t num_tokens() const {
    int64_t n = 0;
    for (const auto& s : scheduled) n += s.num_new_tokens;
    return n;
  }
};

class Scheduler {
 public:
  // num_blocks: the whole cache, split into config.kv_partitions partitions.
  Scheduler(const SchedulerConfig& config, int32_t num_blocks, int32_t block_size);

  const SchedulerConfig& config() const { return config_; }
  BlockManager& block_manager() { return blocks_; }
  const BlockManager& block_manager() const { return blocks_; }

  // Empty if a sequence of num_prompt_tokens that may grow by max_new_tokens can ever run;
  // otherwise the reason (naming the limit it breaks).
  std::string check_fits(int64_t num_prompt_tokens, int64_t max_new_tokens) const;

  void add(Sequence* seq);  // to the back of the waiting queue
  SchedulerOutput schedule();
  // After the forward pass: advance num_computed_tokens, cache full blocks.
  void commit(const std::vector<ScheduledSequence>& scheduled);
  // Removes a sequence wherever it is (waiting or running), freeing its blocks.
  void finish(Sequence* seq);

  bool has_work() const { return !waiting_.empty() || !running_.empty(); }
  size_t num_waiting() const { return waiting_.size(); }
  size_t num_running() const { return running_.size(); }
  uint64_t num_preemptions() const { return num_preemptions_; }

 private:
  // Throws std::invalid_argument before any member is built from an inconsistent config.
  static const SchedulerConfig& checked(const SchedulerConfig& config);

  SchedulerConfig config_;
  BlockManager blocks_;
  CapacityScheduler capacity_;
  MicroBatchScheduler micro_batch_;
  std::deque<Sequence*> waiting_;
  std::vector<Sequence*> running_;  // sorted by arrival
  uint64_t num_preemptions_ = 0;
};

}  // namespace sy
