#include "engine/model/memory_plan_model.h"

namespace sy {

MemoryPlanModel memory_plan_model(const ModelConfig& c, DType weight_dtype, const MemoryPlanOptions& o) {
  MemoryPlanModel m;
  m.num_layers = c.num_layers;
  m.num_moe_layers = c.num_moe_layers();
  m.hidden = c.hidden_size;
  m.num_heads = c.num_heads;
  m.num_kv_heads = c.num_kv_heads;
  m.head_dim = c.head_dim;
  m.num_experts = c.num_experts;
  m.top_k = c.top_k;
  m.moe_intermediate = c.moe_intermediate_size;
  m.shared_intermediate = c.shared_expert_intermediate_size;
  m.dense_intermediate = c.intermediate_size;
  m.vocab = c.vocab_size;
  m.tied_embeddings = c.tie_word_embeddings;
  // The planner's formula assumes per layer two head_dim q/k norms, and per MoE layer a
  // correction bias [E] and a shared-expert gate [D]. Correct it to this family's tensors:
  // q/k/v biases, the real q/k norm sizes, the gate only where it exists, no correction bias.
  const int64_t L = c.num_layers, L_moe = m.num_moe_layers;
  int64_t extra = -2LL * c.head_dim * L - int64_t(c.num_experts) * L_moe - int64_t(c.hidden_size) * L_moe;
  if (c.qkv_bias) extra += int64_t(c.num_heads + 2 * c.num_kv_heads) * c.head_dim * L;
  if (c.qk_norm == QkNorm::kPerHead) extra += 2LL * c.head_dim * L;
  if (c.qk_norm == QkNorm::kFull) extra += int64_t(c.num_heads + c.num_kv_heads) * c.head_dim * L;
  if (c.shared_expert_gate) extra += int64_t(c.hidden_size) * L_moe;
  m.extra_weight_params = extra;
  m.weight_bytes = static_cast<int>(dtype_size(weight_dtype));
  m.activation_bytes = static_cast<int>(dtype_size(c.dtype));
  m.kv_bytes = static_cast<int>(dtype_size(c.dtype));
  m.max_tokens_per_step = o.max_tokens_per_step;
  m.max_seqs_per_step = o.max_seqs_per_step;
  m.block_size = o.block_size;
  return m;
}

}  // namespace sy
