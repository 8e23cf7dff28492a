// RMSNorm over the last dimension.
//   kLlama:    r = x32 * rsqrt(mean(x32²) + eps); y = w * r.to(dtype)   (multiply in dtype)
//   kWeightF32 (GPT-OSS): y = (w_f32 * r).to(dtype)
// x and y may alias (in-place). Used for layer norms and for Qwen3/OLMoE q/k norms.
// A row may hold several vectors normalised separately (`groups`): Qwen3's per-head q/k norms
// run on the heads of a fused q|k|v projection row, whose token stride is not heads · dim.
#pragma once

#include "kernels/dtype.h"

namespace sy {

enum class RmsNormStyle : uint8_t { kLlama, kWeightF32 };

struct RmsNormArgs {
  const void* x = nullptr;  // [rows, groups, dim] dtype, row stride ldx (groups contiguous)
  const void* w = nullptr;  // [dim] w_dtype
  void* y = nullptr;        // [rows, groups, dim] dtype, row stride ldy
  DType dtype = DType::kF32;
  DType w_dtype = DType::kF32;
  int64_t rows = 0, dim = 0;
  int64_t ldx = 0, ldy = 0;  // 0 means groups · dim
  float eps = 1e-6f;
  RmsNormStyle style = RmsNormStyle::kLlama;
  int64_t groups = 1;  // vectors of dim per row, each normalised on its own
};

namespace cpu {
void rms_norm(const RmsNormArgs& a);
}
namespace cuda {
void rms_norm(const RmsNormArgs& a, void* stream);
}

}  // namespace sy
