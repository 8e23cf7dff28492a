// Batch builder: the scheduler's plan -> the ForwardBatch the model runs (nano-vllm's
// prepare_prefill/prepare_decode in one pass, since chunked prefill mixes both).
// Position in the flow: scheduler -> [batch builder] -> runner -> sampler.
#pragma once

#include <vector>

#include "engine/model/forward_batch.h"
#include "engine/serving/micro_batch_scheduler.h"

namespace sy {

// For each scheduled sequence: its new tokens (starting at num_computed_tokens), their
// positions and KV slots, its context length and block table. Sequences that sample this
// step get a logits row, in the order they appear in `scheduled`.
ForwardBatch build_forward_batch(const std::vector<ScheduledSequence>& scheduled,
                                 int32_t block_size);

}  // namespace sy
