// AVX2 + FMA + F16C (8 fp32 lanes) rotary embedding: rope_simd.h compiled with this file's -m flags.
#include "kernels/cpu/rope_simd.h"
#include "kernels/cpu/simd_kernels.h"

namespace sy::cpu::avx2 {

bool try_rope(const RopeArgs& a) { return simd::rope(a); }

}  // namespace sy::cpu::avx2
