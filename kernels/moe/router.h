// Router: per-token expert scores -> top-k expert ids and combine weights.
// "MoE is a sort, not a loop" (DESIGN.md §4.2): this is the first step, producing the
// (token, expert, weight) triples that dispatch sorts.
//
//   kSoftmax (Mixtral, Qwen2/3-MoE, OLMoE): p = softmax_fp32(logits); top-k of p;
//            optional renormalise w /= Σw.
//   kSigmoid (DeepSeek-V3): s = sigmoid(logits); selection on s + correction_bias (if any),
//            restricted to the best topk_group of n_group groups (group score = sum of the
//            group's top-2 biased scores); weights are the unbiased s of the chosen experts;
//            optional renormalise w /= (Σw + 1e-20).
//   kSoftmaxTopk (GPT-OSS): top-k of the raw logits, then softmax over those k values.
// Then w *= routed_scaling_factor. Ties go to the lower expert id. Ids come out in descending
// score order (torch.topk's order). Weights stay fp32; the combine rounds them to the
// activation dtype as transformers does.
#pragma once

#include "kernels/dtype.h"

namespace sy {

enum class RouterScoring : uint8_t { kSoftmax, kSigmoid, kSoftmaxTopk };

struct RouterArgs {
  const void* logits = nullptr;            // [num_tokens, num_experts] logits_dtype
  const float* correction_bias = nullptr;  // [num_experts] or null (selection only)
  int32_t* topk_ids = nullptr;             // [num_tokens, top_k]
  float* topk_weights = nullptr;           // [num_tokens, top_k]
  DType logits_dtype = DType::kF32;
  int64_t num_tokens = 0;
  int num_experts = 0, top_k = 0;
  RouterScoring scoring = RouterScoring::kSoftmax;
  bool renormalize = false;
  float routed_scaling_factor = 1.0f;
  int n_group = 1, topk_group = 1;  // group-limited selection (DeepSeek-V3); 1/1 = off
};

namespace cpu {
void route(const RouterArgs& a);
}
namespace cuda {
void route(const RouterArgs& a, void* stream);
}

}  // namespace sy
