// fp32 -> bf16 rounding on 16 AVX-512 lanes, exactly dtype.h's f32_to_bf16 (round to nearest
// even, NaN kept quiet). Shared by simd_vec.h's stores and the AMX tile store
// (matmul_amx_bf16.h), which does not include simd_vec.h: that header switches off FMA
// contraction for the file that includes it, which the matmul kernels do not need.
#pragma once

#include <immintrin.h>

namespace sy::cpu::simd {
namespace {

// The bf16 bit patterns of v's lanes, in the low halves of the 32-bit lanes.
inline __m512i bf16_bits(__m512 v) {
  const __m512i u = _mm512_castps_si512(v);
  const __m512i hi = _mm512_srli_epi32(u, 16);
  const __m512i bias = _mm512_add_epi32(_mm512_and_si512(hi, _mm512_set1_epi32(1)), _mm512_set1_epi32(0x7fff));
  const __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(u, bias), 16);
  const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  return _mm512_mask_blend_epi32(nan, rounded, _mm512_or_si512(hi, _mm512_set1_epi32(0x40)));
}

}  // namespace
}  // namespace sy::cpu::simd
