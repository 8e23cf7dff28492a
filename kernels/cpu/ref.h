// CPU reference kernels: the portable, scalar-plus-OpenMP version of every op in kernels/*.h
// and kernels/moe/*.h. Position in the stack: runner -> backend -> sy::cpu::<op> (ops.cpp)
// -> here. Every other implementation (AVX-512 fast paths, CUDA) is tested against these, so
// they follow the header semantics to the letter: fp32 loads and accumulation, rounding to the
// activation dtype exactly where transformers rounds when a model runs in bf16/f16.
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

namespace sy::cpu::ref {

void linear(const LinearArgs& a);
void rms_norm(const RmsNormArgs& a);
void rope(const RopeArgs& a);
void kv_cache_write(const KvCacheWriteArgs& a);
void paged_attention(const PagedAttentionArgs& a);
void embedding(const EmbeddingArgs& a);
void add(const AddArgs& a);
void gated_add(const GatedAddArgs& a);
void convert(const ConvertArgs& a);
void glu(const GluArgs& a);
void route(const RouterArgs& a);
void moe_align(const MoeAlignArgs& a);
void moe_permute(const PermuteArgs& a);
void moe_combine(const CombineArgs& a);
void grouped_gemm(const GroupedGemmArgs& a);

}  // namespace sy::cpu::ref
