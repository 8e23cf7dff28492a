// Device memory plan: before any weight is loaded, decide how the device's free memory splits
// into weights (all experts resident), activations for the largest step, kernel workspace and
// the paged KV cache, and refuse to start with a message naming the shortfall.
// Position: server start -> model loading (the lead wires it there) -> here; the scheduler's
// block manager then gets kv_blocks. Device-independent: the caller passes free bytes
// (Backend::free_memory()), so the arithmetic is unit-tested on CPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace sy {

// What the plan needs to know about a model and a serving configuration.
struct MemoryPlanModel {
  int64_t num_layers = 0;
  int64_t num_moe_layers = 0;          // the rest are dense MLP layers
  int64_t hidden = 0;
  int64_t num_heads = 0, num_kv_heads = 0;
  int64_t head_dim = 0, head_dim_v = 0;  // head_dim_v 0 means head_dim
  int64_t num_experts = 0, top_k = 0;
  int64_t moe_intermediate = 0;        // per routed expert
  int64_t shared_intermediate = 0;     // all shared experts together; 0 = none
  int64_t dense_intermediate = 0;      // dense MLP layers
  int64_t vocab = 0;
  bool tied_embeddings = false;
  int64_t extra_weight_params = 0;     // parameters not modelled above (biases, MLA low-rank projections)
  int weight_bytes = 2;                // bytes per weight element (bf16: 2)
  int activation_bytes = 2;            // bytes per activation element
  int kv_bytes = 2;                    // bytes per KV-cache element
  int64_t max_tokens_per_step = 0;     // scheduler token budget
  int64_t max_seqs_per_step = 0;       // sequences sampled per step (lm_head rows); 0 = max_tokens_per_step
  int64_t block_size = 16;             // KV-cache tokens per block
};

struct MemoryPlan {
  size_t free_bytes = 0;          // what the device reported before loading
  size_t weight_bytes = 0;
  size_t activation_bytes = 0;
  size_t workspace_bytes = 0;     // cuBLAS workspace, routing/sort buffers, sampler scratch, headroom
  size_t kv_cache_bytes = 0;      // kv_blocks * kv_block_bytes
  size_t kv_block_bytes = 0;      // one block of block_size tokens, all layers, K and V
  int64_t kv_blocks = 0;
  int64_t kv_tokens() const;      // kv_blocks * block_size
  int64_t block_size = 0;
  // "weights 1.2 GiB, activations 0.1 GiB, workspace 0.3 GiB, KV cache 20.0 GiB (81920 blocks of 16 tokens)"
  std::string summary() const;
};

// Parameter count of the model's weights (embedding, attention, experts, router, norms, lm_head).
int64_t count_weight_params(const MemoryPlanModel& m);

// kv_share: the fraction of what remains after weights, activations and workspace that the KV
// cache takes (0 < kv_share <= 1). Throws std::invalid_argument for impossible dimensions and
// std::runtime_error naming the shortfall, e.g. "needs 37.20 GiB for weights, 1.10 GiB
// activations, 0.31 GiB workspace; device 0 has 24.00 GiB free", or when not even one step's
// worth of KV blocks fits.
MemoryPlan plan_memory(const MemoryPlanModel& m, size_t free_bytes, double kv_share, int device = 0);

}  // namespace sy
