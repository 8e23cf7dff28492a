// Step plans: what rank 0 tells the workers each engine step (DESIGN.md §4.4, "rank 0 runs the
// front end and the scheduler and broadcasts each step's plan; workers follow in lockstep").
// Position in the flow: scheduler (rank 0) -> [plan] -> every rank's runner.
//
// Data-parallel attention: each sequence of the batch belongs to one rank, which runs its
// attention, keeps its KV blocks and computes its logits. Rank 0's block manager numbers the
// blocks of all ranks together: N contiguous partitions of blocks_per_rank blocks, partition r
// held by rank r (block_manager.h places every block of a sequence, its growth and its
// prefix-cache hits in one partition). The owner of a sequence is the partition of its first
// block, and each rank allocates only blocks_per_rank blocks: its share of a batch has its
// block ids and KV slots translated from global to local.
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

// How the global block ids split over the ranks.
struct KvPartitioning {
  int32_t blocks_per_rank = 0;  // partition r: blocks [r * blocks_per_rank, (r + 1) * blocks_per_rank)
  int32_t block_size = 16;      // tokens per block
};

// Rank owning sequence `seq` of `b` (see the header comment).
int sequence_owner(const ForwardBatch& b, int seq, const KvPartitioning& kv);

// One rank's share of a batch.
struct RankShare {
  ForwardBatch batch;                     // its sequences, in batch order, re-indexed, local block ids
  std::vector<int32_t> logits_positions;  // for each of its logits rows: index into b.logits_indices
};
// Throws std::invalid_argument when one of the rank's sequences has a block in another partition.
RankShare rank_share(const ForwardBatch& b, int rank, const KvPartitioning& kv);

}  // namespace sy

namespace sy {

// Rank 0 checks a batch before broadcasting it: a batch one rank rejects halfway through a step
// would leave its peers waiting in a collective. Throws std::invalid_argument naming the field.
void validate_plan(const ForwardBatch& b, int vocab_size, int32_t num_kv_blocks, int32_t block_size);

}  // namespace sy
