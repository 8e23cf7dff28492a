#include "engine/serving/block_manager.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

namespace sy {
namespace {

// 64-bit chained block hash: FNV-1a over the previous block's hash and this block's token ids,
// then a splitmix finaliser so that nearby token ids spread over the whole map.
uint64_t chain_hash(uint64_t prev, const int32_t* tokens, int32_t n) {
  uint64_t h = 0xcbf29ce484222325ull ^ prev;
  for (int32_t i = 0; i < n; ++i) {
    h ^= static_cast<uint32_t>(tokens[i]);
    h *= 0x100000001b3ull;
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

}  // namespace

BlockManager::BlockManager(int32_t num_blocks, int32_t block_size)
    : num_blocks_(num_blocks), block_size_(block_size), blocks_(num_blocks) {
  if (num_blocks <= 0) throw std::invalid_argument("BlockManager: num_blocks must be > 0");
  if (block_size <= 0) throw std::invalid_argument("BlockManager: block_size must be > 0");
  for (int32_t b = 0; b < num_blocks; ++b) queue_push_back(b);
  num_free_ = num_blocks;
}

uint64_t BlockManager::block_hash(Sequence& seq, int32_t block_index) const {
  while (static_cast<int32_t>(seq.block_hashes.size()) <= block_index) {
    const int32_t i = static_cast<int32_t>(seq.block_hashes.size());
    const uint64_t prev = i == 0 ? 0 : seq.block_hashes[i - 1];
    seq.block_hashes.push_back(chain_hash(prev, seq.token_ids.data() + int64_t(i) * block_size_,
                                          block_size_));
  }
  return seq.block_hashes[block_index];
}

int32_t BlockManager::lookup(uint64_t hash, const int32_t* tokens) const {
  auto it = cached_.find(hash);
  if (it == cached_.end()) return -1;
  const Block& b = blocks_[it->second];
  if (std::memcmp(b.tokens.data(), tokens, sizeof(int32_t) * block_size_) != 0) return -1;
  return it->second;
}

int32_t BlockManager::count_cache_hits(Sequence& seq, std::vector<int32_t>* hit_blocks) const {
  // Only blocks strictly before the last token: its logits must be computed this admission.
  const int32_t max_hits = std::max(0, seq.num_tokens() - 1) / block_size_;
  int32_t hits = 0;
  for (; hits < max_hits; ++hits) {
    const uint64_t h = block_hash(seq, hits);
    const int32_t b = lookup(h, seq.token_ids.data() + int64_t(hits) * block_size_);
    if (b < 0) break;
    if (hit_blocks) hit_blocks->push_back(b);
  }
  return hits;
}

bool BlockManager::can_allocate(Sequence& seq) const {
  std::vector<int32_t> hits;
  count_cache_hits(seq, &hits);
  int32_t hits_in_free_queue = 0;
  for (int32_t b : hits) hits_in_free_queue += blocks_[b].ref_count == 0;
  const int32_t fresh = blocks_for_tokens(seq.num_tokens()) - static_cast<int32_t>(hits.size());
  return fresh <= num_free_ - hits_in_free_queue;
}

void BlockManager::allocate(Sequence& seq) {
  if (!seq.block_table.empty())
    throw std::logic_error("BlockManager::allocate: sequence " + std::to_string(seq.id) +
                           " already holds blocks");
  std::vector<int32_t> hits;
  count_cache_hits(seq, &hits);
  for (int32_t b : hits) {
    if (blocks_[b].ref_count++ == 0) {
      queue_remove(b);
      --num_free_;
    }
    seq.block_table.push_back(b);
  }
  const int32_t total = blocks_for_tokens(seq.num_tokens());
  while (static_cast<int32_t>(seq.block_table.size()) < total)
    seq.block_table.push_back(take_free_block());
  const int32_t hit_tokens = static_cast<int32_t>(hits.size()) * block_size_;
  seq.num_computed_tokens = hit_tokens;
  seq.num_cache_checked_blocks = static_cast<int32_t>(hits.size());
  stats_.queried_tokens += static_cast<uint64_t>(seq.num_tokens());
  stats_.hit_tokens += static_cast<uint64_t>(hit_tokens);
}

bool BlockManager::can_append(const Sequence& seq) const {
  const int32_t needed = blocks_for_tokens(seq.num_tokens()) -
                         static_cast<int32_t>(seq.block_table.size());
  return needed <= num_free_;
}

void BlockManager::append(Sequence& seq) {
  const int32_t total = blocks_for_tokens(seq.num_tokens());
  while (static_cast<int32_t>(seq.block_table.size()) < total)
    seq.block_table.push_back(take_free_block());
}

void BlockManager::free(Sequence& seq) {
  // Reverse order: a chain's last blocks are the least likely to be shared, so they are
  // queued to be evicted first.
  for (auto it = seq.block_table.rbegin(); it != seq.block_table.rend(); ++it) {
    Block& b = blocks_[*it];
    if (b.ref_count <= 0)
      throw std::logic_error("BlockManager::free: block " + std::to_string(*it) +
                             " freed twice (sequence " + std::to_string(seq.id) + ")");
    if (--b.ref_count == 0) {
      if (b.has_hash) queue_push_back(*it);
      else queue_push_front(*it);
      ++num_free_;
    }
  }
  seq.block_table.clear();
  seq.num_computed_tokens = 0;
  seq.num_cache_checked_blocks = 0;
}

void BlockManager::cache_full_blocks(Sequence& seq) {
  const int32_t full = std::min(seq.num_computed_tokens / block_size_,
                                static_cast<int32_t>(seq.block_table.size()));
  for (int32_t i = seq.num_cache_checked_blocks; i < full; ++i) {
    Block& b = blocks_[seq.block_table[i]];
    if (b.has_hash) continue;  // a prefix-cache hit, already entered
    const uint64_t h = block_hash(seq, i);
    // Another block with the same contents is already cached: keep that one, leave this
    // block unhashed so it is recycled first.
    if (cached_.count(h)) continue;
    const int32_t* tokens = seq.token_ids.data() + int64_t(i) * block_size_;
    b.tokens.assign(tokens, tokens + block_size_);
    b.has_hash = true;
    b.hash = h;
    cached_.emplace(h, seq.block_table[i]);
  }
  seq.num_cache_checked_blocks = std::max(seq.num_cache_checked_blocks, full);
}

int32_t BlockManager::take_free_block() {
  if (queue_head_ < 0) throw std::logic_error("BlockManager: no free KV block (caller must check)");
  const int32_t id = queue_head_;
  queue_remove(id);
  --num_free_;
  Block& b = blocks_[id];
  if (b.has_hash) {
    cached_.erase(b.hash);
    b.has_hash = false;
  }
  b.ref_count = 1;
  return id;
}

void BlockManager::queue_push_front(int32_t id) {
  Block& b = blocks_[id];
  b.prev = -1;
  b.next = queue_head_;
  if (queue_head_ >= 0) blocks_[queue_head_].prev = id;
  queue_head_ = id;
  if (queue_tail_ < 0) queue_tail_ = id;
}

void BlockManager::queue_push_back(int32_t id) {
  Block& b = blocks_[id];
  b.next = -1;
  b.prev = queue_tail_;
  if (queue_tail_ >= 0) blocks_[queue_tail_].next = id;
  queue_tail_ = id;
  if (queue_head_ < 0) queue_head_ = id;
}

void BlockManager::queue_remove(int32_t id) {
  Block& b = blocks_[id];
  if (b.prev >= 0) blocks_[b.prev].next = b.next;
  else queue_head_ = b.next;
  if (b.next >= 0) blocks_[b.next].prev = b.prev;
  else queue_tail_ = b.prev;
  b.prev = b.next = -1;
}

}  // namespace sy
