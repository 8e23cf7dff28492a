// Reference dense linear layer (kernels/linear.h): y = x · wᵀ (+ bias), fp32 accumulation.
// Work is split into (row-block, column-block) tiles so that decode (m = 1) parallelises over
// output columns and prefill over both; each tile converts its weight rows to fp32 once.
#include <algorithm>
#include <vector>

#include "kernels/cpu/ref.h"
#include "kernels/cpu/ref_util.h"

namespace sy::cpu::ref {
namespace detail {

void gemm_tile(const GemmOperands& g, int64_t r0, int64_t r1, int64_t c0, int64_t c1,
               float* w_tile, float* x_row) {
  const int64_t cols = c1 - c0;
  for (int64_t j = 0; j < cols; ++j)
    load_row(offset(g.w, g.w_dtype, (c0 + j) * g.k), g.w_dtype, g.k, w_tile + j * g.k);
  for (int64_t r = r0; r < r1; ++r) {
    load_row(offset(g.x, g.x_dtype, r * g.ldx), g.x_dtype, g.k, x_row);
    for (int64_t j = 0; j < cols; ++j) {
      float acc = dot(x_row, w_tile + j * g.k, g.k);
      // One rounding for matmul + bias, as addmm does.
      if (g.bias) acc += load_f(g.bias, g.w_dtype, c0 + j);
      store_f(g.y, g.y_dtype, r * g.ldy + c0 + j, acc);
    }
  }
}

}  // namespace detail

void linear(const LinearArgs& a) {
  using namespace detail;
  const char* op = "linear";
  require(a.m >= 0 && a.n >= 0 && a.k >= 0, op, "m, n, k must be >= 0");
  require_float(a.x_dtype, op, "x_dtype");
  require_float(a.w_dtype, op, "w_dtype");
  require_float(a.y_dtype, op, "y_dtype");
  const int64_t ldx = a.ldx ? a.ldx : a.k;
  const int64_t ldy = a.ldy ? a.ldy : a.n;
  require(ldx >= a.k, op, "ldx must be >= k");
  require(ldy >= a.n, op, "ldy must be >= n");
  if (a.m == 0 || a.n == 0) return;
  require(a.y && a.w && (a.x || a.k == 0), op, "x, w and y must be set");

  const GemmOperands g{a.x, a.w, a.bias, a.y, a.x_dtype, a.w_dtype, a.y_dtype, a.n, a.k, ldx, ldy};
  const int64_t row_blocks = (a.m + kGemmTileRows - 1) / kGemmTileRows;
  const int64_t col_blocks = (a.n + kGemmTileCols - 1) / kGemmTileCols;
  const int64_t tiles = row_blocks * col_blocks;
#pragma omp parallel
  {
    std::vector<float> w_tile(static_cast<size_t>(kGemmTileCols * a.k));
    std::vector<float> x_row(static_cast<size_t>(a.k));
    // Column-block-major order: consecutive tiles of one thread share weight columns.
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < tiles; ++t) {
      const int64_t cb = t / row_blocks, rb = t % row_blocks;
      const int64_t r0 = rb * kGemmTileRows, r1 = std::min(a.m, r0 + kGemmTileRows);
      const int64_t c0 = cb * kGemmTileCols, c1 = std::min(a.n, c0 + kGemmTileCols);
      gemm_tile(g, r0, r1, c0, c1, w_tile.data(), x_row.data());
    }
  }
}

}  // namespace sy::cpu::ref
