// Bridges a ModelConfig to the device memory planner (engine/backend/memory_plan.h): before a
// model is loaded onto a GPU, load_model computes weights + activations + workspace + KV cache
// for the device and refuses, naming the shortfall, when they do not fit. No silent offload.
#pragma once

#include "engine/backend/memory_plan.h"
#include "engine/model/config.h"

namespace sy {

struct MemoryPlanOptions {
  double kv_share = 0.9;                // fraction of what remains after weights/activations for KV
  int64_t max_tokens_per_step = 8192;   // scheduler token budget the activations are sized for
  int64_t max_seqs_per_step = 256;
  int64_t block_size = 16;
};

MemoryPlanModel memory_plan_model(const ModelConfig& config, DType weight_dtype, const MemoryPlanOptions& options);

}  // namespace sy
