// The MoE block of one layer — where routing happens (DESIGN.md §2, §4.2):
//   router logits -> top-k experts + weights per token (route)
//   -> sort (token, expert) pairs by expert into contiguous segments (moe_align, moe_permute)
//   -> grouped GEMM gate_up -> SwiGLU -> grouped GEMM down over all segments at once
//   -> weighted combine back to token order (moe_combine)
//   (+ shared expert, gated by sigmoid for Qwen2-MoE)
// No loop over experts or tokens here: every step is one backend op over the whole batch.
#pragma once

#include <cstdint>

#include "engine/backend/backend.h"
#include "engine/model/config.h"
#include "engine/model/weights.h"

namespace sy {

class ScratchArena;

struct MoeBlockArgs {
  const void* x = nullptr;          // [num_tokens, hidden] act dtype (post-attention-normed)
  void* out = nullptr;              // [num_tokens, hidden] act dtype (overwritten)
  int64_t num_tokens = 0;
  int32_t* expert_offsets = nullptr;  // [num_experts + 1] on the backend, kept for routing stats
  int32_t* topk_ids = nullptr;        // [num_tokens, top_k] on the backend (kept for inspection)
};

void run_moe_block(Backend& be, const ModelConfig& c, const MoeWeights& w, const MoeBlockArgs& a, ScratchArena& scratch);

// The block's first and last steps, shared with the expert-parallel block (engine/parallel):
// router logits -> a.topk_ids and topk_weights ([num_tokens, top_k] fp32, returned);
float* route_tokens(Backend& be, const ModelConfig& c, const MoeWeights& w, const MoeBlockArgs& a, ScratchArena& scratch);
// a.out += shared expert of a.x (Qwen2-MoE; gated by sigmoid when the model has the gate).
// Does nothing when the model has no shared expert.
void add_shared_expert(Backend& be, const ModelConfig& c, const MoeWeights& w, const MoeBlockArgs& a,
                       ScratchArena& scratch);

// Dense SwiGLU MLP (non-MoE layers and shared experts): out = down(silu(gate(x)) * up(x)).
void run_mlp(Backend& be, DType act, const MlpWeights& w, const void* x, void* out, int64_t num_tokens, int64_t hidden,
             ScratchArena& scratch);

}  // namespace sy
