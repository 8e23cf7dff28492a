// AVX2 + FMA + F16C (8 fp32 lanes) router: router_simd.h compiled with this file's -m flags.
#include "kernels/cpu/router_simd.h"
#include "kernels/cpu/simd_kernels.h"

namespace sy::cpu::avx2 {

bool try_route(const RouterArgs& a) { return simd::route(a); }

}  // namespace sy::cpu::avx2
