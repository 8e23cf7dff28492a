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
//
// Partitions (data-parallel attention, DESIGN.md §4.4): under --expert-parallel N the block id
// space is N contiguous partitions of blocks_per_partition blocks, partition r living in rank
// r's KV memory. A sequence is placed on one partition when it is allocated (the one holding
// most of its prefix-cache hits, else the one with the most free blocks) and every block it
// ever holds comes from there: growth never borrows from another partition, preemption frees
// space only where it is needed, and each partition has its own free queue and prefix cache so
// a hit never points into another rank's memory. One partition (the default) is the plain
// single-device cache.
#pragma once

#include <cstddef>
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
  // num_blocks over all partitions; it must be a multiple of num_partitions.
  BlockManager(int32_t num_blocks, int32_t block_size, int32_t num_partitions = 1);

  int32_t num_blocks() const { return num_blocks_; }
  int32_t block_size() const { return block_size_; }
  int32_t num_partitions() const { return static_cast<int32_t>(parts_.size()); }
  int32_t blocks_per_partition() const { return blocks_per_partition_; }
  int32_t num_free_blocks() const;  // ref count 0, cached or not; all partitions
  int32_t num_free_blocks(int32_t partition) const { return parts_.at(size_t(partition)).num_free; }
  int32_t num_used_blocks() const { return num_blocks_ - num_free_blocks(); }
  int32_t num_cached_blocks() const;
  int32_t partition_of_block(int32_t block) const { return block / blocks_per_partition_; }
  // Partition of a sequence holding blocks (-1 when it holds none).
  int32_t partition_of(const Sequence& seq) const {
    return seq.block_table.empty() ? -1 : partition_of_block(seq.block_table.front());
  }
  int32_t blocks_for_tokens(int64_t num_tokens) const {
    return static_cast<int32_t>((num_tokens + block_size_ - 1) / block_size_);
  }
  const PrefixCacheStats& prefix_cache_stats() const { return stats_; }

  // Admission: can the sequence get blocks for all its current tokens (reusing cached ones)
  // within one partition?
  bool can_allocate(Sequence& seq) const;
  // Gives a waiting sequence its block table: prefix-cache hits first, fresh blocks after, all
  // from the partition chosen as described above. Sets num_computed_tokens to the hit length
  // (always leaving at least one token to compute, since the last token's logits are needed).
  void allocate(Sequence& seq);
  // Decode growth: does the sequence need one more block for its tokens, and is one free in
  // its partition?
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
  // One rank's share of the cache: its free queue and its prefix cache.
  struct Partition {
    int32_t queue_head = -1, queue_tail = -1, num_free = 0;
    std::unordered_map<uint64_t, int32_t> cached;  // hash -> block of this partition
  };
  // Where a waiting sequence would go: its partition and its cache hits there.
  struct Placement {
    int32_t partition = -1;  // -1: fits nowhere now
    std::vector<int32_t> hits;
  };

  Placement place(Sequence& seq) const;
  // Number of leading full blocks of seq that are in partition p's cache (hit), at most enough
  // to leave one token uncomputed. Extends seq.block_hashes as a side effect of hashing.
  int32_t count_cache_hits(Sequence& seq, int32_t p, std::vector<int32_t>* hit_blocks) const;
  uint64_t block_hash(Sequence& seq, int32_t block_index) const;
  int32_t lookup(int32_t p, uint64_t hash, const int32_t* tokens) const;
  int32_t take_free_block(int32_t p);  // pops partition p's queue head, evicting its hash
  void queue_push_front(int32_t b);
  void queue_push_back(int32_t b);
  void queue_remove(int32_t b);
  Partition& part_of(int32_t b) { return parts_[size_t(partition_of_block(b))]; }

  int32_t num_blocks_, block_size_, blocks_per_partition_;
  std::vector<Block> blocks_;
  std::vector<Partition> parts_;
  PrefixCacheStats stats_;
};

}  // namespace sy
