// ISA-independent driver shared by matmul_avx512.cpp and matmul_avx2.cpp: describes a
// (grouped) matmul as row segments × weight matrices, cuts it into work items and spreads them
// statically over the OpenMP threads, so decode (a few rows per expert) splits output columns
// and prefill (many rows) splits rows and columns, with one barrier at the end of the call.
//
// Everything here has internal linkage (anonymous namespace): each SIMD translation unit is
// compiled with its own -m flags, and a shared inline function must never be merged across them.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/cpu/pack.h"
#include "kernels/dtype.h"
#include "kernels/linear.h"
#include "kernels/moe/grouped_gemm.h"

namespace sy::cpu::simd {
namespace {

// Rows [row0, row0 + rows) of x and y use weight matrix `expert`.
struct RowSegment {
  int64_t row0 = 0, rows = 0;
  int expert = 0;
};

struct MatmulProblem {
  const void* x = nullptr;  // [total_rows, k] x_dtype, row stride ldx
  void* y = nullptr;        // [total_rows, n] y_dtype, row stride ldy
  const void* w = nullptr;  // [num_experts, n, k] w_dtype (unused when packed)
  const void* bias = nullptr;  // [num_experts, n] bias_dtype, or null
  const PackedWeights* packed = nullptr;
  DType x_dtype = DType::kF32, y_dtype = DType::kF32, w_dtype = DType::kF32, bias_dtype = DType::kF32;
  int64_t n = 0, k = 0, ldx = 0, ldy = 0, total_rows = 0;
  std::vector<RowSegment> segments;
};

inline MatmulProblem problem_from(const LinearArgs& a) {
  MatmulProblem p;
  p.x = a.x;
  p.y = a.y;
  p.w = a.w;
  p.bias = a.bias;
  p.packed = a.packed;
  p.x_dtype = a.x_dtype;
  p.y_dtype = a.y_dtype;
  p.w_dtype = a.w_dtype;
  p.bias_dtype = a.w_dtype;
  p.n = a.n;
  p.k = a.k;
  p.ldx = a.ldx ? a.ldx : a.k;
  p.ldy = a.ldy ? a.ldy : a.n;
  p.total_rows = a.m;
  if (a.m > 0) p.segments.push_back({0, a.m, 0});
  return p;
}

inline MatmulProblem problem_from(const GroupedGemmArgs& a) {
  MatmulProblem p;
  p.x = a.x;
  p.y = a.y;
  p.w = a.w;
  p.bias = a.bias;
  p.packed = a.packed;
  p.x_dtype = a.act_dtype;
  p.y_dtype = a.act_dtype;
  p.w_dtype = a.w_dtype;
  p.bias_dtype = a.w_dtype;
  p.n = a.n;
  p.k = a.k;
  p.ldx = a.k;
  p.ldy = a.n;
  p.total_rows = a.total_rows;
  for (int e = 0; e < a.num_experts; ++e) {
    const int64_t begin = a.expert_offsets[e], end = a.expert_offsets[e + 1];
    if (end > begin) p.segments.push_back({begin, end - begin, e});
  }
  return p;
}

// A rectangle of output: rows [r0, r1) (absolute) × columns [c0, c1) of one segment.
struct WorkItem {
  int32_t segment;
  int64_t r0, r1, c0, c1;
};

// Rows per item: enough that a tile of weights loaded once serves many rows (prefill); columns
// per item: small enough that decode (one row per expert) still gives every thread work.
constexpr int64_t kItemRows = 64;
constexpr int64_t kItemCols = 64;
// Below this many multiply-adds the fork/join costs more than it saves.
constexpr int64_t kParallelMinMacs = 1 << 16;

// Runs prep(thread, num_threads) on every thread, then a barrier, then chunk(item) for a
// static, cost-balanced share of the items. Either both run in parallel or both serially.
template <class Prep, class Chunk>
void run_matmul(const MatmulProblem& p, Prep&& prep, Chunk&& chunk) {
  std::vector<WorkItem> items;
  std::vector<int64_t> cost_prefix{0};
  for (int32_t s = 0; s < int32_t(p.segments.size()); ++s) {
    const RowSegment& seg = p.segments[size_t(s)];
    for (int64_t r0 = seg.row0; r0 < seg.row0 + seg.rows; r0 += kItemRows) {
      const int64_t r1 = std::min(r0 + kItemRows, seg.row0 + seg.rows);
      for (int64_t c0 = 0; c0 < p.n; c0 += kItemCols) {
        const int64_t c1 = std::min(c0 + kItemCols, p.n);
        items.push_back({s, r0, r1, c0, c1});
        // Weight bytes dominate small-row items: count a row pass as at least 4 rows' compute.
        cost_prefix.push_back(cost_prefix.back() + std::max<int64_t>(r1 - r0, 4) * (c1 - c0));
      }
    }
  }
  if (items.empty()) return;
  const int64_t total = cost_prefix.back();
  const bool parallel = total * p.k >= kParallelMinMacs && omp_get_max_threads() > 1;

#pragma omp parallel if (parallel)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    prep(t, nt);
#pragma omp barrier
    // Thread t owns the items whose cost midpoint falls in [t, t+1) · total / nt.
    for (size_t i = 0; i < items.size(); ++i) {
      const int64_t mid2 = cost_prefix[i] + cost_prefix[i + 1];  // 2 × midpoint
      const int owner = int(std::min<int64_t>(mid2 * nt / (2 * total), nt - 1));
      if (owner == t) chunk(items[i]);
      else if (owner > t) break;
    }
  }
}

// Activations quantised for the int8 kernels, one row per input row (pack.h explains).
struct QuantizedRows {
  int64_t k_pad = 0;
  std::vector<int8_t> q;         // [rows, k_pad]
  std::vector<float> scales;     // [rows, kInt8Lanes]
  std::vector<int32_t> neg_sums;  // [rows, kInt8Lanes]

  void resize(int64_t rows, int64_t kp) {
    k_pad = kp;
    q.resize(size_t(rows * kp));
    scales.resize(size_t(rows * kInt8Lanes));
    neg_sums.resize(size_t(rows * kInt8Lanes));
  }
  int64_t row_of(const void* q_row) const { return (static_cast<const int8_t*>(q_row) - q.data()) / k_pad; }
  // Quantise this thread's share of the rows with `quantize_row` (quantize_activation_row's
  // signature; a SIMD version must produce the same integers).
  template <class QuantizeRow>
  void fill(const MatmulProblem& p, int t, int nt, QuantizeRow&& quantize_row) {
    const size_t elem = dtype_size(p.x_dtype);
    for (int64_t r = t; r < p.total_rows; r += nt)
      quantize_row(static_cast<const uint8_t*>(p.x) + size_t(r * p.ldx) * elem, p.x_dtype, p.k, k_pad,
                   q.data() + r * k_pad, scales.data() + r * kInt8Lanes, neg_sums.data() + r * kInt8Lanes);
  }
};

// Up to this many input rows (decode) the caller quantises them before the parallel region:
// that costs microseconds, and saves the barrier between quantising and multiplying.
constexpr int64_t kSerialQuantizeRows = 64;

// Runs the int8 matmul `chunk` over p's items after quantising p's rows into xq.
template <class QuantizeRow, class Chunk>
void run_int8_matmul(const MatmulProblem& p, QuantizedRows& xq, QuantizeRow&& quantize_row, Chunk&& chunk) {
  xq.resize(p.total_rows, p.packed->k_pad);
  if (p.total_rows <= kSerialQuantizeRows) {
    xq.fill(p, 0, 1, quantize_row);
    run_matmul(p, [](int, int) {}, chunk);
  } else {
    run_matmul(p, [&](int t, int nt) { xq.fill(p, t, nt, quantize_row); }, chunk);
  }
}

// What every ISA's int8 kernel shares: its operands and the per-channel epilogue (run_item's
// kernel interface below). Each ISA derives its Int8Kernel from it and adds tile<MR>().
struct Int8Operands {
  const MatmulProblem& p;
  const QuantizedRows& xq;
  const void* x_row(int64_t r) const { return xq.q.data() + r * xq.k_pad; }
  const void* w_row(int e, int64_t c) const { return p.packed->channel(e, c); }
  float finish(float v, int e, int64_t c) const { return v * p.packed->expert_scales(e)[c]; }
};

// The packed-weights half of an ISA's matmul: false when p's packing or bias dtype is not one
// the int8 kernels know; else quantises p's rows and runs chunk(kernel, item) over its items
// with Kernel{{p, rows}}.
template <class Kernel, class QuantizeRow, class Chunk>
bool run_packed_int8(const MatmulProblem& p, QuantizeRow&& quantize_row, Chunk&& chunk) {
  if (p.packed->format != PackedFormat::kInt8PerChannel || (p.bias && !is_float_dtype(p.bias_dtype))) return false;
  // Thread-local so that decode steps reuse the buffer instead of allocating per call.
  // (Named through a reference: inside the parallel region the name of a thread_local
  // would mean each worker's own, empty, buffer.)
  static thread_local QuantizedRows caller_rows;
  QuantizedRows& xq = caller_rows;
  const Kernel kern{{p, xq}};
  run_int8_matmul(p, xq, quantize_row, [&](const WorkItem& it) { chunk(kern, it); });
  return true;
}

// y[row, col] = value (+ bias), rounded to y's dtype.
inline void store_output(const MatmulProblem& p, int expert, int64_t row, int64_t col, float value) {
  if (p.bias) value += load_f(p.bias, p.bias_dtype, int64_t(expert) * p.n + col);
  store_f(p.y, p.y_dtype, row * p.ldy + col, value);
}


// Runs one work item with a kernel K that computes tiles of up to kMaxRows rows × 4 columns:
//   K::x_row(row) -> const void*            the input row (or its quantised form)
//   K::w_row(expert, col) -> const void*    the weight row (output channel)
//   K::tile<MR>(x_rows, w_rows, out)        out[i][j] = dot(x_rows[i], w_rows[j]) in fp32
//   K::finish(value, expert, col) -> float  per-channel epilogue before bias (int8 scale)
// Columns are the outer loop so the 4 weight rows stay in L1 while the item's rows (≤ 64,
// in L2) stream past them. Short tails reuse the last row/column and drop the extra results.
template <int kMaxRows, class K>
void run_item(const MatmulProblem& p, const WorkItem& it, const K& kern) {
  const RowSegment& seg = p.segments[size_t(it.segment)];
  for (int64_t c = it.c0; c < it.c1; c += 4) {
    const int cols = int(std::min<int64_t>(4, it.c1 - c));
    const void* w_rows[4];
    for (int j = 0; j < 4; ++j) w_rows[j] = kern.w_row(seg.expert, c + std::min(j, cols - 1));
    for (int64_t r = it.r0; r < it.r1;) {
      const int rows = int(std::min<int64_t>(kMaxRows, it.r1 - r));
      const void* x_rows[kMaxRows];
      for (int i = 0; i < kMaxRows; ++i) x_rows[i] = kern.x_row(r + std::min(i, rows - 1));
      float out[kMaxRows][4];
      if (rows == 1) kern.template tile<1>(x_rows, w_rows, out);
      else if (rows == 2 || kMaxRows == 2) kern.template tile<(kMaxRows >= 2 ? 2 : 1)>(x_rows, w_rows, out);
      else kern.template tile<kMaxRows>(x_rows, w_rows, out);
      for (int i = 0; i < rows; ++i)
        for (int j = 0; j < cols; ++j)
          store_output(p, seg.expert, r + i, c + j, kern.finish(out[i][j], seg.expert, c + j));
      r += rows;
    }
  }
}

}  // namespace
}  // namespace sy::cpu::simd
