// AVX-512 matmul kernels for linear and grouped_gemm (attention projections, lm_head, experts).
// Selected by kernels/cpu/ops.cpp when active_isa() is avx512 (F/BW/VL/DQ + BF16 + VNNI).
//   bf16 x · bf16 w   vdpbf16ps: bf16 products are exact in fp32, accumulated in fp32
//                     (other float mixes return false: ops.cpp runs them on the AVX2 kernels,
//                     which reproduce the reference bit for bit)
//   int8 weights      vpdpbusd on (w + 128) u8 × x s8, preloaded with the -128·Σx correction,
//                     then fp32 scaling per activation group (pack.h has the math)
// Each output is a dot product along the contiguous Hugging Face weight row, accumulated in
// 16 fp32 lanes and reduced at the end: only the summation order differs from the reference
// (and vdpbf16ps treats bf16 subnormals as zero).
#include <immintrin.h>

// GCC 12 reports its own _mm512_undefined_* self-initialisation inside the widening intrinsics
// as "may be used uninitialized"; the warning is about the header, not this code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "kernels/cpu/simd_kernels.h"
#include "kernels/cpu/simd_matmul.h"

namespace sy::cpu::avx512 {
namespace {

using simd::MatmulProblem;
using simd::WorkItem;

// bf16 x · bf16 w with vdpbf16ps (32 products per instruction, pairs summed into fp32 lanes).
struct Bf16DotKernel {
  const MatmulProblem& p;
  const void* x_row(int64_t r) const { return static_cast<const uint16_t*>(p.x) + r * p.ldx; }
  const void* w_row(int e, int64_t c) const {
    return static_cast<const uint16_t*>(p.w) + (int64_t(e) * p.n + c) * p.k;
  }
  float finish(float v, int, int64_t) const { return v; }

  template <int MR>
  void tile(const void* const* xr, const void* const* wr, float (*out)[4]) const {
    __m512 acc[MR][4];
#pragma GCC unroll 4
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) acc[i][j] = _mm512_setzero_ps();
    const int64_t k = p.k;
    int64_t kk = 0;
    for (; kk + 32 <= k; kk += 32) {
      __m512bh w[4];
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) w[j] = (__m512bh)_mm512_loadu_si512(static_cast<const uint16_t*>(wr[j]) + kk);
#pragma GCC unroll 4
      for (int i = 0; i < MR; ++i) {
        const __m512bh x = (__m512bh)_mm512_loadu_si512(static_cast<const uint16_t*>(xr[i]) + kk);
#pragma GCC unroll 4
        for (int j = 0; j < 4; ++j) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], x, w[j]);
      }
    }
    if (kk < k) {
      const __mmask32 m = __mmask32((uint64_t(1) << (k - kk)) - 1);
      __m512bh w[4];
      for (int j = 0; j < 4; ++j) w[j] = (__m512bh)_mm512_maskz_loadu_epi16(m, static_cast<const uint16_t*>(wr[j]) + kk);
      for (int i = 0; i < MR; ++i) {
        const __m512bh x = (__m512bh)_mm512_maskz_loadu_epi16(m, static_cast<const uint16_t*>(xr[i]) + kk);
        for (int j = 0; j < 4; ++j) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], x, w[j]);
      }
    }
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < 4; ++j) out[i][j] = _mm512_reduce_add_ps(acc[i][j]);
  }
};

// int8 per-channel weights · dynamically quantised activations (pack.h).
struct Int8Kernel {
  const MatmulProblem& p;
  const simd::QuantizedRows& xq;
  const void* x_row(int64_t r) const { return xq.q.data() + r * xq.k_pad; }
  const void* w_row(int e, int64_t c) const { return p.packed->expert_quants(e) + c * p.packed->k_pad; }
  float finish(float v, int e, int64_t c) const { return v * p.packed->expert_scales(e)[c]; }

  template <int MR>
  void tile(const void* const* xr, const void* const* wr, float (*out)[4]) const {
    const int64_t k_pad = xq.k_pad, groups = k_pad / kInt8Group;
    const float* scales[MR];
    const int32_t* neg[MR];
    for (int i = 0; i < MR; ++i) {
      const int64_t row = (static_cast<const int8_t*>(xr[i]) - xq.q.data()) / k_pad;
      scales[i] = xq.scales.data() + row * groups;
      neg[i] = xq.neg_sum4.data() + row * (k_pad / 4);
    }
    __m512 acc[MR][4];
#pragma GCC unroll 4
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) acc[i][j] = _mm512_setzero_ps();
    for (int64_t g = 0; g < groups; ++g) {
      __m512i w[4];
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) w[j] = _mm512_load_si512(static_cast<const uint8_t*>(wr[j]) + g * kInt8Group);
#pragma GCC unroll 4
      for (int i = 0; i < MR; ++i) {
        const __m512i x = _mm512_loadu_si512(static_cast<const int8_t*>(xr[i]) + g * kInt8Group);
        const __m512i correction = _mm512_loadu_si512(neg[i] + g * (kInt8Group / 4));
        const __m512 scale = _mm512_set1_ps(scales[i][g]);
#pragma GCC unroll 4
        for (int j = 0; j < 4; ++j) {
          const __m512i dot = _mm512_dpbusd_epi32(correction, w[j], x);
          acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), scale, acc[i][j]);
        }
      }
    }
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < 4; ++j) out[i][j] = _mm512_reduce_add_ps(acc[i][j]);
  }
};

constexpr bool is_float(DType t) { return t == DType::kF32 || t == DType::kBF16 || t == DType::kF16; }

bool run(const MatmulProblem& p) {
  if (!is_float(p.x_dtype) || !is_float(p.y_dtype)) return false;
  if (p.packed) {
    if (p.packed->format != PackedFormat::kInt8PerChannel || (p.bias && !is_float(p.bias_dtype))) return false;
    // Thread-local so that decode steps reuse the buffer instead of allocating per call.
    // (Named through a reference: inside the parallel region the name of a thread_local
    // would mean each worker's own, empty, buffer.)
    static thread_local simd::QuantizedRows caller_rows;
    simd::QuantizedRows& xq = caller_rows;
    xq.resize(p.total_rows, p.packed->k_pad);
    Int8Kernel kern{p, xq};
    simd::run_matmul(p, [&xq, &p](int t, int nt) { xq.fill(p, t, nt); },
                     [&](const WorkItem& it) { simd::run_item<4>(p, it, kern); });
    return true;
  }
  // bf16 · bf16 only: every other float mix runs on the AVX2 kernels, bit-identical to the reference.
  if (p.x_dtype != DType::kBF16 || p.w_dtype != DType::kBF16) return false;
  Bf16DotKernel kern{p};
  simd::run_matmul(p, [](int, int) {}, [&](const WorkItem& it) { simd::run_item<4>(p, it, kern); });
  return true;
}

}  // namespace

bool try_linear(const LinearArgs& a) { return run(simd::problem_from(a)); }
bool try_grouped_gemm(const GroupedGemmArgs& a) { return run(simd::problem_from(a)); }

}  // namespace sy::cpu::avx512
