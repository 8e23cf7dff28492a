// Capacity step of the scheduler (TensorRT-LLM's split): which sequences hold KV this step.
// Position in the flow: request -> [scheduler: capacity -> micro-batch] -> runner -> sampler.
//
// 1. Every running sequence, oldest first, gets the block its next token needs. When none is
//    free in its KV partition, the youngest running sequence of that partition is preempted
//    (its blocks freed, its tokens recomputed later) until one is; the oldest sequence of a
//    partition is therefore never preempted by a younger one, and since admission rejects what
//    can never fit in one partition, it always progresses (no livelock). With one partition
//    (a single device) this is simply "the youngest running sequence".
// 2. If nothing was preempted, waiting sequences are admitted in FCFS order while they fit in
//    KV (all their current tokens, reusing prefix-cache hits) and under max_num_seqs. The first
//    that does not fit stops admission, so a long prompt is not starved by short ones.
#pragma once

#include <deque>
#include <vector>

#include "engine/serving/block_manager.h"
#include "engine/serving/scheduler_config.h"
#include "engine/serving/sequence.h"

namespace sy {

struct CapacityResult {
  std::vector<Sequence*> preempted;  // moved from running to the front of waiting
  std::vector<Sequence*> admitted;   // moved from waiting to running
};

class CapacityScheduler {
 public:
  CapacityScheduler(const SchedulerConfig& config, BlockManager& blocks)
      : config_(config), blocks_(blocks) {}

  // running: sorted by arrival (oldest first), kept so. waiting: FCFS; preempted sequences
  // go back to its front, oldest first.
  CapacityResult schedule(std::deque<Sequence*>& waiting, std::vector<Sequence*>& running);

 private:
  void preempt(Sequence* seq);  // frees its blocks; the caller requeues it

  SchedulerConfig config_;
  BlockManager& blocks_;
};

}  // namespace sy
