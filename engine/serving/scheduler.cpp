#include "engine/serving/scheduler.h"

#include <algorithm>
#include <stdexcept>

namespace sy {

Scheduler::Scheduler(const SchedulerConfig& config, int32_t num_blocks, int32_t block_size)
    : config_(checked(config)), blocks_(num_blocks, block_size, config.kv_partitions),
      capacity_(config, blocks_), micro_batch_(config) {}

const SchedulerConfig& Scheduler::checked(const SchedulerConfig& config) {
  if (auto err = config.validate(); !err.empty()) throw std::invalid_argument("scheduler: " + err);
  return config;
}

std::string Scheduler::check_fits(int64_t num_prompt_tokens, int64_t max_new_tokens) const {
  const int64_t total = num_prompt_tokens + max_new_tokens;
  if (total > config_.max_model_len)
    return "prompt (" + std::to_string(num_prompt_tokens) + " tokens) + max_tokens (" +
           std::to_string(max_new_tokens) + ") exceeds max_model_len " +
           std::to_string(config_.max_model_len);
  // A sequence never spans KV partitions (ranks), so one partition must hold it.
  if (blocks_.blocks_for_tokens(total) > blocks_.blocks_per_partition())
    return "prompt + max_tokens needs " + std::to_string(blocks_.blocks_for_tokens(total)) +
           " KV blocks, the cache has " + std::to_string(blocks_.blocks_per_partition()) +
           (blocks_.num_partitions() > 1 ? " per rank" : "");
  return {};
}

void Scheduler::add(Sequence* seq) {
  seq->status = SequenceStatus::kWaiting;
  waiting_.push_back(seq);
}

SchedulerOutput Scheduler::schedule() {
  SchedulerOutput out;
  CapacityResult cap = capacity_.schedule(waiting_, running_);
  num_preemptions_ += cap.preempted.size();
  out.preempted = std::move(cap.preempted);
  out.admitted = std::move(cap.admitted);
  out.scheduled = micro_batch_.schedule(running_);
  return out;
}

void Scheduler::commit(const std::vector<ScheduledSequence>& scheduled) {
  for (const ScheduledSequence& s : scheduled) {
    s.seq->num_computed_tokens += s.num_new_tokens;
    blocks_.cache_full_blocks(*s.seq);
  }
}

void Scheduler::finish(Sequence* seq) {
  if (seq->status == SequenceStatus::kRunning) {
    running_.erase(std::remove(running_.begin(), running_.end(), seq), running_.end());
    blocks_.free(*seq);
  } else if (seq->status == SequenceStatus::kWaiting) {
    waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), seq), waiting_.end());
  }
  seq->status = SequenceStatus::kFinished;
}

}  // namespace sy
