// Sequence: one generated continuation and the KV-cache state the scheduler tracks for it.
// Position in the flow: request -> [sequence] -> scheduler/block manager -> runner -> sampler.
// A request with n > 1 owns n sequences over the same prompt. The scheduler and the block
// manager see only sequences; the engine maps them back to their request.
#pragma once

#include <cstdint>
#include <vector>

namespace sy {

struct Request;  // engine/serving/request.h

enum class SequenceStatus : uint8_t {
  kWaiting,   // in the waiting queue (new, or preempted and waiting to be recomputed)
  kRunning,   // holds KV blocks and takes part in steps
  kFinished,  // done; holds no blocks
};

struct Sequence {
  int64_t id = 0;            // unique within the engine
  int32_t index = 0;         // 0..n-1 within its request
  uint64_t arrival = 0;      // FCFS order: lower arrives first, is preempted last
  Request* request = nullptr;

  std::vector<int32_t> token_ids;  // [num_prompt_tokens + num_output_tokens]
  int32_t num_prompt_tokens = 0;
  // Leading tokens whose K/V are in the cache. Preemption resets it to 0 (recompute); a
  // prefix-cache hit at admission starts it at the length of the hit.
  int32_t num_computed_tokens = 0;

  SequenceStatus status = SequenceStatus::kWaiting;
  std::vector<int32_t> block_table;   // KV block ids covering token_ids, in order
  // Chained hashes of the full blocks of token_ids seen so far (a pure function of the
  // tokens, kept across preemptions so they are hashed once).
  std::vector<uint64_t> block_hashes;
  // Leading entries of block_table already offered to the prefix cache.
  int32_t num_cache_checked_blocks = 0;
  int32_t num_cached_prompt_tokens = 0;  // prefix-cache hit length at the first admission
  int32_t num_preemptions = 0;

  int32_t num_tokens() const { return static_cast<int32_t>(token_ids.size()); }
  int32_t num_output_tokens() const { return num_tokens() - num_prompt_tokens; }
  // Tokens whose K/V still have to be computed before the next token can be sampled.
  int32_t num_uncomputed_tokens() const { return num_tokens() - num_computed_tokens; }
  bool is_prefilling() const { return num_uncomputed_tokens() > 1; }
};

}  // namespace sy
