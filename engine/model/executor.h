// ModelExecutor: what the serving engine (scheduler loop) needs from a model, whatever runs it
// (one CPU/GPU rank, or several ranks in expert-parallel lockstep). ModelRunner implements it;
// scheduler tests use a fake.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/model/forward_batch.h"

namespace sy {

struct KvCacheGeometry {
  int32_t num_blocks = 0;  // blocks per layer
  int32_t block_size = 16;  // tokens per block
};

// Routed-token counts since start, per layer and expert ([num_moe_layers][num_experts]).
struct RoutingCounts {
  std::vector<int32_t> moe_layer_ids;            // model layer index of each MoE layer
  std::vector<std::vector<uint64_t>> counts;     // counts[i][e]
};

class ModelExecutor {
 public:
  virtual ~ModelExecutor() = default;
  // Runs the batch; writes fp32 logits [batch.logits_indices.size(), vocab_size()] row-major.
  virtual void forward(const ForwardBatch& batch, std::vector<float>& logits) = 0;
  virtual int vocab_size() const = 0;
  virtual int max_model_len() const = 0;
  virtual KvCacheGeometry kv_cache() const = 0;
  // Adds this executor's routing counts since start into `out` (sized on first call).
  virtual void routing_counts(RoutingCounts& out) const = 0;
};

}  // namespace sy
