// AVX-512 (16 fp32 lanes) memory-bound ops (add, gated_add, convert, embedding, glu, moe_combine):
// elementwise_simd.h compiled with this file's -m flags.
#include "kernels/cpu/elementwise_simd.h"
#include "kernels/cpu/simd_kernels.h"

namespace sy::cpu::avx512 {

bool try_add(const AddArgs& a) { return simd::add(a); }
bool try_gated_add(const GatedAddArgs& a) { return simd::gated_add(a); }
bool try_convert(const ConvertArgs& a) { return simd::convert(a); }
bool try_embedding(const EmbeddingArgs& a) { return simd::embedding(a); }
bool try_glu(const GluArgs& a) { return simd::glu(a); }
bool try_moe_combine(const CombineArgs& a) { return simd::moe_combine(a); }

}  // namespace sy::cpu::avx512
