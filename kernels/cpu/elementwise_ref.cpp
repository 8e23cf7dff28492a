// Reference memory-bound ops (kernels/elementwise.h): embedding lookup, residual add, the
// shared-expert gated add and dtype conversion. Parallel only when the work is large enough
// to pay for waking the OpenMP team.
#include <string>
#include <vector>

#include "kernels/cpu/ref.h"
#include "kernels/cpu/ref_util.h"

namespace sy::cpu::ref {
namespace {
constexpr int64_t kParallelElements = 1 << 16;
}  // namespace

void embedding(const EmbeddingArgs& a) {
  using namespace detail;
  const char* op = "embedding";
  require_float(a.table_dtype, op, "table_dtype");
  require_float(a.out_dtype, op, "out_dtype");
  require(a.num_tokens >= 0 && a.dim > 0, op, "num_tokens must be >= 0 and dim > 0");
  if (a.num_tokens == 0) return;
  require(a.ids && a.table && a.out, op, "ids, table and out must be set");
  for (int64_t t = 0; t < a.num_tokens; ++t)
    require(a.ids[t] >= 0, op, "token " + std::to_string(t) + " has negative id " + std::to_string(a.ids[t]));
#pragma omp parallel for schedule(static) if (a.num_tokens * a.dim > kParallelElements)
  for (int64_t t = 0; t < a.num_tokens; ++t) {
    const void* row = offset(a.table, a.table_dtype, int64_t(a.ids[t]) * a.dim);
    void* out = offset(a.out, a.out_dtype, t * a.dim);
    for (int64_t i = 0; i < a.dim; ++i) store_f(out, a.out_dtype, i, load_f(row, a.table_dtype, i));
  }
}

void add(const AddArgs& a) {
  using namespace detail;
  const char* op = "add";
  require_float(a.dtype, op, "dtype");
  require(a.n >= 0, op, "n must be >= 0");
  if (a.n == 0) return;
  require(a.a && a.b && a.y, op, "a, b and y must be set");
#pragma omp parallel for schedule(static) if (a.n > kParallelElements)
  for (int64_t i = 0; i < a.n; ++i) store_f(a.y, a.dtype, i, load_f(a.a, a.dtype, i) + load_f(a.b, a.dtype, i));
}

void gated_add(const GatedAddArgs& a) {
  using namespace detail;
  const char* op = "gated_add";
  require_float(a.dtype, op, "dtype");
  require(a.rows >= 0 && a.dim >= 0, op, "rows and dim must be >= 0");
  if (a.rows == 0 || a.dim == 0) return;
  require(a.y && a.x && a.gate, op, "y, x and gate must be set");
#pragma omp parallel for schedule(static) if (a.rows * a.dim > kParallelElements)
  for (int64_t r = 0; r < a.rows; ++r) {
    const float g = round_to(a.dtype, sigmoid(load_f(a.gate, a.dtype, r)));
    for (int64_t i = r * a.dim; i < (r + 1) * a.dim; ++i)
      store_f(a.y, a.dtype, i, load_f(a.y, a.dtype, i) + round_to(a.dtype, g * load_f(a.x, a.dtype, i)));
  }
}

void convert(const ConvertArgs& a) {
  using namespace detail;
  const char* op = "convert";
  require_float(a.x_dtype, op, "x_dtype");
  require_float(a.y_dtype, op, "y_dtype");
  require(a.n >= 0, op, "n must be >= 0");
  if (a.n == 0) return;
  require(a.x && a.y, op, "x and y must be set");
#pragma omp parallel for schedule(static) if (a.n > kParallelElements)
  for (int64_t i = 0; i < a.n; ++i) store_f(a.y, a.y_dtype, i, load_f(a.x, a.x_dtype, i));
}

}  // namespace sy::cpu::ref
