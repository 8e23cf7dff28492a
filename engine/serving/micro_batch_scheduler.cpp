#include "engine/serving/micro_batch_scheduler.h"

#include <algorithm>

namespace sy {

std::vector<ScheduledSequence> MicroBatchScheduler::schedule(
    const std::vector<Sequence*>& running) const {
  std::vector<ScheduledSequence> batch;
  int32_t budget = config_.max_num_batched_tokens;
  for (Sequence* seq : running) {
    if (budget == 0) break;
    if (seq->num_uncomputed_tokens() == 1) {
      batch.push_back({seq, 1});
      --budget;
    }
  }
  for (Sequence* seq : running) {
    if (budget == 0) break;
    const int32_t remaining = seq->num_uncomputed_tokens();
    if (remaining > 1) {
      const int32_t chunk = std::min(remaining, budget);
      batch.push_back({seq, chunk});
      budget -= chunk;
    }
  }
  return batch;
}

}  // namespace sy
