// FakeExecutor: a ModelExecutor with no model, for engine tests. It keeps a "KV cache" of the
// token stored in each slot and makes each logits row a deterministic function of the whole
// context it reads back through the block tables, so wrong slot mappings, block tables,
// prefix-cache hits or recomputation after preemption change the output (as they would with a
// real model), while the batch composition does not.
#pragma once

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <thread>
#include <vector>

#include "engine/model/executor.h"

namespace sy::testing {

class FakeExecutor : public ModelExecutor {
 public:
  static constexpr int kVocab = 64;
  static constexpr int kEos = 63;          // never the preferred token
  static constexpr int kNumPreferred = 60;  // preferred tokens are 0..59

  FakeExecutor(int32_t num_blocks, int32_t block_size, int32_t max_model_len = 256)
      : geometry_{num_blocks, block_size}, max_model_len_(max_model_len),
        kv_(static_cast<size_t>(num_blocks) * block_size, -1) {}

  void forward(const ForwardBatch& b, std::vector<float>& logits) override {
    ++num_forward_calls;
    if (step_delay.count() > 0) std::this_thread::sleep_for(step_delay);
    // Like every attention layer: all new K/V are written before any query reads.
    for (int64_t t = 0; t < b.num_tokens(); ++t) {
      kv_.at(b.slot_mapping[t]) = b.token_ids[t];
      counts_[t % 2][b.token_ids[t] % 4]++;
    }
    logits.assign(b.logits_indices.size() * kVocab, 0.0f);
    for (size_t r = 0; r < b.logits_indices.size(); ++r) {
      const int32_t t = b.logits_indices[r];
      int s = 0;
      while (b.query_start[s + 1] <= t) ++s;
      const int32_t pos = b.positions[t];
      uint64_t h = 1469598103934665603ull;
      for (int32_t q = 0; q <= pos; ++q) {
        const int32_t block = b.block_tables[s * b.max_blocks_per_seq + q / geometry_.block_size];
        const int32_t tok = kv_.at(static_cast<size_t>(block) * geometry_.block_size + q % geometry_.block_size);
        if (tok < 0) throw std::runtime_error("FakeExecutor: read an unwritten KV slot");
        h = (h ^ static_cast<uint64_t>(tok + 1)) * 1099511628211ull;
      }
      float* row = logits.data() + r * kVocab;
      for (int v = 0; v < kVocab; ++v) {
        const uint64_t x = (h ^ (0x9E3779B97F4A7C15ull * (v + 1))) * 0xBF58476D1CE4E5B9ull;
        row[v] = static_cast<float>((x >> 40) & 0xFFFF) / 65536.0f;  // noise in [0, 1)
      }
      row[h % kNumPreferred] += 3.0f;
    }
  }
  int vocab_size() const override { return kVocab; }
  int max_model_len() const override { return max_model_len_; }
  KvCacheGeometry kv_cache() const override { return geometry_; }
  void routing_counts(RoutingCounts& out) const override {
    out.moe_layer_ids = {0, 1};
    out.counts.resize(2);
    for (int l = 0; l < 2; ++l) {
      out.counts[l].resize(4, 0);
      for (int e = 0; e < 4; ++e) out.counts[l][e] += counts_[l][e];
    }
  }

  int num_forward_calls = 0;
  std::chrono::microseconds step_delay{0};  // makes steps take time, as a real model's do

 private:
  KvCacheGeometry geometry_;
  int32_t max_model_len_;
  std::vector<int32_t> kv_;  // [num_blocks * block_size] token id per slot
  uint64_t counts_[2][4] = {};
};

}  // namespace sy::testing
