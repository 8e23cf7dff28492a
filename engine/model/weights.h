// ModelWeights: every tensor of a checkpoint placed on the backend, in the layout the forward
// pass wants. Sits between config.h (what the model is) and model_runner.h (running it).
//
// Layout decisions:
//  - Linear weights keep HF's [out, in] layout.
//  - Routed experts are stacked: gate_up [E, 2*I, D] (gate rows first, then up — the fused
//    transformers v5 layout) and down [E, D, I], so one grouped GEMM runs all experts. Hub
//    checkpoints (one tensor per expert) and fused v5 checkpoints both load into this form.
//  - Dense MLPs and shared experts fuse gate and up the same way: gate_up [2*I, D].
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/backend/backend.h"
#include "engine/model/config.h"

namespace sy {

class Checkpoint;

// One weight on the backend. Empty (no data) when the model has no such tensor.
struct Weight {
  DeviceBuffer buffer;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;

  const void* data() const { return buffer.get(); }
  bool empty() const { return buffer.get() == nullptr; }
  int64_t numel() const;
};

struct AttentionWeights {
  Weight q, k, v, o;                // [H*hd, D], [KV*hd, D], [KV*hd, D], [D, H*hd]
  Weight q_bias, k_bias, v_bias;    // [H*hd], [KV*hd], [KV*hd] (Qwen2-MoE)
  Weight q_norm, k_norm;            // Qwen3: [hd]; OLMoE: [H*hd], [KV*hd]
};

struct MlpWeights {                 // dense MLP or shared expert
  Weight gate_up;                   // [2*I, D]
  Weight down;                      // [D, I]
  int64_t intermediate = 0;
};

struct MoeWeights {
  Weight router;                    // [E, D]
  Weight gate_up;                   // [E, 2*I, D], or [S, 2*I, D] for the S experts in expert_ids
  Weight down;                      // [E, D, I], or [S, D, I]
  // Expert parallelism: the logical experts stacked above, in slot order (ascending). Empty
  // when every expert is loaded in id order.
  std::vector<int32_t> expert_ids;
  // Optional int8 copies of gate_up / down for the CPU kernels (kernels/cpu/pack.h), made once
  // after loading; null = the kernels use gate_up / down as loaded.
  std::shared_ptr<const cpu::PackedWeights> gate_up_int8, down_int8;
  MlpWeights shared;                // shared expert (Qwen2-MoE), empty otherwise
  Weight shared_gate;               // [1, D] sigmoid gate of the shared expert
};

struct LayerWeights {
  Weight input_norm;                // [D]
  Weight post_attention_norm;       // [D]
  AttentionWeights attn;
  bool is_moe = false;
  MoeWeights moe;                   // when is_moe
  MlpWeights mlp;                   // when !is_moe
};

struct ModelWeights {
  Weight embed;                     // [V, D]
  std::vector<LayerWeights> layers;
  Weight final_norm;                // [D]
  Weight lm_head;                   // [V, D]; empty when tied to embed
  const Weight& output() const { return lm_head.empty() ? embed : lm_head; }
};

// Facts about a checkpoint for `switchyard-cli info` and GetModelInfo.
struct WeightStats {
  int64_t total_params = 0;
  int64_t active_params = 0;        // per token: non-expert + top_k routed experts
  std::map<std::string, int64_t> bytes_by_dtype;  // checkpoint bytes, keyed by safetensors dtype name
};

// Which routed experts to load for a model layer (expert parallelism loads only a rank's
// experts). Returns ascending logical expert ids; unset = all experts.
using ExpertSelector = std::function<std::vector<int32_t>(int layer)>;

// Loads and validates every tensor the config needs (missing tensor or wrong shape -> error
// naming it), accepting the per-expert hub layout and the fused v5 layout. Weights are copied
// onto the backend once.
ModelWeights load_weights(const ModelConfig& config, const Checkpoint& ckpt, Backend& backend,
                          const ExpertSelector& experts = {});

// One MoE layer's weights with only the routed experts `experts` (ascending ids) stacked:
// expert parallelism reloads a rank's experts this way when the placement changes.
MoeWeights load_moe_layer(const ModelConfig& config, const Checkpoint& ckpt, Backend& backend, int layer,
                          const std::vector<int32_t>& experts);

WeightStats weight_stats(const ModelConfig& config, const Checkpoint& ckpt);

}  // namespace sy
