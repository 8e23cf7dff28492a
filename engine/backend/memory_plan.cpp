// Device memory plan (see memory_plan.h). Sizes are upper bounds of what the forward pass keeps
// alive at once, counted buffer by buffer below, so that a plan that fits really fits.
#include "engine/backend/memory_plan.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace sy {
namespace {

constexpr size_t kMiB = size_t(1) << 20;
// cuBLAS workspace, CUDA graph pools and allocator fragmentation: free memory is never all usable.
constexpr size_t kHeadroomBytes = 512 * kMiB;
constexpr size_t kCublasWorkspaceBytes = 32 * kMiB;

std::string gib(size_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", double(bytes) / double(size_t(1) << 30));
  return buf;
}

void require_positive(int64_t v, const char* field) {
  if (v <= 0) throw std::invalid_argument(std::string("memory plan: ") + field + " must be > 0, got " + std::to_string(v));
}

int64_t head_dim_v(const MemoryPlanModel& m) { return m.head_dim_v > 0 ? m.head_dim_v : m.head_dim; }

// Rows of logits (and of sampling) in one step.
int64_t sampled_rows(const MemoryPlanModel& m) {
  return m.max_seqs_per_step > 0 ? m.max_seqs_per_step : m.max_tokens_per_step;
}

// Peak activation bytes of one step of T tokens: the buffers of one layer that are alive at
// the same time (layers reuse them), plus the lm_head logits.
size_t activation_bytes(const MemoryPlanModel& m) {
  const int64_t T = m.max_tokens_per_step;
  const int64_t seqs = sampled_rows(m);
  const int64_t q = m.num_heads * m.head_dim, kv = m.num_kv_heads * (m.head_dim + head_dim_v(m));
  const int64_t attn_out = m.num_heads * head_dim_v(m);
  int64_t elems = 0;
  elems += 3 * T * m.hidden;              // residual stream, normed input, block output
  elems += T * (q + kv) + T * attn_out;   // q/k/v projections, attention output
  int64_t mlp = 0;
  if (m.num_moe_layers > 0) {
    const int64_t rows = T * m.top_k;     // (token, expert) pairs
    mlp = std::max(mlp, rows * m.hidden          // permuted input
                            + rows * 2 * m.moe_intermediate  // gate_up
                            + rows * m.moe_intermediate      // activation
                            + rows * m.hidden                // down output, expert order
                            + T * 3 * m.shared_intermediate); // shared expert gate_up + act
  }
  if (m.num_layers > m.num_moe_layers) mlp = std::max(mlp, T * 3 * m.dense_intermediate);
  elems += mlp;
  size_t bytes = size_t(elems) * size_t(m.activation_bytes);
  bytes += size_t(seqs) * size_t(m.vocab) * (size_t(m.activation_bytes) + 4);  // logits + fp32 copy for sampling
  return bytes;
}

// The device sampler's scratch for a step of non-greedy rows (kernels/cuda/sampling.cu): per
// (row, token) the probabilities, their ids, the sorted pairs (4 x 4 bytes) and the segmented
// radix sort's alternate key/value buffers (8 bytes). For 256 rows of a 152k vocabulary this is
// about 0.9 GiB, more than the headroom: it has to be planned, not left to chance.
size_t sampler_scratch_bytes(const MemoryPlanModel& m) {
  return size_t(sampled_rows(m)) * size_t(m.vocab) * (4 * 4 + 8);
}

// Buffers whose size does not scale with the model's width: routing, the expert sort, block
// tables, and the sampler's scratch, plus headroom.
size_t workspace_bytes(const MemoryPlanModel& m) {
  const int64_t T = m.max_tokens_per_step;
  const int64_t pairs = T * std::max<int64_t>(m.top_k, 1);
  size_t bytes = kHeadroomBytes + kCublasWorkspaceBytes;
  bytes += size_t(T) * size_t(std::max<int64_t>(m.num_experts, 1)) * 4;  // fp32 router logits
  bytes += size_t(pairs) * (4 + 4 + 4 + 4);                            // ids, weights, sorted pairs, rows
  bytes += size_t(std::max<int64_t>(m.num_experts, 1) + 1) * 4;         // expert offsets
  bytes += size_t(T) * (4 + 4 + 8);                                     // ids, positions, slot mapping
  bytes += sampler_scratch_bytes(m);
  return bytes;
}

}  // namespace

int64_t count_weight_params(const MemoryPlanModel& m) {
  const int64_t h = m.hidden;
  const int64_t dv = head_dim_v(m);
  int64_t attention = h * m.num_heads * m.head_dim          // q
                      + h * m.num_kv_heads * m.head_dim     // k
                      + h * m.num_kv_heads * dv             // v
                      + m.num_heads * dv * h                // o
                      + 2 * m.head_dim                      // q/k norms (Qwen3, OLMoE)
                      + 2 * h;                              // input and post-attention norms
  const int64_t moe = m.num_experts * 3 * h * m.moe_intermediate  // gate, up, down per expert
                      + m.num_experts * h                         // router
                      + m.num_experts                             // correction bias
                      + 3 * h * m.shared_intermediate + h;        // shared experts and their gate
  const int64_t dense = 3 * h * m.dense_intermediate;
  const int64_t dense_layers = m.num_layers - m.num_moe_layers;
  return m.num_layers * attention + m.num_moe_layers * moe + dense_layers * dense +
         m.vocab * h * (m.tied_embeddings ? 1 : 2) + h + m.extra_weight_params;
}

int64_t MemoryPlan::kv_tokens() const { return kv_blocks * block_size; }

std::string MemoryPlan::summary() const {
  return "weights " + gib(weight_bytes) + ", activations " + gib(activation_bytes) + ", workspace " +
         gib(workspace_bytes) + ", KV cache " + gib(kv_cache_bytes) + " (" + std::to_string(kv_blocks) +
         " blocks of " + std::to_string(block_size) + " tokens); " + gib(free_bytes) + " free before loading";
}

MemoryPlan plan_memory(const MemoryPlanModel& m, size_t free_bytes, double kv_share, int device) {
  require_positive(m.num_layers, "num_layers");
  require_positive(m.hidden, "hidden");
  require_positive(m.num_heads, "num_heads");
  require_positive(m.num_kv_heads, "num_kv_heads");
  require_positive(m.head_dim, "head_dim");
  require_positive(m.vocab, "vocab");
  require_positive(m.max_tokens_per_step, "max_tokens_per_step");
  require_positive(m.block_size, "block_size");
  require_positive(m.weight_bytes, "weight_bytes");
  require_positive(m.activation_bytes, "activation_bytes");
  require_positive(m.kv_bytes, "kv_bytes");
  if (m.num_moe_layers < 0 || m.num_moe_layers > m.num_layers)
    throw std::invalid_argument("memory plan: num_moe_layers must be in [0, num_layers]");
  if (m.num_moe_layers > 0) {
    require_positive(m.num_experts, "num_experts");
    require_positive(m.top_k, "top_k");
    require_positive(m.moe_intermediate, "moe_intermediate");
  }
  if (!(kv_share > 0.0 && kv_share <= 1.0))
    throw std::invalid_argument("memory plan: kv_share must be in (0, 1], got " + std::to_string(kv_share));

  MemoryPlan plan;
  plan.free_bytes = free_bytes;
  plan.block_size = m.block_size;
  plan.weight_bytes = size_t(count_weight_params(m)) * size_t(m.weight_bytes);
  plan.activation_bytes = activation_bytes(m);
  plan.workspace_bytes = workspace_bytes(m);
  plan.kv_block_bytes = size_t(m.block_size) * size_t(m.num_layers) * size_t(m.num_kv_heads) *
                        size_t(m.head_dim + head_dim_v(m)) * size_t(m.kv_bytes);

  const size_t fixed = plan.weight_bytes + plan.activation_bytes + plan.workspace_bytes;
  const std::string device_free = "device " + std::to_string(device) + " has " + gib(free_bytes) + " free";
  if (fixed > free_bytes)
    throw std::runtime_error("not enough device memory: needs " + gib(plan.weight_bytes) + " for weights, " +
                             gib(plan.activation_bytes) + " activations, " + gib(plan.workspace_bytes) +
                             " workspace; " + device_free + " (short by " + gib(fixed - free_bytes) + ")");

  const size_t remaining = free_bytes - fixed;
  plan.kv_blocks = int64_t(double(remaining) * kv_share) / int64_t(plan.kv_block_bytes);
  plan.kv_cache_bytes = size_t(plan.kv_blocks) * plan.kv_block_bytes;
  // One full step must fit in the cache, or the scheduler could never run its token budget.
  const int64_t min_blocks = (m.max_tokens_per_step + m.block_size - 1) / m.block_size;
  if (plan.kv_blocks < min_blocks)
    throw std::runtime_error("not enough device memory for the KV cache: " + std::to_string(min_blocks) +
                             " blocks (" + gib(size_t(min_blocks) * plan.kv_block_bytes) + ") needed for " +
                             std::to_string(m.max_tokens_per_step) + " tokens per step, " +
                             std::to_string(plan.kv_blocks) + " fit in " + gib(size_t(double(remaining) * kv_share)) +
                             " (kv_share " + std::to_string(kv_share) + " of " + gib(remaining) +
                             " left after weights " + gib(plan.weight_bytes) + ", activations " +
                             gib(plan.activation_bytes) + ", workspace " + gib(plan.workspace_bytes) + "; " +
                             device_free + ")");
  return plan;
}

}  // namespace sy
