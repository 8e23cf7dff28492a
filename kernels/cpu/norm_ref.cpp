// Reference RMSNorm (kernels/norm.h), one row per iteration. The row is loaded to fp32 before
// anything is stored, so x and y may alias (in-place norm).
#include <cmath>
#include <vector>

#include "kernels/cpu/ref.h"
#include "kernels/cpu/ref_util.h"

namespace sy::cpu::ref {

void rms_norm(const RmsNormArgs& a) {
  using namespace detail;
  const char* op = "rms_norm";
  require(a.rows >= 0 && a.dim > 0 && a.groups > 0, op, "rows must be >= 0, dim and groups > 0");
  require_float(a.dtype, op, "dtype");
  require_float(a.w_dtype, op, "w_dtype");
  const int64_t row = a.groups * a.dim;
  const int64_t ldx = a.ldx ? a.ldx : row;
  const int64_t ldy = a.ldy ? a.ldy : row;
  require(ldx >= row && ldy >= row, op, "ldx and ldy must be >= groups * dim");
  if (a.rows == 0) return;
  require(a.x && a.w && a.y, op, "x, w and y must be set");

  std::vector<float> w(static_cast<size_t>(a.dim));  // [dim] fp32
  load_row(a.w, a.w_dtype, a.dim, w.data());
#pragma omp parallel
  {
    std::vector<float> x(static_cast<size_t>(a.dim));  // one row, fp32
#pragma omp for schedule(static)
    for (int64_t v = 0; v < a.rows * a.groups; ++v) {  // vector v: group v % groups of row v / groups
      const int64_t r = v / a.groups, g = v % a.groups;
      load_row(offset(a.x, a.dtype, r * ldx + g * a.dim), a.dtype, a.dim, x.data());
      const float mean_sq = dot(x.data(), x.data(), a.dim) / float(a.dim);
      const float inv_rms = 1.0f / std::sqrt(mean_sq + a.eps);
      void* y = offset(a.y, a.dtype, r * ldy + g * a.dim);
      if (a.style == RmsNormStyle::kLlama) {
        // transformers: weight * hidden.to(input_dtype) -> the normalised row is rounded first.
        for (int64_t i = 0; i < a.dim; ++i)
          store_f(y, a.dtype, i, w[size_t(i)] * round_to(a.dtype, x[size_t(i)] * inv_rms));
      } else {
        // GPT-OSS: (weight_f32 * hidden_f32).to(input_dtype): one rounding at the end.
        for (int64_t i = 0; i < a.dim; ++i) store_f(y, a.dtype, i, w[size_t(i)] * (x[size_t(i)] * inv_rms));
      }
    }
  }
}

}  // namespace sy::cpu::ref
