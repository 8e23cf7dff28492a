// ForwardBatch: one engine step's worth of tokens, as the scheduler lays them out for the model.
// Prefill chunks and decode tokens of many sequences are concatenated; each sequence's KV lives
// in paged blocks (kernels/attention.h explains the layout). Host-side vectors: the runner
// uploads them to the backend.
#pragma once

#include <cstdint>
#include <vector>

namespace sy {

struct ForwardBatch {
  std::vector<int32_t> token_ids;     // [num_tokens] new tokens of all sequences, concatenated
  std::vector<int32_t> positions;     // [num_tokens] absolute position of each new token
  std::vector<int32_t> query_start;   // [num_seqs + 1] offsets of each sequence's new tokens
  std::vector<int32_t> seq_lens;      // [num_seqs] context length including the new tokens
  std::vector<int32_t> block_tables;  // [num_seqs * max_blocks_per_seq], unused entries 0
  int32_t max_blocks_per_seq = 0;
  std::vector<int64_t> slot_mapping;  // [num_tokens] KV slot of each new token
  std::vector<int32_t> logits_indices;  // token rows that need logits (e.g. last of each seq)

  int num_seqs() const { return static_cast<int>(seq_lens.size()); }
  int64_t num_tokens() const { return static_cast<int64_t>(token_ids.size()); }
};

}  // namespace sy
