// AVX-512 (16 fp32 lanes) paged attention: attention_simd.h compiled with this file's -m flags.
#include "kernels/cpu/attention_simd.h"
#include "kernels/cpu/simd_kernels.h"

namespace sy::cpu::avx512 {

bool try_paged_attention(const PagedAttentionArgs& a) { return simd::paged_attention(a); }

}  // namespace sy::cpu::avx512
