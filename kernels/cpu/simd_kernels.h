// Entry points of the SIMD kernel variants. kernels/cpu/ops.cpp calls them after checking
// active_isa() (cpu_features.h); each returns false, having done nothing, when it does not
// handle the arguments (dtype combination), and the caller then runs the reference.
// Never call an avx512:: function on a CPU without AVX-512 BF16/VNNI, nor avx2:: without AVX2/FMA.
#pragma once

#include "kernels/attention.h"
#include "kernels/linear.h"
#include "kernels/moe/grouped_gemm.h"
#include "kernels/norm.h"

namespace sy::cpu {

namespace avx512 {
bool try_linear(const LinearArgs& a);
bool try_grouped_gemm(const GroupedGemmArgs& a);
}  // namespace avx512

namespace avx2 {
bool try_linear(const LinearArgs& a);
bool try_grouped_gemm(const GroupedGemmArgs& a);
}  // namespace avx2

}  // namespace sy::cpu
