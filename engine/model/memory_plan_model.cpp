#include "engine/model/memory_plan_model.h"

#include "kernels/cpu/pack.h"

namespace sy {
namespace {

// Bytes of an [n, k] matrix held as int8 (kernels/cpu/pack.h): padded rows + an fp32 scale per row.
int64_t int8_bytes(int64_t n, int64_t k) {
  const int64_t k_pad = (k + cpu::kInt8Group - 1) / cpu::kInt8Group * cpu::kInt8Group;
  const int64_t n_pad = (n + cpu::kInt8TileRows - 1) / cpu::kInt8TileRows * cpu::kInt8TileRows;
  return n_pad * (k_pad + int64_t(sizeof(float)));
}

// The matrices WeightFormat::kInt8 quantises (weights.h), as (params, int8 bytes).
struct QuantizedTotals {
  int64_t params = 0, bytes = 0;
  void add(int64_t count, int64_t n, int64_t k) {
    params += count * n * k;
    bytes += count * int8_bytes(n, k);
  }
};

QuantizedTotals quantized_totals(const ModelConfig& c) {
  const int64_t D = c.hidden_size, H = c.num_heads, KV = c.num_kv_heads, hd = c.head_dim;
  const int64_t L = c.num_layers, L_moe = c.num_moe_layers();
  QuantizedTotals q;
  q.add(L, H * hd, D);       // q
  q.add(2 * L, KV * hd, D);  // k, v
  q.add(L, D, H * hd);       // o
  q.add(L_moe * c.num_experts, 2 * c.moe_intermediate_size, D);  // routed gate_up
  q.add(L_moe * c.num_experts, D, c.moe_intermediate_size);      // routed down
  if (c.shared_expert_intermediate_size > 0) {
    q.add(L_moe, 2 * c.shared_expert_intermediate_size, D);
    q.add(L_moe, D, c.shared_expert_intermediate_size);
  }
  q.add(L - L_moe, 2 * c.intermediate_size, D);  // dense MLPs
  q.add(L - L_moe, D, c.intermediate_size);
  q.add(1, c.vocab_size, D);  // lm_head (tied: the int8 copy beside the float embedding)
  return q;
}

}  // namespace

MemoryPlanModel memory_plan_model(const ModelConfig& c, DType weight_dtype, const MemoryPlanOptions& o,
                                  WeightFormat format) {
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
  if (format == WeightFormat::kInt8) {
    const int64_t params = count_weight_params(m);
    const QuantizedTotals q = quantized_totals(c);
    // A tied lm_head's int8 copy is extra; an untied one replaces lm_head's float parameters.
    const int64_t float_params = params - q.params + (c.tie_word_embeddings ? int64_t(c.vocab_size) * c.hidden_size : 0);
    const int64_t bytes = float_params * int64_t(dtype_size(weight_dtype)) + q.bytes;
    m.weight_bytes = 1;
    m.extra_weight_params += bytes - params;
  }
  m.max_tokens_per_step = o.max_tokens_per_step;
  m.max_seqs_per_step = o.max_seqs_per_step;
  m.block_size = o.block_size;
  return m;
}

}  // namespace sy
