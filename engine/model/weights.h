// ModelWeights: every tensor of a checkpoint placed on the backend, in the layout the forward
// pass wants. Sits between config.h (what the model is) and model_runner.h (running it).
//
// Layout decisions:
//  - Linear weights keep HF's [out, in] layout.
//  - Routed experts are stacked: gate_up [E, 2*I, D] (gate rows first, then up — the fused
//    transformers v5 layout) and down [E, D, I], so one grouped GEMM runs all experts. Hub
//    checkpoints (one tensor per expert) and fused v5 checkpoints both load into this form.
//  - Dense MLPs and shared experts fuse gate and up the same way: gate_up [2*I, D].
//  - WeightFormat::kInt8 (CPU only): every large matmul weight — attention q/k/v/o, routed and
//    shared experts, dense MLPs, lm_head — is quantised at load to int8 per output channel
//    (kernels/cpu/pack.h) straight from the checkpoint mapping, and its float copy is never
//    made. The router, norms, biases, the shared-expert gate and the embedding stay as loaded,
//    so routing sees the same inputs it would in as-loaded mode. A tied lm_head gets its own
//    int8 copy of the embedding (the lookup keeps the float table).
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
namespace cpu {
struct PackedWeights;
}

// How matmul weights are held after loading.
enum class WeightFormat {
  kAsLoaded,  // the checkpoint's dtype (f32, bf16, f16)
  kInt8,      // int8 weight-only per output channel, CPU backend only (see the header comment)
};
// "as-loaded" / "int8": the spelling of --weight-dtype.
const char* weight_format_name(WeightFormat f);
// Parses a --weight-dtype value; throws std::invalid_argument naming `flag` and the accepted values.
WeightFormat parse_weight_format(const std::string& value, const std::string& flag = "--weight-dtype");
// Throws std::invalid_argument naming --weight-dtype when `backend` cannot hold weights in `format`
// (int8 needs the CPU backend).
void check_weight_format(WeightFormat format, const Backend& backend);

// One weight on the backend. Empty (no data) when the model has no such tensor.
struct Weight {
  DeviceBuffer buffer;       // as loaded; unallocated when the weight is held as int8
  DType dtype = DType::kF32;  // the checkpoint's dtype (also the dtype of the layer's bias)
  std::vector<int64_t> shape;
  // WeightFormat::kInt8: the quantised form the CPU kernels stream (LinearArgs::packed /
  // GroupedGemmArgs::packed). Shared so that a model copy (expert reload) does not re-quantise.
  std::shared_ptr<const cpu::PackedWeights> int8;

  const void* data() const { return buffer.get(); }
  const cpu::PackedWeights* packed() const { return int8.get(); }
  bool empty() const { return buffer.get() == nullptr && !int8; }
  int64_t numel() const;
  // Bytes this weight occupies as held (int8: quants + per-channel scales).
  size_t bytes() const;
};

struct AttentionWeights {
  // q_proj, k_proj and v_proj stacked into one [(H + 2·KV)·hd, D] matrix (like gate_up), so a
  // step runs one projection instead of three (one fork/join on the CPU, one GEMM on CUDA);
  // each output row is then [q heads | k heads | v heads].
  Weight qkv;
  Weight o;                         // [D, H*hd]
  Weight qkv_bias;                  // [(H + 2·KV)·hd] (Qwen2-MoE), or empty
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
  Weight lm_head;                   // [V, D]; empty when tied to embed (as-loaded), int8 copy of embed (int8)
  WeightFormat format = WeightFormat::kAsLoaded;
  const Weight& output() const { return lm_head.empty() ? embed : lm_head; }
  // Bytes of every weight as held on the backend.
  size_t bytes() const;
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
// `format` kInt8 needs a host-accessible (CPU) backend: std::invalid_argument otherwise.
ModelWeights load_weights(const ModelConfig& config, const Checkpoint& ckpt, Backend& backend,
                          const ExpertSelector& experts = {}, WeightFormat format = WeightFormat::kAsLoaded);

// One MoE layer's weights with only the routed experts `experts` (ascending ids) stacked:
// expert parallelism reloads a rank's experts this way when the placement changes.
MoeWeights load_moe_layer(const ModelConfig& config, const Checkpoint& ckpt, Backend& backend, int layer,
                          const std::vector<int32_t>& experts, WeightFormat format = WeightFormat::kAsLoaded);

WeightStats weight_stats(const ModelConfig& config, const Checkpoint& ckpt);

}  // namespace sy
