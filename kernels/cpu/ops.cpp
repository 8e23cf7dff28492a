// The public CPU kernel entry points (sy::cpu::<op>, declared in kernels/*.h), called by the
// CPU backend. Each forwards to the implementation chosen for this CPU: today the portable
// reference in kernels/cpu/*_ref.cpp; SIMD fast paths slot in here behind active_isa().
#include "kernels/cpu/ref.h"

namespace sy::cpu {

void linear(const LinearArgs& a) { ref::linear(a); }
void rms_norm(const RmsNormArgs& a) { ref::rms_norm(a); }
void rope(const RopeArgs& a) { ref::rope(a); }
void kv_cache_write(const KvCacheWriteArgs& a) { ref::kv_cache_write(a); }
void paged_attention(const PagedAttentionArgs& a) { ref::paged_attention(a); }
void embedding(const EmbeddingArgs& a) { ref::embedding(a); }
void add(const AddArgs& a) { ref::add(a); }
void gated_add(const GatedAddArgs& a) { ref::gated_add(a); }
void convert(const ConvertArgs& a) { ref::convert(a); }
void glu(const GluArgs& a) { ref::glu(a); }
void route(const RouterArgs& a) { ref::route(a); }
void moe_align(const MoeAlignArgs& a) { ref::moe_align(a); }
void moe_permute(const PermuteArgs& a) { ref::moe_permute(a); }
void moe_combine(const CombineArgs& a) { ref::moe_combine(a); }
void grouped_gemm(const GroupedGemmArgs& a) { ref::grouped_gemm(a); }

}  // namespace sy::cpu
