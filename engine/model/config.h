// ModelConfig: the Hugging Face config.json of a supported MoE family, normalised.
// Sits at the start of loading: config -> weights (weights.h) -> ModelRunner (model_runner.h).
// Accepts both the hub spelling (rope_theta + rope_scaling, num_experts or num_local_experts,
// torch_dtype) and the transformers v5 spelling (rope_parameters, dtype, layer_types).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernels/dtype.h"

namespace sy {

enum class Architecture { kMixtral, kQwen2Moe, kQwen3Moe, kOlmoe };

// "MixtralForCausalLM", ... : the names config.json's "architectures" uses.
const char* architecture_name(Architecture a);
// Comma-separated list of the supported architecture names, for error messages.
std::string supported_architectures();

// How q/k are normalised before RoPE.
enum class QkNorm { kNone, kPerHead /* Qwen3: RMSNorm over head_dim */, kFull /* OLMoE: over H*hd */ };

struct RopeConfig {
  std::string type = "default";  // default | linear | yarn
  float theta = 10000.0f;
  float factor = 1.0f;
  int original_max_position = 0;  // yarn
  float beta_fast = 32.0f, beta_slow = 1.0f;  // yarn
  float mscale = 1.0f, mscale_all_dim = 0.0f;  // yarn
  std::optional<float> attention_factor;      // yarn
  bool truncate = true;                       // yarn
  float partial_rotary_factor = 1.0f;
};

struct ModelConfig {
  Architecture arch = Architecture::kMixtral;
  std::string model_type;
  DType dtype = DType::kF32;  // activation dtype = the checkpoint's torch dtype
  bool dtype_given = false;   // config.json named it; else the loader takes the embedding's dtype

  int vocab_size = 0;
  int hidden_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int max_position_embeddings = 0;
  float rms_norm_eps = 1e-6f;
  RopeConfig rope;
  bool tie_word_embeddings = false;

  bool qkv_bias = false;   // q/k/v projections carry biases (Qwen2-MoE)
  QkNorm qk_norm = QkNorm::kNone;
  std::optional<float> clip_qkv;  // OLMoE
  std::vector<int> sliding_window_per_layer;  // 0 = full attention, else window size

  // MoE
  int num_experts = 0;
  int top_k = 0;
  int moe_intermediate_size = 0;     // per routed expert
  int intermediate_size = 0;         // dense MLP layers
  int shared_expert_intermediate_size = 0;  // 0 = no shared expert
  bool shared_expert_gate = false;   // Qwen2-MoE: sigmoid(x·w) scales the shared expert
  bool norm_topk_prob = false;
  std::vector<bool> moe_layer;       // per layer: MoE block or dense MLP

  std::optional<int> bos_token_id;
  std::vector<int> eos_token_ids;    // config.json + generation_config.json

  static ModelConfig from_json(const nlohmann::json& j, const std::string& source = "config.json");
  // Reads dir/config.json (and dir/generation_config.json for eos ids when present).
  static ModelConfig from_model_dir(const std::filesystem::path& dir);

  bool is_moe_layer(int layer) const { return moe_layer.at(layer); }
  int rotary_dim() const;
  int num_moe_layers() const;
};

}  // namespace sy
