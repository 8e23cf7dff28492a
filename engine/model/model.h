// Model: a loaded checkpoint — config, weights on a backend, RoPE table — ready to be run by a
// ModelRunner. Loading order: config.json -> safetensors -> weights placed on the backend.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>

#include "engine/backend/backend.h"
#include "engine/backend/memory_plan.h"
#include "engine/model/config.h"
#include "engine/model/memory_plan_model.h"
#include "engine/model/weights.h"

namespace sy {

struct Model {
  std::filesystem::path dir;
  ModelConfig config;
  ModelWeights weights;
  WeightStats stats;
  DeviceBuffer rope_inv_freq;  // [rotary_dim / 2] fp32
  float rope_attention_factor = 1.0f;
  Backend* backend = nullptr;
  // Device backends: the memory plan computed before loading (KV blocks the device can hold).
  std::optional<MemoryPlan> memory_plan;
};

// Reads dir/config.json (+ generation_config.json) and the safetensors files, validates them
// and places every weight on `backend` (which must outlive the model). Errors name the file,
// tensor or key that is wrong.
// `experts`, when set, picks the routed experts each MoE layer loads (expert parallelism: a
// rank's share); every other weight is loaded whole.
// On a device backend (not host-accessible) loading one whole model, the memory plan is
// computed first from `plan_options` and loading is refused, naming the shortfall, when the
// model does not fit.
// `weight_format` kInt8 quantises the matmul weights at load (weights.h); CPU backend only,
// refused with std::invalid_argument naming --weight-dtype elsewhere.
std::shared_ptr<Model> load_model(const std::filesystem::path& dir, Backend& backend,
                                  const ExpertSelector& experts = {}, const MemoryPlanOptions& plan_options = {},
                                  WeightFormat weight_format = WeightFormat::kAsLoaded);

}  // namespace sy
