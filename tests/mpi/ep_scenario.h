// Shared by the multi-rank tests and tools/bench_ep: a deterministic multi-sequence workload
// (prefill chunks, decodes, steps where some ranks have no tokens) laid out as ForwardBatches,
// the way the serving scheduler would, with each sequence's KV in its own run of blocks.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "engine/model/forward_batch.h"

namespace sy::test {

// One sequence's piece of a step: `tokens` appended at the end of sequence `seq`.
struct Piece {
  int seq;
  std::vector<int32_t> tokens;
};

// Lays out sequences whose KV lives in blocks [seq * blocks_per_seq, (seq + 1) * blocks_per_seq).
// With blocks_per_seq = 5 the first blocks 0, 5, 10, 15 spread sequences 0..3 over 2 and 4 ranks.
class Scenario {
 public:
  explicit Scenario(int block_size = 16, int blocks_per_seq = 5) : bs_(block_size), per_seq_(blocks_per_seq) {}
  int num_blocks(int num_seqs) const { return num_seqs * per_seq_; }
  int block_size() const { return bs_; }

  // Every appended position asks for logits.
  ForwardBatch step(const std::vector<Piece>& pieces) {
    ForwardBatch b;
    b.max_blocks_per_seq = per_seq_;
    b.query_start.push_back(0);
    for (const Piece& p : pieces) {
      if (size_t(p.seq) >= len_.size()) len_.resize(size_t(p.seq) + 1, 0);
      int32_t& len = len_[size_t(p.seq)];
      for (int32_t t : p.tokens) {
        b.logits_indices.push_back(int32_t(b.token_ids.size()));
        b.token_ids.push_back(t);
        b.positions.push_back(len);
        const int32_t block = p.seq * per_seq_ + len / bs_;
        b.slot_mapping.push_back(int64_t(block) * bs_ + len % bs_);
        ++len;
      }
      b.query_start.push_back(int32_t(b.token_ids.size()));
      b.seq_lens.push_back(len);
      for (int i = 0; i < per_seq_; ++i) b.block_tables.push_back(p.seq * per_seq_ + i);
    }
    return b;
  }

 private:
  int bs_, per_seq_;
  std::vector<int32_t> len_;
};

// Deterministic pseudo-random token ids in [0, vocab).
inline std::vector<int32_t> tokens(int n, int vocab, uint32_t seed) {
  std::vector<int32_t> out;
  uint32_t x = seed * 2654435761u + 12345u;
  for (int i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    out.push_back(int32_t((x >> 8) % uint32_t(vocab)));
  }
  return out;
}

// The standard workload: 4 sequences; a batched prefill of three prompts (1, 7 and 33 tokens),
// decodes of all of them, a step with a single sequence (other ranks idle), a chunked prefill
// of a fourth sequence beside a decode. Decode tokens are derived from the step index so the
// workload does not depend on the logits.
inline std::vector<ForwardBatch> standard_workload(int vocab, Scenario& sc) {
  std::vector<ForwardBatch> steps;
  steps.push_back(sc.step({{0, tokens(1, vocab, 1)}, {1, tokens(7, vocab, 2)}, {2, tokens(33, vocab, 3)}}));
  for (uint32_t d = 0; d < 3; ++d)
    steps.push_back(sc.step({{0, tokens(1, vocab, 10 + d)}, {1, tokens(1, vocab, 20 + d)}, {2, tokens(1, vocab, 30 + d)}}));
  steps.push_back(sc.step({{1, tokens(1, vocab, 40)}}));
  steps.push_back(sc.step({{3, tokens(12, vocab, 50)}, {0, tokens(1, vocab, 51)}}));
  steps.push_back(sc.step({{3, tokens(9, vocab, 52)}, {2, tokens(1, vocab, 53)}, {1, tokens(1, vocab, 54)}}));
  return steps;
}

}  // namespace sy::test
