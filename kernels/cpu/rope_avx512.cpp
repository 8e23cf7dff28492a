// AVX-512 (16 fp32 lanes) rotary embedding: rope_simd.h compiled with this file's -m flags.
#include "kernels/cpu/rope_simd.h"
#include "kernels/cpu/simd_kernels.h"

namespace sy::cpu::avx512 {

bool try_rope(const RopeArgs& a) { return simd::rope(a); }

}  // namespace sy::cpu::avx512
