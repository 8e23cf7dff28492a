// Reference grouped GEMM (kernels/moe/grouped_gemm.h): one GEMM per expert segment.
// Parallel over (expert, row-block, column-block) work items, so the cores stay busy both
// when tokens spread over many experts and when one expert holds them all; empty segments
// produce no work items at all.
#include <algorithm>
#include <string>
#include <vector>

#include "kernels/cpu/ref.h"
#include "kernels/cpu/ref_util.h"

namespace sy::cpu::ref {

void grouped_gemm(const GroupedGemmArgs& a) {
  using namespace detail;
  const char* op = "grouped_gemm";
  require(a.num_experts >= 0 && a.n >= 0 && a.k >= 0, op, "num_experts, n, k must be >= 0");
  require_float(a.act_dtype, op, "act_dtype");
  require_float(a.w_dtype, op, "w_dtype");
  if (a.num_experts == 0 || a.n == 0) return;
  require(a.expert_offsets != nullptr, op, "expert_offsets must be set");
  const int32_t* off = a.expert_offsets;
  require(off[0] == 0, op, "expert_offsets[0] must be 0, got " + std::to_string(off[0]));
  for (int e = 0; e < a.num_experts; ++e)
    require(off[e + 1] >= off[e], op,
            "expert_offsets must be non-decreasing (expert " + std::to_string(e) + ")");
  require(off[a.num_experts] == a.total_rows, op,
          "expert_offsets[num_experts] = " + std::to_string(off[a.num_experts]) +
              " differs from total_rows = " + std::to_string(a.total_rows));
  if (a.total_rows == 0) return;
  require(a.x && a.w && a.y, op, "x, w and y must be set");

  struct WorkItem {
    int expert;
    int64_t r0, r1, c0, c1;
  };
  std::vector<WorkItem> items;
  for (int e = 0; e < a.num_experts; ++e)
    for (int64_t r0 = off[e]; r0 < off[e + 1]; r0 += kGemmTileRows)
      for (int64_t c0 = 0; c0 < a.n; c0 += kGemmTileCols)
        items.push_back({e, r0, std::min<int64_t>(off[e + 1], r0 + kGemmTileRows), c0,
                         std::min(a.n, c0 + kGemmTileCols)});

  const int64_t num_items = int64_t(items.size());
#pragma omp parallel
  {
    std::vector<float> w_tile(static_cast<size_t>(kGemmTileCols * a.k));
    std::vector<float> x_row(static_cast<size_t>(a.k));
#pragma omp for schedule(dynamic, 1)
    for (int64_t i = 0; i < num_items; ++i) {
      const WorkItem& it = items[size_t(i)];
      const GemmOperands g{a.x,
                           offset(a.w, a.w_dtype, int64_t(it.expert) * a.n * a.k),
                           a.bias ? offset(a.bias, a.w_dtype, int64_t(it.expert) * a.n) : nullptr,
                           a.y,
                           a.act_dtype, a.w_dtype, a.act_dtype,
                           a.n, a.k, a.k, a.n};
      gemm_tile(g, it.r0, it.r1, it.c0, it.c1, w_tile.data(), x_row.data());
    }
  }
}

}  // namespace sy::cpu::ref
