// Helpers shared by the CPU reference kernels (kernels/cpu/*_ref.cpp); not a public API.
#pragma once

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/dtype.h"

namespace sy::cpu::ref::detail {

// Throws std::invalid_argument("<op>: <what>") when cond is false: argument errors are
// programming errors of the caller and must name the op and the field.
inline void require(bool cond, const char* op, const std::string& what) {
  if (!cond) throw std::invalid_argument(std::string(op) + ": " + what);
}

inline void require_float(DType t, const char* op, const char* field) {
  require(is_float_dtype(t), op,
          std::string(field) + " must be F32, F16 or BF16, got " + std::string(dtype_name(t)));
}

// Byte address of element i of a buffer of dtype t.
inline const void* offset(const void* p, DType t, int64_t i) {
  return static_cast<const char*>(p) + i * int64_t(dtype_size(t));
}
inline void* offset(void* p, DType t, int64_t i) {
  return static_cast<char*>(p) + i * int64_t(dtype_size(t));
}

// dst[0:n] = src[0:n] loaded to fp32.
inline void load_row(const void* src, DType t, int64_t n, float* dst) {
  switch (t) {
    case DType::kBF16: {
      const auto* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
      break;
    }
    case DType::kF16: {
      const auto* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(s[i]);
      break;
    }
    default: {
      const auto* s = static_cast<const float*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = s[i];
      break;
    }
  }
}

// fp32 dot product with eight independent partial sums (lane l sums elements i ≡ l mod 8),
// so the compiler can keep the lanes in one vector register without -ffast-math. All reference
// GEMM-like ops use this one summation order.
inline float dot(const float* a, const float* b, int64_t n) {
  float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) lanes[l] += a[i + l] * b[i + l];
  for (int l = 0; i < n; ++i, ++l) lanes[l] += a[i] * b[i];
  return ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
}

inline float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

// One tile of y = x · wᵀ (+ bias): rows [r0, r1) of x and y, output columns [c0, c1).
// Shared by linear and grouped_gemm. w_tile is scratch for (c1 - c0) * k floats and x_row for
// k floats: the tile's weight rows are converted to fp32 once and reused for every x row.
struct GemmOperands {
  const void* x;     // [rows, k] x_dtype, row stride ldx
  const void* w;     // [n, k] w_dtype
  const void* bias;  // [n] w_dtype or null
  void* y;           // [rows, n] y_dtype, row stride ldy
  DType x_dtype, w_dtype, y_dtype;
  int64_t n, k, ldx, ldy;
};
void gemm_tile(const GemmOperands& g, int64_t r0, int64_t r1, int64_t c0, int64_t c1,
               float* w_tile, float* x_row);

// Tile sizes for gemm_tile callers: 32 weight rows of fp32 (128 KiB at k = 1024) stay in L2
// while 64 x rows stream past them.
inline constexpr int64_t kGemmTileCols = 32;
inline constexpr int64_t kGemmTileRows = 64;

}  // namespace sy::cpu::ref::detail
