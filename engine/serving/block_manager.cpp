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

BlockManager::BlockManager(int32_t num_blocks, int32_t block_size, int32_t num_partitions)
    : num_blocks_(num_blocks), block_size_(block_size) {
  if (num_blocks <= 0) throw std::invalid_argument("BlockManager: num_blocks must be > 0");
  if (block_size <= 0) throw std::invalid_argument("BlockManager: block_size must be > 0");
  if (num_partitions <= 0 || num_blocks % num_partitions != 0)
    throw std::invalid_argument("BlockManager: num_blocks (" + std::to_string(num_blocks) +
                                ") must be a positive multiple of num_partitions (" +
                                std::to_string(num_partitions) + ")");
  blocks_per_partition_ = num_blocks / num_partitions;
  blocks_.resize(size_t(num_blocks));
  parts_.resize(size_t(num_partitions));
  for (int32_t b = 0; b < num_blocks; ++b) queue_push_back(b);
  for (Partition& p : parts_) p.num_free = blocks_per_partition_;
}

int32_t BlockManager::num_free_blocks() const {
  int32_t n = 0;
  for (const Partition& p : parts_) n += p.num_free;
  return n;
}

int32_t BlockManager::num_cached_blocks() const {
  size_t n = 0;
  for (const Partition& p : parts_) n += p.cached.size();
  return static_cast<int32_t>(n);
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

int32_t BlockManager::lookup(int32_t p, uint64_t hash, const int32_t* tokens) const {
  const auto& cached = parts_[size_t(p)].cached;
  auto it = cached.find(hash);
  if (it == cached.end()) return -1;
  const Block& b = blocks_[it->second];
  if (std::memcmp(b.tokens.data(), tokens, sizeof(int32_t) * block_size_) != 0) return -1;
  return it->second;
}

int32_t BlockManager::count_cache_hits(Sequence& seq, int32_t p, std::vector<int32_t>* hit_blocks) const {
  // Only blocks strictly before the last token: its logits must be computed this admission.
  const int32_t max_hits = std::max(0, seq.num_tokens() - 1) / block_size_;
  int32_t hits = 0;
  for (; hits < max_hits; ++hits) {
    const uint64_t h = block_hash(seq, hits);
    const int32_t b = lookup(p, h, seq.token_ids.data() + int64_t(hits) * block_size_);
    if (b < 0) break;
    if (hit_blocks) hit_blocks->push_back(b);
  }
  return hits;
}

BlockManager::Placement BlockManager::place(Sequence& seq) const {
  // Among the partitions where the sequence fits now: most prefix-cache hits, then most free
  // blocks (spreads sequences, and so attention work, over the ranks), then the lowest index.
  Placement best;
  int32_t best_free = -1;
  const int32_t total = blocks_for_tokens(seq.num_tokens());
  for (int32_t p = 0; p < num_partitions(); ++p) {
    std::vector<int32_t> hits;
    count_cache_hits(seq, p, &hits);
    int32_t hits_in_free_queue = 0;
    for (int32_t b : hits) hits_in_free_queue += blocks_[size_t(b)].ref_count == 0;
    const int32_t free = parts_[size_t(p)].num_free;
    const int32_t fresh = total - static_cast<int32_t>(hits.size());
    if (fresh > free - hits_in_free_queue) continue;
    if (best.partition >= 0 && (hits.size() < best.hits.size() ||
                                (hits.size() == best.hits.size() && free <= best_free)))
      continue;
    best.partition = p;
    best.hits = std::move(hits);
    best_free = free;
  }
  return best;
}

bool BlockManager::can_allocate(Sequence& seq) const { return place(seq).partition >= 0; }

void BlockManager::allocate(Sequence& seq) {
  if (!seq.block_table.empty())
    throw std::logic_error("BlockManager::allocate: sequence " + std::to_string(seq.id) +
                           " already holds blocks");
  const Placement where = place(seq);
  if (where.partition < 0)
    throw std::logic_error("BlockManager::allocate: sequence " + std::to_string(seq.id) +
                           " fits in no partition (caller must check can_allocate)");
  for (int32_t b : where.hits) {
    if (blocks_[size_t(b)].ref_count++ == 0) {
      queue_remove(b);
      --parts_[size_t(where.partition)].num_free;
    }
    seq.block_table.push_back(b);
  }
  const int32_t total = blocks_for_tokens(seq.num_tokens());
  while (static_cast<int32_t>(seq.block_table.size()) < total)
    seq.block_table.push_back(take_free_block(where.partition));
  const int32_t hit_tokens = static_cast<int32_t>(where.hits.size()) * block_size_;
  seq.num_computed_tokens = hit_tokens;
  seq.num_cache_checked_blocks = static_cast<int32_t>(where.hits.size());
  stats_.queried_tokens += static_cast<uint64_t>(seq.num_tokens());
  stats_.hit_tokens += static_cast<uint64_t>(hit_tokens);
}

bool BlockManager::can_append(const Sequence& seq) const {
  const int32_t needed = blocks_for_tokens(seq.num_tokens()) -
                         static_cast<int32_t>(seq.block_table.size());
  if (needed <= 0) return true;
  const int32_t p = partition_of(seq);
  if (p < 0) throw std::logic_error("BlockManager::can_append: sequence " + std::to_string(seq.id) + " holds no blocks");
  return needed <= parts_[size_t(p)].num_free;
}

void BlockManager::append(Sequence& seq) {
  const int32_t total = blocks_for_tokens(seq.num_tokens());
  if (static_cast<int32_t>(seq.block_table.size()) >= total) return;
  const int32_t p = partition_of(seq);
  if (p < 0) throw std::logic_error("BlockManager::append: sequence " + std::to_string(seq.id) + " holds no blocks");
  while (static_cast<int32_t>(seq.block_table.size()) < total)
    seq.block_table.push_back(take_free_block(p));
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
      ++part_of(*it).num_free;
    }
  }
  seq.block_table.clear();
  seq.num_computed_tokens = 0;
  seq.num_cache_checked_blocks = 0;
}

void BlockManager::cache_full_blocks(Sequence& seq) {
  if (seq.block_table.empty()) return;
  auto& cached = parts_[size_t(partition_of(seq))].cached;
  const int32_t full = std::min(seq.num_computed_tokens / block_size_,
                                static_cast<int32_t>(seq.block_table.size()));
  for (int32_t i = seq.num_cache_checked_blocks; i < full; ++i) {
    Block& b = blocks_[seq.block_table[i]];
    if (b.has_hash) continue;  // a prefix-cache hit, already entered
    const uint64_t h = block_hash(seq, i);
    // Another block with the same contents is already cached: keep that one, leave this
    // block unhashed so it is recycled first.
    if (cached.count(h)) continue;
    const int32_t* tokens = seq.token_ids.data() + int64_t(i) * block_size_;
    b.tokens.assign(tokens, tokens + block_size_);
    b.has_hash = true;
    b.hash = h;
    cached.emplace(h, seq.block_table[i]);
  }
  seq.num_cache_checked_blocks = std::max(seq.num_cache_checked_blocks, full);
}

int32_t BlockManager::take_free_block(int32_t p) {
  Partition& part = parts_[size_t(p)];
  if (part.queue_head < 0)
    throw std::logic_error("BlockManager: no free KV block in partition " + std::to_string(p) + " (caller must check)");
  const int32_t id = part.queue_head;
  queue_remove(id);
  --part.num_free;
  Block& b = blocks_[id];
  if (b.has_hash) {
    part.cached.erase(b.hash);
    b.has_hash = false;
  }
  b.ref_count = 1;
  return id;
}

void BlockManager::queue_push_front(int32_t id) {
  Partition& q = part_of(id);
  Block& b = blocks_[size_t(id)];
  b.prev = -1;
  b.next = q.queue_head;
  if (q.queue_head >= 0) blocks_[size_t(q.queue_head)].prev = id;
  q.queue_head = id;
  if (q.queue_tail < 0) q.queue_tail = id;
}

void BlockManager::queue_push_back(int32_t id) {
  Partition& q = part_of(id);
  Block& b = blocks_[size_t(id)];
  b.next = -1;
  b.prev = q.queue_tail;
  if (q.queue_tail >= 0) blocks_[size_t(q.queue_tail)].next = id;
  q.queue_tail = id;
  if (q.queue_head < 0) q.queue_head = id;
}

void BlockManager::queue_remove(int32_t id) {
  Partition& q = part_of(id);
  Block& b = blocks_[size_t(id)];
  if (b.prev >= 0) blocks_[size_t(b.prev)].next = b.next;
  else q.queue_head = b.next;
  if (b.next >= 0) blocks_[size_t(b.next)].prev = b.prev;
  else q.queue_tail = b.prev;
  b.prev = b.next = -1;
}

}  // namespace sy
