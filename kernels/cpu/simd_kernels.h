// Entry points of the SIMD kernel variants. kernels/cpu/ops.cpp calls them after checking
// active_isa() (cpu_features.h); each returns false, having done nothing, when it does not
// handle the arguments (dtype combination, a variant it leaves to the reference, or arguments
// the reference would reject), and the caller then runs the reference, which also reports
// invalid arguments. matmul_*.cpp hold linear / grouped_gemm; the small ops live in
// {norm,rope,attention,router,elementwise}_{avx512,avx2}.cpp over the shared *_simd.h.
// Never call an avx512:: function on a CPU without AVX-512 BF16/VNNI, nor avx2:: without AVX2/FMA.
#pragma once

#include "kernels/activation.h"
#include "kernels/attention.h"
#include "kernels/elementwise.h"
#include "kernels/linear.h"
#include "kernels/moe/dispatch.h"
#include "kernels/moe/grouped_gemm.h"
#include "kernels/moe/router.h"
#include "kernels/norm.h"
#include "kernels/rope.h"

namespace sy::cpu {

namespace avx512 {
bool try_linear(const LinearArgs& a);
bool try_grouped_gemm(const GroupedGemmArgs& a);
bool try_rms_norm(const RmsNormArgs& a);
bool try_rope(const RopeArgs& a);
bool try_paged_attention(const PagedAttentionArgs& a);
bool try_route(const RouterArgs& a);
bool try_add(const AddArgs& a);
bool try_gated_add(const GatedAddArgs& a);
bool try_convert(const ConvertArgs& a);
bool try_embedding(const EmbeddingArgs& a);
bool try_glu(const GluArgs& a);
bool try_moe_combine(const CombineArgs& a);
// pack.h's quantize_activation_row, vectorised; the same integers and scales bit for bit.
void quantize_activation_row(const void* x, DType dtype, int64_t k, int64_t k_pad, int8_t* q, float* lane_scales,
                             int32_t* neg_lane_sums);
}  // namespace avx512

namespace avx2 {
bool try_linear(const LinearArgs& a);
bool try_grouped_gemm(const GroupedGemmArgs& a);
bool try_rms_norm(const RmsNormArgs& a);
bool try_rope(const RopeArgs& a);
bool try_paged_attention(const PagedAttentionArgs& a);
bool try_route(const RouterArgs& a);
bool try_add(const AddArgs& a);
bool try_gated_add(const GatedAddArgs& a);
bool try_convert(const ConvertArgs& a);
bool try_embedding(const EmbeddingArgs& a);
bool try_glu(const GluArgs& a);
bool try_moe_combine(const CombineArgs& a);
}  // namespace avx2

}  // namespace sy::cpu
