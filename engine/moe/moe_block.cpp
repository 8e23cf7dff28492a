#include "engine/moe/moe_block.h"

#include "engine/model/scratch_arena.h"

namespace sy {

void run_mlp(Backend& be, DType act, const MlpWeights& w, const void* x, void* out, int64_t T, int64_t D,
             ScratchArena& scratch) {
  const int64_t I = w.intermediate;
  const size_t es = dtype_size(act);
  void* gate_up = scratch.get("mlp.gate_up", T * 2 * I * es);  // [T, 2I]
  void* hidden = scratch.get("mlp.hidden", T * I * es);        // [T, I]
  be.linear({.x = x, .w = w.gate_up.data(), .y = gate_up, .x_dtype = act, .w_dtype = w.gate_up.dtype,
             .y_dtype = act, .m = T, .n = 2 * I, .k = D, .packed = w.gate_up.packed()});
  be.glu({.gate_up = gate_up, .out = hidden, .dtype = act, .rows = T, .inter = I});
  be.linear({.x = hidden, .w = w.down.data(), .y = out, .x_dtype = act, .w_dtype = w.down.dtype, .y_dtype = act,
             .m = T, .n = D, .k = I, .packed = w.down.packed()});
}

void run_moe_block(Backend& be, const ModelConfig& c, const MoeWeights& w, const MoeBlockArgs& a, ScratchArena& scratch) {
  const DType act = c.dtype;
  const size_t es = dtype_size(act);
  const int64_t T = a.num_tokens, D = c.hidden_size, I = c.moe_intermediate_size;
  const int E = c.num_experts, K = c.top_k;
  const int64_t rows = T * K;  // one row per (token, expert) pair

  // 1. Router.
  float* topk_weights = route_tokens(be, c, w, a, scratch);  // [T, K]

  // 2. Dispatch: sort pairs by expert into contiguous segments.
  int32_t* sorted_pairs = scratch.get<int32_t>("moe.sorted_pairs", rows);
  int32_t* pair_to_row = scratch.get<int32_t>("moe.pair_to_row", rows);
  be.moe_align({.topk_ids = a.topk_ids, .expert_offsets = a.expert_offsets, .sorted_pairs = sorted_pairs,
                .pair_to_row = pair_to_row, .num_pairs = rows, .num_experts = E});
  void* x_sorted = scratch.get("moe.x_sorted", rows * D * es);  // [rows, D]
  be.moe_permute({.x = a.x, .x_sorted = x_sorted, .sorted_pairs = sorted_pairs, .dtype = act, .num_rows = rows,
                  .hidden = D, .top_k = K});

  // 3. Experts: grouped GEMM gate_up -> SwiGLU -> grouped GEMM down, all segments in one call each.
  void* gate_up = scratch.get("moe.gate_up", rows * 2 * I * es);  // [rows, 2I]
  be.grouped_gemm({.x = x_sorted, .w = w.gate_up.data(), .y = gate_up, .expert_offsets = a.expert_offsets,
                   .act_dtype = act, .w_dtype = w.gate_up.dtype, .num_experts = E, .n = 2 * I, .k = D,
                   .total_rows = rows, .packed = w.gate_up.packed()});
  void* hidden = scratch.get("moe.hidden", rows * I * es);  // [rows, I]
  be.glu({.gate_up = gate_up, .out = hidden, .dtype = act, .rows = rows, .inter = I});
  void* y_sorted = scratch.get("moe.y_sorted", rows * D * es);  // [rows, D]
  be.grouped_gemm({.x = hidden, .w = w.down.data(), .y = y_sorted, .expert_offsets = a.expert_offsets,
                   .act_dtype = act, .w_dtype = w.down.dtype, .num_experts = E, .n = D, .k = I,
                   .total_rows = rows, .packed = w.down.packed()});

  // 4. Combine: weighted sum back in token order. Mixtral multiplies by the fp32 routing
  //    weights; the other families first cast them to the model dtype (as transformers does).
  be.moe_combine({.y_sorted = y_sorted, .pair_to_row = pair_to_row, .topk_ids = a.topk_ids,
                  .topk_weights = topk_weights, .out = a.out, .dtype = act, .num_tokens = T, .hidden = D,
                  .top_k = K, .round_weights = c.arch != Architecture::kMixtral});

  // 5. Shared expert.
  add_shared_expert(be, c, w, a, scratch);
}

float* route_tokens(Backend& be, const ModelConfig& c, const MoeWeights& w, const MoeBlockArgs& a, ScratchArena& scratch) {
  const DType act = c.dtype;
  const int64_t T = a.num_tokens, D = c.hidden_size;
  const int E = c.num_experts, K = c.top_k;
  // Logits in the activation dtype (transformers runs the gate linear in the model dtype),
  // softmax and top-k in fp32.
  void* logits = scratch.get("moe.router_logits", T * E * dtype_size(act));  // [T, E]
  be.linear({.x = a.x, .w = w.router.data(), .y = logits, .x_dtype = act, .w_dtype = w.router.dtype,
             .y_dtype = act, .m = T, .n = E, .k = D});
  float* topk_weights = scratch.get<float>("moe.topk_weights", T * K);  // [T, K]
  be.route({.logits = logits, .topk_ids = a.topk_ids, .topk_weights = topk_weights, .logits_dtype = act,
            .num_tokens = T, .num_experts = E, .top_k = K, .scoring = RouterScoring::kSoftmax,
            .renormalize = c.norm_topk_prob});
  return topk_weights;
}

void add_shared_expert(Backend& be, const ModelConfig& c, const MoeWeights& w, const MoeBlockArgs& a,
                       ScratchArena& scratch) {
  // Qwen2-MoE: out += sigmoid(x·w_gate) * SharedMLP(x).
  if (w.shared.gate_up.empty()) return;
  const DType act = c.dtype;
  const size_t es = dtype_size(act);
  const int64_t T = a.num_tokens, D = c.hidden_size;
  void* shared = scratch.get("moe.shared_out", T * D * es);  // [T, D]
  run_mlp(be, act, w.shared, a.x, shared, T, D, scratch);
  if (!w.shared_gate.empty()) {
    void* gate = scratch.get("moe.shared_gate", T * es);  // [T, 1]
    be.linear({.x = a.x, .w = w.shared_gate.data(), .y = gate, .x_dtype = act, .w_dtype = w.shared_gate.dtype,
               .y_dtype = act, .m = T, .n = 1, .k = D});
    be.gated_add({.y = a.out, .x = shared, .gate = gate, .dtype = act, .rows = T, .dim = D});
  } else {
    be.add({.a = a.out, .b = shared, .y = a.out, .dtype = act, .n = T * D});
  }
}

}  // namespace sy
