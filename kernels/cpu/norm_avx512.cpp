// AVX-512 (16 fp32 lanes) RMSNorm: norm_simd.h compiled with this file's -m flags.
#include "kernels/cpu/norm_simd.h"
#include "kernels/cpu/simd_kernels.h"

namespace sy::cpu::avx512 {

bool try_rms_norm(const RmsNormArgs& a) { return simd::rms_norm(a); }

}  // namespace sy::cpu::avx512
