// Step plans: what rank 0 tells the workers each engine step (DESIGN.md §4.4, "rank 0 runs the
// front end and the scheduler and broadcasts each step's plan; workers follow in lockstep").
// Position in the flow: scheduler (rank 0) -> [plan] -> every rank's runner.
//
// Data-parallel attention: each sequence of the batch belongs to one rank, which runs its
// attention, keeps its KV blocks and computes its logits. The owner is a function of the
// sequence's first KV block id, which (a) does not change while the sequence lives, so its KV
// stays where it was written, and (b) is shared by every sequence that reuses its cached prefix
// (prefix blocks are hash-chained from the first block), so shared blocks are read where they
// were written.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/model/forward_batch.h"

namespace sy {

enum class PlanKind : uint32_t { kForward = 1, kHeartbeat = 2, kShutdown = 3, kRebalance = 4 };

// Fixed-size first message of every plan; a forward plan's batch follows in payload_bytes.
struct PlanHeader {
  uint32_t magic = 0x53594550;  // "SYEP": catches a peer out of step
  PlanKind kind = PlanKind::kHeartbeat;
  int64_t step = 0;
  int64_t payload_bytes = 0;
};

std::vector<char> serialize_batch(const ForwardBatch& b);
// Throws std::runtime_error when the bytes are not a serialized batch.
ForwardBatch deserialize_batch(const std::vector<char>& bytes);

// Rank owning sequence `seq` of `b` among `num_ranks` (see the header comment).
int sequence_owner(const ForwardBatch& b, int seq, int num_ranks);

// One rank's share of a batch.
struct RankShare {
  ForwardBatch batch;                     // its sequences, in batch order, re-indexed
  std::vector<int32_t> logits_positions;  // for each of its logits rows: index into b.logits_indices
};
RankShare rank_share(const ForwardBatch& b, int rank, int num_ranks);

}  // namespace sy

namespace sy {

// Rank 0 checks a batch before broadcasting it: a batch one rank rejects halfway through a step
// would leave its peers waiting in a collective. Throws std::invalid_argument naming the field.
void validate_plan(const ForwardBatch& b, int vocab_size, int32_t num_kv_blocks, int32_t block_size);

}  // namespace sy
