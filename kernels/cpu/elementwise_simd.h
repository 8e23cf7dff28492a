// SIMD versions of the memory-bound ops around the GEMMs, compiled once per ISA by
// elementwise_avx512.cpp and elementwise_avx2.cpp:
//   add, gated_add, convert, embedding (kernels/elementwise.h)   bit-identical to the reference
//   moe_combine (kernels/moe/dispatch.h)                          bit-identical to the reference
//   glu (kernels/activation.h)                                    vexp instead of std::exp
// Each performs the reference's operations and roundings in the same order per element,
// vectorised over the element index. glu is the one exception: its sigmoid needs an exp per
// element, and simd_vec.h's vexp (a few ulp) replaces the scalar std::exp, so a result can
// differ from the reference by one ulp of the dtype where fp32 silu lands on a rounding
// boundary (kernels_simd_ops_test bounds it). Work spreads over the OpenMP threads only when
// a call touches at least kParallelMinElements elements (prefill); decode runs inline.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "kernels/activation.h"
#include "kernels/cpu/simd_vec.h"
#include "kernels/elementwise.h"
#include "kernels/moe/dispatch.h"

namespace sy::cpu::simd {
namespace {

inline bool worth_threads(int64_t elements) { return elements >= kParallelMinElements && omp_get_max_threads() > 1; }

// Flat ops split [0, n) into blocks of this many elements (a multiple of every vector width).
constexpr int64_t kFlatBlock = 4096;

inline const void* at(const void* p, DType t, int64_t i) { return static_cast<const char*>(p) + i * int64_t(dtype_size(t)); }
inline void* at(void* p, DType t, int64_t i) { return static_cast<char*>(p) + i * int64_t(dtype_size(t)); }

// ---- add: y = round(a + b) ----
template <DType T>
void add_flat(const AddArgs& a) {
  const int64_t blocks = (a.n + kFlatBlock - 1) / kFlatBlock;
#pragma omp parallel for schedule(static) if (worth_threads(a.n))
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t i0 = b * kFlatBlock, n = std::min(kFlatBlock, a.n - i0);
    const void *x = at(a.a, T, i0), *y = at(a.b, T, i0);
    void* out = at(a.y, T, i0);
    for_each_vector(n, [&](int64_t i, int lanes) {
      store_n<T>(out, i, vadd(load_n<T>(x, i, lanes), load_n<T>(y, i, lanes)), lanes);
    });
  }
}

bool add(const AddArgs& a) {
  if (!is_float_dtype(a.dtype) || a.n <= 0 || !(a.a && a.b && a.y)) return false;
  with_dtype(a.dtype, [&]<DType T>() { add_flat<T>(a); });
  return true;
}

// ---- gated_add: y[r] = round(y[r] + round(round(sigmoid(gate[r])) · x[r])) ----
template <DType T>
void gated_add_rows(const GatedAddArgs& a) {
#pragma omp parallel for schedule(static) if (worth_threads(a.rows * a.dim))
  for (int64_t r = 0; r < a.rows; ++r) {
    const float gate = load_f(a.gate, T, r);
    const Vec g = vset1(sy::round_to(T, 1.0f / (1.0f + std::exp(-gate))));  // ref_util.h's sigmoid
    const void* x = at(a.x, T, r * a.dim);
    void* y = at(a.y, T, r * a.dim);
    for_each_vector(a.dim, [&](int64_t i, int lanes) {
      store_n<T>(y, i, vadd(load_n<T>(y, i, lanes), round_to<T>(vmul(g, load_n<T>(x, i, lanes)))), lanes);
    });
  }
}

bool gated_add(const GatedAddArgs& a) {
  if (!is_float_dtype(a.dtype) || a.rows <= 0 || a.dim <= 0 || !(a.y && a.x && a.gate)) return false;
  with_dtype(a.dtype, [&]<DType T>() { gated_add_rows<T>(a); });
  return true;
}

// ---- convert: y = x in another float dtype ----
template <DType X, DType Y>
void convert_flat(const ConvertArgs& a) {
  const int64_t blocks = (a.n + kFlatBlock - 1) / kFlatBlock;
#pragma omp parallel for schedule(static) if (worth_threads(a.n))
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t i0 = b * kFlatBlock, n = std::min(kFlatBlock, a.n - i0);
    const void* x = at(a.x, X, i0);
    void* y = at(a.y, Y, i0);
    for_each_vector(n, [&](int64_t i, int lanes) { store_n<Y>(y, i, load_n<X>(x, i, lanes), lanes); });
  }
}

bool convert(const ConvertArgs& a) {
  if (!is_float_dtype(a.x_dtype) || !is_float_dtype(a.y_dtype) || a.n <= 0 || !(a.x && a.y)) return false;
  with_dtype(a.x_dtype, [&]<DType X>() { with_dtype(a.y_dtype, [&]<DType Y>() { convert_flat<X, Y>(a); }); });
  return true;
}

// ---- embedding: out[t] = table[ids[t]] ----
template <DType X, DType Y>
void embedding_rows(const EmbeddingArgs& a) {
#pragma omp parallel for schedule(static) if (worth_threads(a.num_tokens * a.dim))
  for (int64_t t = 0; t < a.num_tokens; ++t) {
    const void* row = at(a.table, X, int64_t(a.ids[t]) * a.dim);
    void* out = at(a.out, Y, t * a.dim);
    if constexpr (X == Y) std::memcpy(out, row, size_t(a.dim) * dtype_size(X));
    else for_each_vector(a.dim, [&](int64_t i, int lanes) { store_n<Y>(out, i, load_n<X>(row, i, lanes), lanes); });
  }
}

bool embedding(const EmbeddingArgs& a) {
  if (!is_float_dtype(a.table_dtype) || !is_float_dtype(a.out_dtype) || a.num_tokens <= 0 || a.dim <= 0 ||
      !(a.ids && a.table && a.out))
    return false;
  for (int64_t t = 0; t < a.num_tokens; ++t)
    if (a.ids[t] < 0) return false;  // the reference names the bad token
  with_dtype(a.table_dtype,
             [&]<DType X>() { with_dtype(a.out_dtype, [&]<DType Y>() { embedding_rows<X, Y>(a); }); });
  return true;
}

// ---- glu ----
// kSiluMul: [gate | up] halves; out = round(round(silu(g)) · u), silu(g) = g · sigmoid(g).
template <DType T>
void silu_mul_row(const void* in, void* out, int64_t inter) {
  for_each_vector(inter, [&](int64_t i, int lanes) {
    const Vec g = load_n<T>(in, i, lanes), u = load_n<T>(in, inter + i, lanes);
    store_n<T>(out, i, vmul(round_to<T>(vmul(g, vsigmoid(g))), u), lanes);
  });
}

// kGptOssClamped: interleaved [g, u] pairs; g = min(g, limit); u = clamp(u, -limit, limit);
// out = round(u + 1) · round(g · round(sigmoid(round(g · alpha)))).
template <DType T>
void gpt_oss_row(const void* in, void* out, int64_t inter, float alpha, float limit) {
  const Vec lim = vset1(limit), neg_lim = vset1(-limit), one = vset1(1.0f), va = vset1(alpha);
  for_each_vector(inter, [&](int64_t i, int lanes) {
    Vec lo, hi, g, u;
    load_pairs<T>(in, 2 * i, lanes, lo, hi);
    deinterleave(lo, hi, g, u);
    // min/max return their second operand for a NaN first operand: g and u come second, as
    // std::min / std::clamp propagate them.
    g = vmin(lim, g);
    u = vmax(neg_lim, vmin(lim, u));
    const Vec gate_sig = round_to<T>(vsigmoid(round_to<T>(vmul(g, va))));
    const Vec glu = round_to<T>(vmul(g, gate_sig));
    store_n<T>(out, i, vmul(round_to<T>(vadd(u, one)), glu), lanes);
  });
}

template <DType T>
void glu_rows(const GluArgs& a) {
#pragma omp parallel for schedule(static) if (worth_threads(a.rows * a.inter * 4))
  for (int64_t r = 0; r < a.rows; ++r) {
    const void* in = at(a.gate_up, T, r * 2 * a.inter);  // [2 * inter]
    void* out = at(a.out, T, r * a.inter);               // [inter]
    if (a.kind == GluKind::kSiluMul) silu_mul_row<T>(in, out, a.inter);
    else gpt_oss_row<T>(in, out, a.inter, a.alpha, a.limit);
  }
}

bool glu(const GluArgs& a) {
  if (!is_float_dtype(a.dtype) || a.rows <= 0 || a.inter <= 0 || !(a.gate_up && a.out)) return false;
  with_dtype(a.dtype, [&]<DType T>() { glu_rows<T>(a); });
  return true;
}

// ---- moe_combine: out[t] = Σ_j round(y_j · w_j), experts in ascending id, rounded per add ----
template <DType T>
void combine_tokens(const CombineArgs& a) {
  const int k = a.top_k;
#pragma omp parallel if (worth_threads(a.num_tokens * a.hidden * k))
  {
    std::vector<std::pair<int32_t, int>> order(static_cast<size_t>(k));  // (expert id, slot j)
    std::vector<const void*> rows(static_cast<size_t>(k));  // y_sorted row of each expert
    std::vector<float> weights(static_cast<size_t>(k));      // its weight, as the product uses it
#pragma omp for schedule(static)
    for (int64_t tok = 0; tok < a.num_tokens; ++tok) {
      for (int j = 0; j < k; ++j) order[size_t(j)] = {a.topk_ids[tok * k + j], j};
      std::sort(order.begin(), order.end());  // transformers adds experts in ascending id
      for (int j = 0; j < k; ++j) {
        const int64_t pair = tok * k + order[size_t(j)].second;
        const float w = a.round_weights ? sy::round_to(T, a.topk_weights[pair]) : a.topk_weights[pair];
        weights[size_t(j)] = w;
        rows[size_t(j)] = at(a.y_sorted, T, int64_t(a.pair_to_row[pair]) * a.hidden);
      }
      void* out = at(a.out, T, tok * a.hidden);
      for_each_vector(a.hidden, [&](int64_t i, int lanes) {
        Vec acc = round_to<T>(vmul(load_n<T>(rows[0], i, lanes), vset1(weights[0])));
        for (int j = 1; j < k; ++j)
          acc = round_to<T>(vadd(acc, round_to<T>(vmul(load_n<T>(rows[size_t(j)], i, lanes), vset1(weights[size_t(j)])))));
        store_n<T>(out, i, acc, lanes);
      });
    }
  }
}

bool moe_combine(const CombineArgs& a) {
  if (!is_float_dtype(a.dtype) || a.num_tokens <= 0 || a.hidden <= 0 || a.top_k <= 0 ||
      !(a.y_sorted && a.pair_to_row && a.topk_ids && a.topk_weights && a.out))
    return false;
  with_dtype(a.dtype, [&]<DType T>() { combine_tokens<T>(a); });
  return true;
}

}  // namespace
}  // namespace sy::cpu::simd
