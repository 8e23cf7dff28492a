// Reference MoE dispatch (kernels/moe/dispatch.h): align (counting sort of (token, slot) pairs
// by expert), permute (gather rows into expert order) and combine (weighted sum back per token
// in transformers' index_add_ order, so bf16 results match).
#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "kernels/cpu/ref.h"
#include "kernels/cpu/ref_util.h"

namespace sy::cpu::ref {

void moe_align(const MoeAlignArgs& a) {
  using namespace detail;
  const char* op = "moe_align";
  require(a.num_experts > 0 && a.num_pairs >= 0, op, "need num_experts > 0 and num_pairs >= 0");
  require(a.expert_offsets != nullptr, op, "expert_offsets must be set");
  require(a.num_pairs == 0 || (a.topk_ids && a.sorted_pairs && a.pair_to_row), op,
          "topk_ids, sorted_pairs and pair_to_row must be set");
  const int E = a.num_experts;
  // Counting sort: serial, it is O(num_pairs) and far from the bottleneck.
  std::vector<int64_t> count(size_t(E) + 1, 0);
  for (int64_t p = 0; p < a.num_pairs; ++p) {
    const int32_t e = a.topk_ids[p];
    require(e >= 0 && e < E, op,
            "expert id " + std::to_string(e) + " of pair " + std::to_string(p) + " is outside [0, " +
                std::to_string(E) + ")");
    ++count[size_t(e) + 1];
  }
  for (int e = 0; e < E; ++e) count[size_t(e) + 1] += count[size_t(e)];
  for (int e = 0; e <= E; ++e) a.expert_offsets[e] = int32_t(count[size_t(e)]);
  // count[e] is now expert e's next free row; visiting pairs in order keeps the sort stable.
  for (int64_t p = 0; p < a.num_pairs; ++p) {
    const int64_t row = count[size_t(a.topk_ids[p])]++;
    a.sorted_pairs[row] = int32_t(p);
    a.pair_to_row[p] = int32_t(row);
  }
}

void moe_permute(const PermuteArgs& a) {
  using namespace detail;
  const char* op = "moe_permute";
  require_float(a.dtype, op, "dtype");
  require(a.num_rows >= 0 && a.hidden >= 0 && a.top_k > 0, op,
          "need num_rows >= 0, hidden >= 0, top_k > 0");
  if (a.num_rows == 0 || a.hidden == 0) return;
  require(a.x && a.x_sorted && a.sorted_pairs, op, "x, x_sorted and sorted_pairs must be set");
  const size_t row_bytes = size_t(a.hidden) * dtype_size(a.dtype);
#pragma omp parallel for schedule(static) if (a.num_rows * a.hidden > (1 << 16))
  for (int64_t r = 0; r < a.num_rows; ++r) {
    const int64_t token = a.sorted_pairs[r] / a.top_k;
    std::memcpy(offset(a.x_sorted, a.dtype, r * a.hidden), offset(a.x, a.dtype, token * a.hidden), row_bytes);
  }
}

void moe_combine(const CombineArgs& a) {
  using namespace detail;
  const char* op = "moe_combine";
  require_float(a.dtype, op, "dtype");
  require(a.num_tokens >= 0 && a.hidden >= 0 && a.top_k > 0, op,
          "need num_tokens >= 0, hidden >= 0, top_k > 0");
  if (a.num_tokens == 0 || a.hidden == 0) return;
  require(a.y_sorted && a.pair_to_row && a.topk_ids && a.topk_weights && a.out, op,
          "y_sorted, pair_to_row, topk_ids, topk_weights and out must be set");
  const DType t = a.dtype;
  const int k = a.top_k;
#pragma omp parallel if (a.num_tokens * a.hidden > (1 << 15))
  {
    std::vector<std::pair<int32_t, int>> order(static_cast<size_t>(k));  // (expert id, slot j)
    std::vector<float> acc(static_cast<size_t>(a.hidden));
#pragma omp for schedule(static)
    for (int64_t tok = 0; tok < a.num_tokens; ++tok) {
      for (int j = 0; j < k; ++j) order[size_t(j)] = {a.topk_ids[tok * k + j], j};
      // transformers' expert loop adds the experts' outputs in ascending expert id.
      std::sort(order.begin(), order.end());
      for (int j = 0; j < k; ++j) {
        const int slot = order[size_t(j)].second;
        const int64_t pair = tok * k + slot;
        // Qwen/OLMoE cast routing weights to the model dtype; Mixtral multiplies by fp32 ones.
        const float w = a.round_weights ? round_to(t, a.topk_weights[pair]) : a.topk_weights[pair];
        const void* y = offset(a.y_sorted, t, int64_t(a.pair_to_row[pair]) * a.hidden);
        for (int64_t i = 0; i < a.hidden; ++i) {
          const float term = round_to(t, load_f(y, t, i) * w);
          acc[size_t(i)] = j == 0 ? term : round_to(t, acc[size_t(i)] + term);
        }
      }
      void* out = offset(a.out, t, tok * a.hidden);
      for (int64_t i = 0; i < a.hidden; ++i) store_f(out, t, i, acc[size_t(i)]);
    }
  }
}

}  // namespace sy::cpu::ref
