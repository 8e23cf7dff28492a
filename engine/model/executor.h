// ModelExecutor: what the serving engine (scheduler loop) needs from a model, whatever runs it
// (one CPU/GPU rank, or several ranks in expert-parallel lockstep). ModelRunner implements it;
// scheduler tests use a fake.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/model/forward_batch.h"
#include "engine/model/sampling_batch.h"

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

  // Sampling where the logits are. An executor whose logits live in device memory may draw
  // the tokens there: it then reports samples_on_device(), and the engine calls
  // forward_and_sample instead of forward + sample_on_host, so only the sampling inputs go up
  // and the ids/logprobs come back. `sampling` has one row per batch.logits_indices entry.
  // The default runs forward() and samples on the host: any executor may be called this way.
  virtual bool samples_on_device() const { return false; }
  virtual void forward_and_sample(const ForwardBatch& batch, const SamplingBatch& sampling, SampledBatch& out) {
    std::vector<float> logits;
    forward(batch, logits);
    sample_on_host(sampling, logits, vocab_size(), out);
  }
};

}  // namespace sy
