// Dispatch and combine: the MoE "sort".
//   align:   counting sort of the num_tokens*top_k (token, slot) pairs by expert id, stable in
//            pair order -> expert_offsets (segment per expert), sorted_pairs, pair_to_row.
//   permute: gather token rows into expert order, x_sorted[r] = x[sorted_pairs[r] / top_k].
//   combine: out[t] = Σ_j round(y_sorted[pair_to_row[t*k + j]] * w'[t, j]), summing the
//            k terms in ascending expert id with a rounding to dtype after each add — the order
//            in which transformers' expert loop index_add_s them, so bf16 results match.
//            w' = round(w) when round_weights (Qwen2/3-MoE, OLMoE cast routing weights to the
//            model dtype), else w in fp32 (Mixtral keeps them fp32; the product is rounded).
// With expert parallelism the same plan decides which rows go to which rank.
#pragma once

#include "kernels/dtype.h"

namespace sy {

struct MoeAlignArgs {
  const int32_t* topk_ids = nullptr;  // [num_pairs] (= [num_tokens, top_k] flattened)
  int32_t* expert_offsets = nullptr;  // [num_experts + 1]
  int32_t* sorted_pairs = nullptr;    // [num_pairs] pair index p = t * top_k + j, grouped by expert
  int32_t* pair_to_row = nullptr;     // [num_pairs] inverse permutation
  int64_t num_pairs = 0;
  int num_experts = 0;
};

struct PermuteArgs {
  const void* x = nullptr;               // [num_tokens, hidden]
  void* x_sorted = nullptr;              // [num_rows, hidden]
  const int32_t* sorted_pairs = nullptr;  // [num_rows]
  DType dtype = DType::kF32;
  int64_t num_rows = 0, hidden = 0;
  int top_k = 1;
};

struct CombineArgs {
  const void* y_sorted = nullptr;        // [num_tokens * top_k, hidden] in expert order
  const int32_t* pair_to_row = nullptr;  // [num_tokens * top_k]
  const int32_t* topk_ids = nullptr;     // [num_tokens, top_k]
  const float* topk_weights = nullptr;   // [num_tokens, top_k]
  void* out = nullptr;                   // [num_tokens, hidden] (overwritten)
  DType dtype = DType::kF32;
  int64_t num_tokens = 0, hidden = 0;
  int top_k = 1;
  bool round_weights = true;
};

namespace cpu {
void moe_align(const MoeAlignArgs& a);
void moe_permute(const PermuteArgs& a);
void moe_combine(const CombineArgs& a);
}  // namespace cpu
namespace cuda {
void moe_align(const MoeAlignArgs& a, void* stream);
void moe_permute(const PermuteArgs& a, void* stream);
void moe_combine(const CombineArgs& a, void* stream);
}  // namespace cuda

}  // namespace sy
