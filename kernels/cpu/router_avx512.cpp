// AVX-512 (16 fp32 lanes) router: router_simd.h compiled with this file's -m flags.
#include "kernels/cpu/router_simd.h"
#include "kernels/cpu/simd_kernels.h"

namespace sy::cpu::avx512 {

bool try_route(const RouterArgs& a) { return simd::route(a); }

}  // namespace sy::cpu::avx512
