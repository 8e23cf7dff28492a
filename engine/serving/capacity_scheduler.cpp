#include "engine/serving/capacity_scheduler.h"

#include <algorithm>

namespace sy {

void CapacityScheduler::preempt(Sequence* seq, std::deque<Sequence*>& waiting) {
  blocks_.free(*seq);  // resets num_computed_tokens: the sequence is recomputed on re-admission
  seq->status = SequenceStatus::kWaiting;
  ++seq->num_preemptions;
  waiting.push_front(seq);
}

CapacityResult CapacityScheduler::schedule(std::deque<Sequence*>& waiting,
                                           std::vector<Sequence*>& running) {
  CapacityResult result;
  for (size_t i = 0; i < running.size(); ++i) {
    Sequence* seq = running[i];
    while (!blocks_.can_append(*seq) && running.back() != seq) {
      Sequence* victim = running.back();
      running.pop_back();
      preempt(victim, waiting);
      result.preempted.push_back(victim);
    }
    if (!blocks_.can_append(*seq)) {  // seq is the youngest: it yields to the older ones
      running.pop_back();
      preempt(seq, waiting);
      result.preempted.push_back(seq);
      break;
    }
    blocks_.append(*seq);
  }
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
