// AVX2 + FMA matmul kernels for linear and grouped_gemm (selected by kernels/cpu/ops.cpp when
// active_isa() is avx2, and for the float mixes the AVX-512 path leaves to it).
//   float weights   8 fp32 lanes in the reference's summation order (element i in lane i % 8,
//                   the reference's final tree), so results are bit-identical to
//                   sy::cpu::ref::linear / grouped_gemm. Products of 16-bit floats are exact in
//                   fp32, so those use FMA; a product involving an f32 is rounded before the
//                   add, as the reference does.
//   int8 weights    vpmaddubsw on |x| × sign(x)·w (no saturation: |x|, |w| ≤ 127), vpmaddwd to
//                   int32 lanes, one per activation lane group, scaled in fp32 once per row
//                   and channel — the same integers as VNNI
// Tiles are 2 rows × 4 output channels (16 ymm registers).
#include <immintrin.h>

#include "kernels/cpu/simd_kernels.h"
#include "kernels/cpu/simd_matmul.h"

namespace sy::cpu::avx2 {
namespace {

using simd::MatmulProblem;
using simd::WorkItem;

template <DType T>
__m256 load8(const void* p, int64_t i) {
  if constexpr (T == DType::kF32) {
    return _mm256_loadu_ps(static_cast<const float*>(p) + i);
  } else if constexpr (T == DType::kBF16) {
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(p) + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  } else {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(p) + i)));
  }
}

// Elements [i, i + count) (count < 8) widened to fp32, zeros after; reads nothing past them.
template <DType T>
__m256 load8_partial(const void* p, int64_t i, int64_t count) {
  alignas(32) float v[8] = {};
  for (int64_t j = 0; j < count; ++j) v[j] = load_f(p, T, i + j);
  return _mm256_load_ps(v);
}

// The reference's lane reduction: ((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7)).
float hsum_ref_order(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));  // l_i + l_{i+4}
  s = _mm_hadd_ps(s, s);  // (s0 + s1), (s2 + s3)
  s = _mm_hadd_ps(s, s);
  return _mm_cvtss_f32(s);
}

float hsum(__m256 v) { return hsum_ref_order(v); }

template <DType XT, DType WT>
struct FmaKernel {
  // bf16/f16 × bf16/f16 products fit in fp32's 24-bit significand: FMA equals multiply-then-add.
  static constexpr bool kExactProducts = XT != DType::kF32 && WT != DType::kF32;
  const MatmulProblem& p;
  const void* x_row(int64_t r) const {
    return static_cast<const uint8_t*>(p.x) + size_t(r * p.ldx) * dtype_size(XT);
  }
  const void* w_row(int e, int64_t c) const {
    return static_cast<const uint8_t*>(p.w) + size_t((int64_t(e) * p.n + c) * p.k) * dtype_size(WT);
  }
  float finish(float v, int, int64_t) const { return v; }

  static __m256 accumulate(__m256 acc, __m256 x, __m256 w) {
    if constexpr (kExactProducts) return _mm256_fmadd_ps(x, w, acc);
    else {
      __m256 product = _mm256_mul_ps(x, w);
      // GCC contracts a vector multiply feeding an add into an FMA under C++'s default
      // -ffp-contract=fast; the empty asm keeps the product rounded, as in the reference.
      asm("" : "+x"(product));
      return _mm256_add_ps(acc, product);
    }
  }

  template <int MR>
  void tile(const void* const* xr, const void* const* wr, float (*out)[4]) const {
    __m256 acc[MR][4];
#pragma GCC unroll 4
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) acc[i][j] = _mm256_setzero_ps();
    const int64_t k = p.k;
    int64_t kk = 0;
    for (; kk + 8 <= k; kk += 8) {
      __m256 w[4];
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) w[j] = load8<WT>(wr[j], kk);
#pragma GCC unroll 2
      for (int i = 0; i < MR; ++i) {
        const __m256 x = load8<XT>(xr[i], kk);
#pragma GCC unroll 4
        for (int j = 0; j < 4; ++j) acc[i][j] = accumulate(acc[i][j], x, w[j]);
      }
    }
    if (kk < k) {
      // Only lanes [0, k - kk) take the tail, as in the reference (adding +0 would turn a -0 lane into +0).
      const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
      const __m256 take = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(int(k - kk)), lane));
      __m256 w[4];
      for (int j = 0; j < 4; ++j) w[j] = load8_partial<WT>(wr[j], kk, k - kk);
      for (int i = 0; i < MR; ++i) {
        const __m256 x = load8_partial<XT>(xr[i], kk, k - kk);
        for (int j = 0; j < 4; ++j) acc[i][j] = _mm256_blendv_ps(acc[i][j], accumulate(acc[i][j], x, w[j]), take);
      }
    }
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < 4; ++j) out[i][j] = hsum_ref_order(acc[i][j]);
  }
};

struct Int8Kernel : simd::Int8Operands {
  // The 8 int32 lanes of a 256-bit vector hold lane groups 8h..8h+7 (bytes 32h..32h+31 of each
  // chunk, pack.h), so the two halves of every chunk are accumulated in two passes over the
  // tile (the second reads it from cache); each pass is scaled once at its end.
  template <int MR>
  void tile(const void* const* xr, const void* const* wr, float (*out)[4]) const {
    const int64_t chunks = xq.k_pad / kInt8Group;
    const __m256i ones16 = _mm256_set1_epi16(1);
    const __m256i offset = _mm256_set1_epi8(char(0x80));
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < 4; ++j) out[i][j] = 0.0f;
    for (int h = 0; h < 2; ++h) {
      __m256i acc[MR][4];
      for (int i = 0; i < MR; ++i)
        for (int j = 0; j < 4; ++j) acc[i][j] = _mm256_setzero_si256();
      for (int64_t g = 0; g < chunks; ++g) {
        const int64_t w_off = g * kInt8GroupStride + h * 32, x_off = g * kInt8Group + h * 32;
        __m256i w[4];
#pragma GCC unroll 4
        for (int j = 0; j < 4; ++j)  // stored q + 128: xor 0x80 gives the signed q
          w[j] = _mm256_xor_si256(
              _mm256_load_si256(reinterpret_cast<const __m256i*>(static_cast<const uint8_t*>(wr[j]) + w_off)), offset);
#pragma GCC unroll 2
        for (int i = 0; i < MR; ++i) {
          const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const int8_t*>(xr[i]) + x_off));
          const __m256i x_abs = _mm256_abs_epi8(x);
#pragma GCC unroll 4
          for (int j = 0; j < 4; ++j) {
            const __m256i pairs = _mm256_maddubs_epi16(x_abs, _mm256_sign_epi8(w[j], x));
            acc[i][j] = _mm256_add_epi32(acc[i][j], _mm256_madd_epi16(pairs, ones16));
          }
        }
      }
      for (int i = 0; i < MR; ++i) {
        const __m256 scale = _mm256_loadu_ps(xq.scales.data() + xq.row_of(xr[i]) * kInt8Lanes + 8 * h);
        for (int j = 0; j < 4; ++j) out[i][j] += hsum(_mm256_mul_ps(_mm256_cvtepi32_ps(acc[i][j]), scale));
      }
    }
  }
};

template <DType XT, DType WT>
void run_fma(const MatmulProblem& p) {
  FmaKernel<XT, WT> kern{p};
  simd::run_matmul(p, [](int, int) {}, [&](const WorkItem& it) { simd::run_item<2>(p, it, kern); });
}

template <DType XT>
void run_fma_for_x(const MatmulProblem& p) {
  switch (p.w_dtype) {
    case DType::kF32: return run_fma<XT, DType::kF32>(p);
    case DType::kBF16: return run_fma<XT, DType::kBF16>(p);
    default: return run_fma<XT, DType::kF16>(p);
  }
}

bool run(const MatmulProblem& p) {
  if (!is_float_dtype(p.x_dtype) || !is_float_dtype(p.y_dtype)) return false;
  if (p.packed)
    return simd::run_packed_int8<Int8Kernel>(
        p, quantize_activation_row, [&](const Int8Kernel& kern, const WorkItem& it) { simd::run_item<2>(p, it, kern); });
  if (!is_float_dtype(p.w_dtype)) return false;
  switch (p.x_dtype) {
    case DType::kF32: run_fma_for_x<DType::kF32>(p); break;
    case DType::kBF16: run_fma_for_x<DType::kBF16>(p); break;
    default: run_fma_for_x<DType::kF16>(p); break;
  }
  return true;
}

}  // namespace

bool try_linear(const LinearArgs& a) { return run(simd::problem_from(a)); }
bool try_grouped_gemm(const GroupedGemmArgs& a) { return run(simd::problem_from(a)); }

}  // namespace sy::cpu::avx2
