#include "engine/model/single_sequence.h"

#include <algorithm>
#include <stdexcept>

namespace sy {

KvCacheGeometry single_sequence_kv(int max_len, int block_size) {
  return {.num_blocks = std::max(1, (max_len + block_size - 1) / block_size), .block_size = block_size};
}

std::vector<float> SingleSequence::append(const std::vector<int32_t>& tokens, bool all_positions) {
  const KvCacheGeometry kv = runner_.kv_cache();
  const int32_t n = static_cast<int32_t>(tokens.size());
  const int32_t new_len = length_ + n;
  if (new_len > kv.num_blocks * kv.block_size)
    throw std::invalid_argument("sequence of " + std::to_string(new_len) + " tokens does not fit the KV cache of " +
                                std::to_string(kv.num_blocks * kv.block_size) + " tokens");
  ForwardBatch b;
  b.token_ids = tokens;
  b.query_start = {0, n};
  b.seq_lens = {new_len};
  b.max_blocks_per_seq = kv.num_blocks;
  for (int32_t i = 0; i < kv.num_blocks; ++i) b.block_tables.push_back(i);
  for (int32_t i = 0; i < n; ++i) {
    b.positions.push_back(length_ + i);
    b.slot_mapping.push_back(length_ + i);  // block i / bs holds positions [i*bs, (i+1)*bs)
    if (all_positions || i == n - 1) b.logits_indices.push_back(i);
  }
  std::vector<float> logits;
  runner_.forward(b, logits);
  length_ = new_len;
  return logits;
}

int32_t argmax(const float* logits, int64_t n) {
  return static_cast<int32_t>(std::max_element(logits, logits + n) - logits);
}

std::vector<int32_t> greedy_generate(ModelRunner& runner, const std::vector<int32_t>& prompt, int max_new_tokens,
                                     const std::vector<int>& stop_ids) {
  SingleSequence seq(runner);
  std::vector<int32_t> out;
  if (max_new_tokens <= 0) return out;
  std::vector<float> logits = seq.append(prompt);
  const int V = runner.vocab_size();
  while (true) {
    int32_t next = argmax(logits.data(), V);
    out.push_back(next);
    if (static_cast<int>(out.size()) >= max_new_tokens) break;
    if (std::find(stop_ids.begin(), stop_ids.end(), next) != stop_ids.end()) break;
    logits = seq.append({next});
  }
  return out;
}

}  // namespace sy
