// Dense linear layer: y[m, n] = x[m, k] · w[n, k]ᵀ (+ bias[n]).
// Used for attention projections, dense MLPs, router logits and lm_head. Weights keep the
// Hugging Face [out, in] layout. fp32 accumulation; y rounded to y_dtype on store.
#pragma once

#include "kernels/dtype.h"

namespace sy {

namespace cpu {
struct PackedWeights;
}

struct LinearArgs {
  const void* x = nullptr;     // [m, k] x_dtype, row stride ldx elements
  const void* w = nullptr;     // [n, k] w_dtype, contiguous
  const void* bias = nullptr;  // [n] w_dtype, or null
  void* y = nullptr;           // [m, n] y_dtype, row stride ldy elements
  DType x_dtype = DType::kF32;
  DType w_dtype = DType::kF32;
  DType y_dtype = DType::kF32;
  int64_t m = 0, n = 0, k = 0;
  int64_t ldx = 0;  // 0 means k
  int64_t ldy = 0;  // 0 means n
  // Optional CPU pre-packed weights made once at load (kernels/cpu/pack.h, e.g. int8
  // per-channel): when set, the CPU kernels stream these instead of w (w may be null).
  // Other backends ignore it.
  const cpu::PackedWeights* packed = nullptr;
};

namespace cpu {
void linear(const LinearArgs& a);
}
namespace cuda {
void linear(const LinearArgs& a, void* stream);
}

}  // namespace sy
