// Grouped GEMM: every expert's segment of rows times that expert's weight, in one call.
//   for e in [0, num_experts):  y[off[e]:off[e+1], :] = x[off[e]:off[e+1], :] · w[e]ᵀ (+ bias[e])
// w[e] keeps the Hugging Face [out = n, in = k] layout; the experts are stacked contiguously
// ([num_experts, n, k]). fp32 accumulation, y rounded to act_dtype. Experts with empty
// segments cost nothing. expert_offsets lives where the backend's data lives (host for CPU,
// device for CUDA); total_rows = off[num_experts] is also passed by value so launchers can
// size grids without a device-to-host copy.
#pragma once

#include "kernels/dtype.h"

namespace sy {

namespace cpu {
struct PackedWeights;
}

struct GroupedGemmArgs {
  const void* x = nullptr;               // [total_rows, k] act_dtype
  const void* w = nullptr;               // [num_experts, n, k] w_dtype
  const void* bias = nullptr;            // [num_experts, n] w_dtype, or null
  void* y = nullptr;                     // [total_rows, n] act_dtype
  const int32_t* expert_offsets = nullptr;  // [num_experts + 1]
  DType act_dtype = DType::kF32;
  DType w_dtype = DType::kF32;
  int num_experts = 0;
  int64_t n = 0, k = 0;
  int64_t total_rows = 0;
  // Optional CPU pre-packed weights made once at load (kernels/cpu/pack.h, e.g. int8
  // per-channel): when set, the CPU kernels stream these instead of w (w may be null).
  // Other backends ignore it.
  const cpu::PackedWeights* packed = nullptr;
};

namespace cpu {
void grouped_gemm(const GroupedGemmArgs& a);
}
namespace cuda {
void grouped_gemm(const GroupedGemmArgs& a, void* stream);
}

}  // namespace sy
