// AVX-512 matmul kernels for linear and grouped_gemm (attention projections, lm_head, experts).
// Selected by kernels/cpu/ops.cpp when active_isa() is avx512 (F/BW/VL/DQ + BF16 + VNNI).
//   bf16 x · bf16 w   vdpbf16ps: bf16 products are exact in fp32, accumulated in fp32
//                     (other float mixes return false: ops.cpp runs them on the AVX2 kernels,
//                     which reproduce the reference bit for bit)
//                     with AMX (Isa::kAmx), segments of >= 16 rows run on bf16 tiles instead
//                     (matmul_amx_bf16.h)
//   int8 weights      vpdpbusd on (w + 128) u8 × x s8 into int32 lanes preloaded with the
//                     -128·Σx correction, one lane per activation lane group, scaled in fp32
//                     once per row and channel (pack.h has the math)
// Each output is a dot product along the contiguous Hugging Face weight row, accumulated in
// 16 lanes and reduced at the end: only the summation order differs from the reference
// (and vdpbf16ps treats bf16 subnormals as zero).
#include <immintrin.h>

#include <algorithm>

// GCC 12 reports its own _mm512_undefined_* self-initialisation inside the widening intrinsics
// as "may be used uninitialized"; the warning is about the header, not this code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "kernels/cpu/matmul_amx_bf16.h"
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
      for (int j = 0; j < 4; ++j) {
        const uint16_t* chunk = static_cast<const uint16_t*>(wr[j]) + kk;
        _mm_prefetch(reinterpret_cast<const char*>(chunk + 4 * k), _MM_HINT_T0);
        w[j] = (__m512bh)_mm512_loadu_si512(chunk);
      }
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

// 16 elements [i, i + 16) of x widened to fp32; lanes at or past `end` read nothing and are 0.
__m512 load16(const void* x, DType dtype, int64_t i, int64_t end) {
  const int64_t count = std::max<int64_t>(0, std::min<int64_t>(16, end - i));
  const __mmask16 m = __mmask16((1u << count) - 1);
  switch (dtype) {
    case DType::kF32: return _mm512_maskz_loadu_ps(m, static_cast<const float*>(x) + i);
    case DType::kBF16: {
      const __m256i h = _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(x) + i);
      return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
    default: return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(x) + i));
  }
}

}  // namespace

// pack.cpp's quantize_activation_row with AVX-512, producing the same integers and scales: per
// element the same float operations (|x| maximum per lane group, one multiply by 127 / amax,
// round half to even, clamp to ±127), and the VNNI correction −128·Σ q per lane from vpdpbusd
// on a vector of 128s (lane l of vpdpbusd sums bytes 4l..4l+3 of every chunk: lane group l).
void quantize_activation_row(const void* x, DType dtype, int64_t k, int64_t k_pad, int8_t* q, float* lane_scales,
                             int32_t* neg_lane_sums) {
  const __m512 sign = _mm512_set1_ps(-0.0f);
  // Pass 1: the largest |x| at each of the 64 positions of a chunk, over all chunks.
  __m512 peak[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  for (int64_t g0 = 0; g0 < k_pad; g0 += kInt8Group)
    for (int j = 0; j < 4; ++j) peak[j] = _mm512_max_ps(peak[j], _mm512_andnot_ps(sign, load16(x, dtype, g0 + 16 * j, k)));
  alignas(64) float position_max[kInt8Group];
  alignas(64) float position_inv[kInt8Group];  // 127 / amax of the position's lane group
  for (int j = 0; j < 4; ++j) _mm512_store_ps(position_max + 16 * j, peak[j]);
  for (int l = 0; l < kInt8Lanes; ++l) {
    const float* m = position_max + 4 * l;
    const float amax = std::max(std::max(m[0], m[1]), std::max(m[2], m[3]));
    lane_scales[l] = amax / 127.0f;
    const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    for (int b = 0; b < 4; ++b) position_inv[4 * l + b] = inv;
  }
  __m512 inv[4];
  for (int j = 0; j < 4; ++j) inv[j] = _mm512_load_ps(position_inv + 16 * j);
  // Pass 2: quantise, and sum 128·q per lane.
  const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
  const __m512i u8_128 = _mm512_set1_epi8(char(0x80));
  __m512i sum = _mm512_setzero_si512();
  for (int64_t g0 = 0; g0 < k_pad; g0 += kInt8Group) {
    __m512i packed = _mm512_setzero_si512();
    for (int j = 0; j < 4; ++j) {
      // Round half to even (the MXCSR default), as nearbyint in the scalar version.
      __m512i iq = _mm512_cvtps_epi32(_mm512_mul_ps(load16(x, dtype, g0 + 16 * j, k), inv[j]));
      iq = _mm512_min_epi32(_mm512_max_epi32(iq, lo), hi);
      packed = _mm512_inserti32x4(packed, _mm512_cvtepi32_epi8(iq), j);
    }
    _mm512_storeu_si512(q + g0, packed);
    sum = _mm512_dpbusd_epi32(sum, u8_128, packed);
  }
  _mm512_storeu_si512(neg_lane_sums, _mm512_sub_epi32(_mm512_setzero_si512(), sum));
}

namespace {

// How far ahead of the weight stream to prefetch: a tile of 4 channels is one sequential
// stream (pack.h), but rows of a few KiB end before the hardware prefetcher has ramped up;
// the hint took decode from 44 to 55 tok/s on the bench model (docs/perf/cpu.md).
constexpr int64_t kPrefetchBytes = 4096;

// int8 per-channel weights · dynamically quantised activations (pack.h).
struct Int8Kernel : simd::Int8Operands {
  // Lane l of acc[i][j] accumulates row i's lane group l against channel j over the whole row,
  // starting from the −128·Σq correction; the float scaling happens once at the end.
  template <int MR>
  void tile(const void* const* xr, const void* const* wr, float (*out)[4]) const {
    const int64_t chunks = xq.k_pad / kInt8Group;
    int64_t rows[MR];
    __m512i acc[MR][4];
#pragma GCC unroll 4
    for (int i = 0; i < MR; ++i) {
      rows[i] = xq.row_of(xr[i]);
      const __m512i correction = _mm512_loadu_si512(xq.neg_sums.data() + rows[i] * kInt8Lanes);
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) acc[i][j] = correction;
    }
    for (int64_t g = 0; g < chunks; ++g) {
      __m512i w[4];
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        const uint8_t* chunk = static_cast<const uint8_t*>(wr[j]) + g * kInt8GroupStride;
        _mm_prefetch(reinterpret_cast<const char*>(chunk + kPrefetchBytes), _MM_HINT_T0);
        w[j] = _mm512_load_si512(chunk);
      }
#pragma GCC unroll 4
      for (int i = 0; i < MR; ++i) {
        const __m512i x = _mm512_loadu_si512(static_cast<const int8_t*>(xr[i]) + g * kInt8Group);
#pragma GCC unroll 4
        for (int j = 0; j < 4; ++j) acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], w[j], x);
      }
    }
    for (int i = 0; i < MR; ++i) {
      const __m512 scale = _mm512_loadu_ps(xq.scales.data() + rows[i] * kInt8Lanes);
      for (int j = 0; j < 4; ++j) out[i][j] = _mm512_reduce_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(acc[i][j]), scale));
    }
  }
};

// A one-row item (decode): 8 output channels per pass, i.e. two 4-channel tiles read as two
// sequential streams at once, where run_item reads one; the last < 8 channels go through
// run_item. Same integers and the same per-channel epilogue as Int8Kernel::tile<1>.
void run_int8_one_row(const MatmulProblem& p, const Int8Kernel& kern, const WorkItem& it) {
  const simd::QuantizedRows& xq = kern.xq;
  const int expert = p.segments[size_t(it.segment)].expert;
  const int64_t row = it.r0, chunks = xq.k_pad / kInt8Group;
  const int8_t* x = xq.q.data() + row * xq.k_pad;
  const __m512i correction = _mm512_loadu_si512(xq.neg_sums.data() + row * kInt8Lanes);
  const __m512 scale = _mm512_loadu_ps(xq.scales.data() + row * kInt8Lanes);
  int64_t c = it.c0;
  for (; c + 2 * kInt8TileRows <= it.c1; c += 2 * kInt8TileRows) {
    const uint8_t* tiles[2] = {p.packed->channel(expert, c), p.packed->channel(expert, c + kInt8TileRows)};
    __m512i acc[8];
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) acc[j] = correction;
    for (int64_t g = 0; g < chunks; ++g) {
      const __m512i xv = _mm512_loadu_si512(x + g * kInt8Group);
#pragma GCC unroll 2
      for (int t = 0; t < 2; ++t) {
        const uint8_t* base = tiles[t] + g * kInt8GroupStride;
#pragma GCC unroll 4
        for (int j = 0; j < 4; ++j) {
          _mm_prefetch(reinterpret_cast<const char*>(base + j * kInt8Group + kPrefetchBytes), _MM_HINT_T0);
          acc[4 * t + j] = _mm512_dpbusd_epi32(acc[4 * t + j], _mm512_load_si512(base + j * kInt8Group), xv);
        }
      }
    }
    for (int j = 0; j < 8; ++j)
      simd::store_output(p, expert, row, c + j,
                         kern.finish(_mm512_reduce_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(acc[j]), scale)), expert, c + j));
  }
  if (c < it.c1) simd::run_item<4>(p, WorkItem{it.segment, it.r0, it.r1, c, it.c1}, kern);
}

bool run(const MatmulProblem& p) {
  if (!is_float_dtype(p.x_dtype) || !is_float_dtype(p.y_dtype)) return false;
  if (p.packed)
    return simd::run_packed_int8<Int8Kernel>(p, avx512::quantize_activation_row,
                                             [&](const Int8Kernel& kern, const WorkItem& it) {
                                               if (it.r1 - it.r0 == 1) run_int8_one_row(p, kern, it);
                                               else simd::run_item<4>(p, it, kern);
                                             });
  // bf16 · bf16 only: every other float mix runs on the AVX2 kernels, bit-identical to the reference.
  if (p.x_dtype != DType::kBF16 || p.w_dtype != DType::kBF16) return false;
  Bf16DotKernel kern{p};
  auto dot_item = [&](const WorkItem& it) { simd::run_item<4>(p, it, kern); };
  if (amx_eligible(p)) {
    // Named through a reference, like the int8 rows: the callers' buffer, reused across calls.
    static thread_local AmxPackedRows caller_packed;
    AmxPackedRows& xp = caller_packed;
    xp.plan(p);
    if (xp.blocks > 0) {
      simd::run_matmul(p, [&](int t, int nt) { xp.pack(p, t, nt); }, [&](const WorkItem& it) {
        if (xp.first_block[size_t(it.segment)] >= 0) run_amx_item(p, xp, it, dot_item);
        else dot_item(it);
      });
      return true;
    }
  }
  simd::run_matmul(p, [](int, int) {}, dot_item);
  return true;
}

}  // namespace

bool try_linear(const LinearArgs& a) { return run(simd::problem_from(a)); }
bool try_grouped_gemm(const GroupedGemmArgs& a) { return run(simd::problem_from(a)); }

}  // namespace sy::cpu::avx512
