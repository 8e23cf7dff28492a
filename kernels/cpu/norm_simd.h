// SIMD RMSNorm (kernels/norm.h), compiled once per ISA by norm_avx512.cpp and norm_avx2.cpp.
// Bit-identical to ref::rms_norm: the sum of squares runs in the reference's lane order
// (simd_vec.h's sum_squares_ref_order), 1/sqrt is the same scalar expression, and each output
// is the same product(s) rounded once on store. Each row is read twice (sum, then scale) and
// every element is read before its own output is stored, so x and y may alias (in-place norm).
// Rows spread over the OpenMP threads only when the call is large (prefill); a decode step's
// norms (one row of hidden_size, or a few rows of head_dim) run without a fork/join.
#pragma once

#include <omp.h>

#include <vector>

#include "kernels/cpu/simd_vec.h"
#include "kernels/norm.h"

namespace sy::cpu::simd {
namespace {

bool rms_norm_supported(const RmsNormArgs& a) {
  const int64_t row = a.groups * a.dim, ldx = a.ldx ? a.ldx : row, ldy = a.ldy ? a.ldy : row;
  return a.rows > 0 && a.dim > 0 && a.groups > 0 && is_float_dtype(a.dtype) && is_float_dtype(a.w_dtype) &&
         ldx >= row && ldy >= row && a.x && a.w && a.y;
}

template <DType T>
void rms_norm_rows(const RmsNormArgs& a, const float* w) {
  const int64_t dim = a.dim, groups = a.groups, vectors = a.rows * groups;
  const int64_t ldx = a.ldx ? a.ldx : groups * dim, ldy = a.ldy ? a.ldy : groups * dim;
  const size_t es = dtype_size(T);
  const bool llama = a.style == RmsNormStyle::kLlama;
#pragma omp parallel for schedule(static) if (vectors * dim >= kParallelMinElements && omp_get_max_threads() > 1)
  for (int64_t v = 0; v < vectors; ++v) {  // vector v: group v % groups of row v / groups
    const int64_t r = v / groups, g = v % groups;
    const void* x = static_cast<const char*>(a.x) + size_t(r * ldx + g * dim) * es;  // [dim] T
    void* y = static_cast<char*>(a.y) + size_t(r * ldy + g * dim) * es;              // [dim] T
    const float mean_sq = sum_squares_ref_order<T>(x, dim) / float(dim);
    const Vec inv_rms = vset1(1.0f / std::sqrt(mean_sq + a.eps));
    for_each_vector(dim, [&](int64_t i, int lanes) {
      const Vec normed = vmul(load_n<T>(x, i, lanes), inv_rms);
      const Vec wv = load_n<DType::kF32>(w, i, lanes);
      // kLlama (transformers): weight * hidden.to(dtype); kWeightF32 (GPT-OSS): one rounding at the end.
      store_n<T>(y, i, llama ? vmul(wv, round_to<T>(normed)) : vmul(wv, normed), lanes);
    });
  }
}

bool rms_norm(const RmsNormArgs& a) {
  if (!rms_norm_supported(a)) return false;
  static thread_local std::vector<float> w32;  // [dim] fp32 weight, reused across calls
  w32.resize(size_t(a.dim));
  with_dtype(a.w_dtype, [&]<DType W>() { widen_row<W>(a.w, a.dim, w32.data(), a.dim); });
  with_dtype(a.dtype, [&]<DType T>() { rms_norm_rows<T>(a, w32.data()); });
  return true;
}

}  // namespace
}  // namespace sy::cpu::simd
