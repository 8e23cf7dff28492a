// Micro-batch step of the scheduler: which tokens of the sequences holding KV run this step,
// under the per-step token budget (max_num_batched_tokens).
// Position in the flow: request -> [scheduler: capacity -> micro-batch] -> runner -> sampler.
//
// Decodes go first (one token each, oldest first) so inter-token latency stays flat while
// prompts arrive; the rest of the budget goes to prefill chunks, oldest first (chunked
// prefill: a long prompt is split over several steps, mixed with other sequences' decodes).
#pragma once

#include <vector>

#include "engine/serving/scheduler_config.h"
#include "engine/serving/sequence.h"

namespace sy {

struct ScheduledSequence {
  Sequence* seq = nullptr;
  int32_t num_new_tokens = 0;  // tokens computed this step, starting at seq->num_computed_tokens
  // The chunk reaches the sequence's last token: its logits are sampled this step.
  bool samples() const { return seq->num_computed_tokens + num_new_tokens == seq->num_tokens(); }
};

class MicroBatchScheduler {
 public:
  explicit MicroBatchScheduler(const SchedulerConfig& config) : config_(config) {}

  // running: sorted by arrival. Returns decodes first, then prefill chunks.
  std::vector<ScheduledSequence> schedule(const std::vector<Sequence*>& running) const;

 private:
  SchedulerConfig config_;
};

}  // namespace sy
