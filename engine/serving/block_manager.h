// BlockManager: the paged KV cache's bookkeeping (not its memory: the model runner owns that).
// Position in the flow: request -> scheduler -> [block manager] -> runner -> sampler.
//
// The cache is num_blocks blocks of block_size token slots. A sequence's block_table lists its
// blocks in token order; blocks are reference-counted so several sequences (n > 1 siblings,
// requests with a common prefix) can share the full blocks of a common prefix.
//
// Automatic prefix caching: once a block is full of computed tokens it gets a hash chained
// from the previous block's hash and its own tokens, and is entered in a hash -> block map.
// A new sequence whose leading full blocks hash the same reuses them instead of recomputing.
// Freed blocks keep their contents and hash; they sit in a free queue and are only evicted
// (least recently freed first) when a fresh block is needed. Blocks without a hash are reused
// before any cached one.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "engine/serving/sequence.h"

namespace sy {

struct PrefixCacheStats {
  uint64_t queried_tokens = 0;  // prompt tokens looked up at admission
  uint64_t hit_tokens = 0;      // of which found in the cache
};

class BlockManager {
 public:
  BlockManager(int32_t num_blocks, int32_t block_size);

  int32_t num_blocks() const { return num_blocks_; }
  int32_t block_size() const { return block_size_; }
  int32_t num_free_blocks() const { return num_free_; }  // ref count 0, cached or not
  int32_t num_used_blocks() const { return num_blocks_ - num_free_; }
  int32_t num_cached_blocks() const { return static_cast<int32_t>(cached_.size()); }
  int32_t blocks_for_tokens(int64_t num_tokens) const {
    return static_cast<int32_t>((num_tokens + block_size_ - 1) / block_size_);
  }
  const PrefixCacheStats& prefix_cache_stats() const { return stats_; }

  // Admission: can the sequence get blocks for all its current tokens (reusing cached ones)?
  bool can_allocate(Sequence& seq) const;
  // Gives a waiting sequence its block table: prefix-cache hits first, fresh blocks after.
  // Sets num_computed_tokens to the hit length (always leaving at least one token to compute,
  // since the last token's logits are needed).
  void allocate(Sequence& seq);
  // Decode growth: does the sequence need one more block for its tokens, and is one free?
  bool can_append(const Sequence& seq) const;
  void append(Sequence& seq);
  // Releases the sequence's blocks (finish, cancel, preemption); cached blocks stay reusable.
  void free(Sequence& seq);
  // After a step: enters the sequence's blocks that are now full of computed tokens into the
  // prefix cache.
  void cache_full_blocks(Sequence& seq);

  // Ref count of a block (tests and invariants).
  int32_t ref_count(int32_t block) const { return blocks_[block].ref_count; }

 private:
  struct Block {
    int32_t ref_count = 0;
    bool has_hash = false;
    uint64_t hash = 0;
    std::vector<int32_t> tokens;  // [block_size] contents, to rule out hash collisions
    int32_t prev = -1, next = -1;  // free-queue links while ref_count == 0
  };

  // Number of leading full blocks of seq that are in the cache (hit), at most enough to leave
  // one token uncomputed. Extends seq.block_hashes as a side effect of hashing.
  int32_t count_cache_hits(Sequence& seq, std::vector<int32_t>* hit_blocks) const;
  uint64_t block_hash(Sequence& seq, int32_t block_index) const;
  int32_t lookup(uint64_t hash, const int32_t* tokens) const;
  int32_t take_free_block();  // pops the queue head, evicting its hash
  void queue_push_front(int32_t b);
  void queue_push_back(int32_t b);
  void queue_remove(int32_t b);

  int32_t num_blocks_, block_size_;
  std::vector<Block> blocks_;
  int32_t queue_head_ = -1, queue_tail_ = -1, num_free_ = 0;
  std::unordered_map<uint64_t, int32_t> cached_;  // hash -> block
  PrefixCacheStats stats_;
};

}  // namespace sy
