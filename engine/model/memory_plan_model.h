// Bridges a ModelConfig to the device memory planner (engine/backend/memory_plan.h): before a
// model is loaded onto a GPU, load_model computes weights + activations + workspace + KV cache
// for the device and refuses, naming the shortfall, when they do not fit. No silent offload.
#pragma once

#include "engine/backend/memory_plan.h"
#include "engine/model/config.h"
#include "engine/model/weights.h"

namespace sy {

struct MemoryPlanOptions {
  double kv_share = 0.9;                // fraction of what remains after weights/activations for KV
  int64_t max_tokens_per_step = 8192;   // scheduler token budget the activations are sized for
  int64_t max_seqs_per_step = 256;
  int64_t block_size = 16;
};

// weight_dtype: the checkpoint's float dtype. With WeightFormat::kInt8 the planner's per-element
// weight size is 1 and extra_weight_params absorbs the rest (the float tensors' other bytes,
// int8 row padding and scales, a tied lm_head's int8 copy), so that
// count_weight_params(m) × weight_bytes is exactly the bytes load_weights holds.
MemoryPlanModel memory_plan_model(const ModelConfig& config, DType weight_dtype, const MemoryPlanOptions& options,
                                  WeightFormat format = WeightFormat::kAsLoaded);

}  // namespace sy
