// Step plans (engine/parallel/step_plan.h): batch (de)serialization and the data-parallel split.
#include "engine/parallel/step_plan.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

namespace sy {
namespace {

template <typename T>
void put(std::vector<char>& out, const std::vector<T>& v) {
  const int64_t n = int64_t(v.size());
  const char* p = reinterpret_cast<const char*>(&n);
  out.insert(out.end(), p, p + sizeof n);
  const char* d = reinterpret_cast<const char*>(v.data());
  out.insert(out.end(), d, d + v.size() * sizeof(T));
}

class Reader {
 public:
  explicit Reader(const std::vector<char>& b) : b_(b) {}
  template <typename T>
  void get(std::vector<T>& v) {
    int64_t n = 0;
    take(&n, sizeof n);
    if (n < 0 || size_t(n) > (b_.size() - pos_) / sizeof(T))
      throw std::runtime_error("step plan: vector of " + std::to_string(n) + " entries overruns the message");
    v.resize(size_t(n));
    take(v.data(), size_t(n) * sizeof(T));
  }
  void take(void* dst, size_t bytes) {
    if (bytes > b_.size() - pos_) throw std::runtime_error("step plan: message truncated");
    if (bytes) std::memcpy(dst, b_.data() + pos_, bytes);
    pos_ += bytes;
  }
  bool done() const { return pos_ == b_.size(); }

 private:
  const std::vector<char>& b_;
  size_t pos_ = 0;
};

}  // namespace

std::vector<char> serialize_batch(const ForwardBatch& b) {
  std::vector<char> out;
  const char* m = reinterpret_cast<const char*>(&b.max_blocks_per_seq);
  out.insert(out.end(), m, m + sizeof b.max_blocks_per_seq);
  put(out, b.token_ids);
  put(out, b.positions);
  put(out, b.query_start);
  put(out, b.seq_lens);
  put(out, b.block_tables);
  put(out, b.slot_mapping);
  put(out, b.logits_indices);
  return out;
}

ForwardBatch deserialize_batch(const std::vector<char>& bytes) {
  ForwardBatch b;
  Reader r(bytes);
  r.take(&b.max_blocks_per_seq, sizeof b.max_blocks_per_seq);
  r.get(b.token_ids);
  r.get(b.positions);
  r.get(b.query_start);
  r.get(b.seq_lens);
  r.get(b.block_tables);
  r.get(b.slot_mapping);
  r.get(b.logits_indices);
  if (!r.done()) throw std::runtime_error("step plan: trailing bytes after the batch");
  return b;
}

int sequence_owner(const ForwardBatch& b, int seq, const KvPartitioning& kv) {
  if (b.max_blocks_per_seq == 0) return 0;
  return b.block_tables[size_t(seq) * b.max_blocks_per_seq] / kv.blocks_per_rank;
}

RankShare rank_share(const ForwardBatch& b, int rank, const KvPartitioning& kv) {
  if (kv.blocks_per_rank <= 0 || kv.block_size <= 0)
    throw std::invalid_argument("rank_share: blocks_per_rank and block_size must be > 0");
  const int32_t first_block = rank * kv.blocks_per_rank;
  const int64_t first_slot = int64_t(first_block) * kv.block_size;
  const auto outside = [&](int s, int64_t what) {
    throw std::invalid_argument("step plan: sequence " + std::to_string(s) + " of rank " + std::to_string(rank) +
                                " uses block " + std::to_string(what) + " of another rank's KV partition");
  };
  RankShare out;
  ForwardBatch& l = out.batch;
  l.max_blocks_per_seq = b.max_blocks_per_seq;
  l.query_start.push_back(0);
  std::vector<int32_t> local_row(b.token_ids.size(), -1);  // global token row -> local row
  for (int s = 0; s < b.num_seqs(); ++s) {
    if (sequence_owner(b, s, kv) != rank) continue;
    for (int32_t g = b.query_start[size_t(s)]; g < b.query_start[size_t(s) + 1]; ++g) {
      const int64_t slot = b.slot_mapping[size_t(g)] - first_slot;
      if (slot < 0 || slot >= int64_t(kv.blocks_per_rank) * kv.block_size)
        outside(s, b.slot_mapping[size_t(g)] / kv.block_size);
      local_row[size_t(g)] = int32_t(l.token_ids.size());
      l.token_ids.push_back(b.token_ids[size_t(g)]);
      l.positions.push_back(b.positions[size_t(g)]);
      l.slot_mapping.push_back(slot);
    }
    l.query_start.push_back(int32_t(l.token_ids.size()));
    l.seq_lens.push_back(b.seq_lens[size_t(s)]);
    // The blocks holding the sequence's tokens are translated; the unused tail stays 0.
    const int32_t used = (b.seq_lens[size_t(s)] + kv.block_size - 1) / kv.block_size;
    const auto row = b.block_tables.begin() + ptrdiff_t(s) * b.max_blocks_per_seq;
    for (int32_t i = 0; i < b.max_blocks_per_seq; ++i) {
      int32_t local = 0;
      if (i < used) {
        local = row[i] - first_block;
        if (local < 0 || local >= kv.blocks_per_rank) outside(s, row[i]);
      }
      l.block_tables.push_back(local);
    }
  }
  for (size_t i = 0; i < b.logits_indices.size(); ++i) {
    const int32_t r = local_row.at(size_t(b.logits_indices[i]));
    if (r < 0) continue;  // another rank's token
    l.logits_indices.push_back(r);
    out.logits_positions.push_back(int32_t(i));
  }
  return out;
}

}  // namespace sy

namespace sy {

void validate_plan(const ForwardBatch& b, int vocab_size, int32_t num_kv_blocks, int32_t block_size) {
  const int64_t T = b.num_tokens();
  const auto fail = [](const std::string& what) { throw std::invalid_argument("step plan: " + what); };
  if (T == 0) fail("empty batch");
  if (b.positions.size() != size_t(T) || b.slot_mapping.size() != size_t(T))
    fail("positions and slot_mapping must have one entry per token");
  if (b.query_start.size() != size_t(b.num_seqs()) + 1 || b.query_start.front() != 0 || b.query_start.back() != T)
    fail("query_start must run from 0 to num_tokens over num_seqs + 1 entries");
  if (b.max_blocks_per_seq < 0 || b.block_tables.size() != size_t(b.num_seqs()) * size_t(b.max_blocks_per_seq))
    fail("block_tables must hold num_seqs * max_blocks_per_seq entries");
  for (int s = 0; s < b.num_seqs(); ++s) {
    const int32_t n_new = b.query_start[size_t(s) + 1] - b.query_start[size_t(s)];
    if (n_new < 0 || b.seq_lens[size_t(s)] < n_new || b.seq_lens[size_t(s)] > b.max_blocks_per_seq * block_size)
      fail("sequence " + std::to_string(s) + " has an inconsistent length");
  }
  for (int32_t id : b.token_ids)
    if (id < 0 || id >= vocab_size) fail("token id " + std::to_string(id) + " outside the vocabulary");
  for (int64_t slot : b.slot_mapping)
    if (slot < 0 || slot >= int64_t(num_kv_blocks) * block_size) fail("KV slot " + std::to_string(slot) + " outside the cache");
  for (int32_t blk : b.block_tables)
    if (blk < 0 || blk >= num_kv_blocks) fail("block id " + std::to_string(blk) + " outside the cache");
  for (int32_t r : b.logits_indices)
    if (r < 0 || r >= T) fail("logits index " + std::to_string(r) + " outside the batch");
}

}  // namespace sy
