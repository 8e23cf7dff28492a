#include "engine/serving/capacity_scheduler.h"

#include <algorithm>

namespace sy {

void CapacityScheduler::preempt(Sequence* seq) {
  blocks_.free(*seq);  // resets num_computed_tokens: the sequence is recomputed on re-admission
  seq->status = SequenceStatus::kWaiting;
  ++seq->num_preemptions;
}

CapacityResult CapacityScheduler::schedule(std::deque<Sequence*>& waiting,
                                           std::vector<Sequence*>& running) {
  CapacityResult result;
  for (size_t i = 0; i < running.size();) {
    Sequence* seq = running[i];
    // Only a sequence of the same KV partition can make room for this one.
    const int32_t partition = blocks_.partition_of(*seq);
    while (!blocks_.can_append(*seq)) {
      size_t victim = running.size() - 1;
      while (victim > i && blocks_.partition_of(*running[victim]) != partition) --victim;
      if (victim == i) break;
      preempt(running[victim]);
      result.preempted.push_back(running[victim]);
      running.erase(running.begin() + ptrdiff_t(victim));
    }
    if (!blocks_.can_append(*seq)) {  // seq is its partition's youngest: it yields to the older ones
      preempt(seq);
      result.preempted.push_back(seq);
      running.erase(running.begin() + ptrdiff_t(i));
      continue;
    }
    blocks_.append(*seq);
    ++i;
  }
  // Back to the front of the queue, oldest first, so they are re-admitted in arrival order.
  std::vector<Sequence*> requeue = result.preempted;
  std::stable_sort(requeue.begin(), requeue.end(),
                   [](const Sequence* a, const Sequence* b) { return a->arrival > b->arrival; });
  for (Sequence* seq : requeue) waiting.push_front(seq);
  if (!result.preempted.empty()) return result;

  while (!waiting.empty() && static_cast<int32_t>(running.size()) < config_.max_num_seqs) {
    Sequence* seq = waiting.front();
    if (!blocks_.can_allocate(*seq)) break;
    waiting.pop_front();
    blocks_.allocate(*seq);
    seq->status = SequenceStatus::kRunning;
    // A re-admitted preempted sequence keeps its seniority.
    auto pos = std::upper_bound(running.begin(), running.end(), seq,
                                [](const Sequence* a, const Sequence* b) { return a->arrival < b->arrival; });
    running.insert(pos, seq);
    result.admitted.push_back(seq);
  }
  return result;
}

}  // namespace sy
