// fp32 vector helpers for the SIMD versions of the small CPU ops (norm_simd.h, rope_simd.h,
// attention_simd.h, router_simd.h, elementwise_simd.h), which ops.cpp dispatches to around
// the big matmuls of a step (runner -> backend -> sy::cpu::<op> -> here).
//
// Included only by *_avx512.cpp and *_avx2.cpp (kernels/CMakeLists.txt gives those their -m
// flags): the including file's flags pick the implementation of `Vec`, 16 fp32 lanes of __m512
// under __AVX512F__, else 8 lanes of __m256. Everything has internal linkage (anonymous
// namespace), so the two compilations are never merged by the linker.
//
// Loads widen bf16/f16/f32 to fp32; stores round to nearest even exactly as dtype.h's
// f32_to_bf16 / f32_to_f16 do, so a vector op that performs the reference's operations in the
// reference's order gives bit-identical results. Two helpers exist for that:
//   - dot8: an fp32 dot product in ref_util.h's summation order (element i in lane i % 8,
//     then ((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7))), on 256-bit vectors in both ISAs;
//   - no implicit FMA: the reference rounds every product before adding it (it is compiled
//     without FMA), while GCC would contract a vector multiply feeding an add into an FMA under
//     its default -ffp-contract=fast. The pragma below turns that off for the including file;
//     an explicit vfmadd is written only where the product is exact (16-bit float operands).
#pragma once

#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/dtype.h"
#if defined(__AVX512F__)
#include "kernels/cpu/bf16_round_avx512.h"  // bf16_bits for the 16-lane Vec
#endif

#pragma GCC optimize("fp-contract=off")
// GCC 12 reports its own _mm512_undefined_* self-initialisation inside the AVX-512 intrinsics
// as "may be used uninitialized"; the warning is about the header, not this code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace sy::cpu::simd {
namespace {

// 8 elements widened to fp32 (AVX2 + F16C: available to both builds; the AVX2 Vec is this).
template <DType T>
inline __m256 load8(const void* p, int64_t i) {
  if constexpr (T == DType::kF32) return _mm256_loadu_ps(static_cast<const float*>(p) + i);
  else {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(p) + i));
    if constexpr (T == DType::kBF16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    else return _mm256_cvtph_ps(h);
  }
}

// Elements [i, i + n), n < 8, widened to fp32 with zeros after; reads nothing past them.
template <DType T>
inline __m256 load8_partial(const void* p, int64_t i, int64_t n) {
  alignas(32) unsigned char buf[32] = {};
  std::memcpy(buf, static_cast<const unsigned char*>(p) + i * int64_t(dtype_size(T)), size_t(n) * dtype_size(T));
  return load8<T>(buf, 0);
}

// ---------------------------------------------------------------------------------------------
// Vec: kLanes fp32 lanes.
#if defined(__AVX512F__)

constexpr int kLanes = 16;
using Vec = __m512;

inline Vec vzero() { return _mm512_setzero_ps(); }
inline Vec vset1(float v) { return _mm512_set1_ps(v); }
inline Vec vadd(Vec a, Vec b) { return _mm512_add_ps(a, b); }
inline Vec vsub(Vec a, Vec b) { return _mm512_sub_ps(a, b); }
inline Vec vmul(Vec a, Vec b) { return _mm512_mul_ps(a, b); }
inline Vec vdiv(Vec a, Vec b) { return _mm512_div_ps(a, b); }
inline Vec vmax(Vec a, Vec b) { return _mm512_max_ps(a, b); }
inline Vec vmin(Vec a, Vec b) { return _mm512_min_ps(a, b); }
inline Vec vfmadd(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline float vreduce_max(Vec a) { return _mm512_reduce_max_ps(a); }
// Bit l set where lane l of a equals lane l of b (ordered: NaN equals nothing).
inline uint32_t vmask_eq(Vec a, Vec b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }

inline Vec bf16_widen(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }
inline __mmask16 first_lanes(int n) { return __mmask16((1u << n) - 1); }

template <DType T>
inline Vec load(const void* p, int64_t i) {
  if constexpr (T == DType::kF32) return _mm512_loadu_ps(static_cast<const float*>(p) + i);
  else if constexpr (T == DType::kBF16)
    return bf16_widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(p) + i)));
  else return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(p) + i)));
}

// Elements [i, i + n), n < kLanes, zeros in the other lanes; reads nothing past them.
template <DType T>
inline Vec load_partial(const void* p, int64_t i, int n) {
  const __mmask16 m = first_lanes(n);
  if constexpr (T == DType::kF32) return _mm512_maskz_loadu_ps(m, static_cast<const float*>(p) + i);
  else if constexpr (T == DType::kBF16) return bf16_widen(_mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(p) + i));
  else return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(p) + i));
}

template <DType T>
inline void store(void* p, int64_t i, Vec v) {
  if constexpr (T == DType::kF32) _mm512_storeu_ps(static_cast<float*>(p) + i, v);
  else if constexpr (T == DType::kBF16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(static_cast<uint16_t*>(p) + i), _mm512_cvtepi32_epi16(bf16_bits(v)));
  else
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(static_cast<uint16_t*>(p) + i),
                        _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

template <DType T>
inline void store_partial(void* p, int64_t i, Vec v, int n) {
  const __mmask16 m = first_lanes(n);
  if constexpr (T == DType::kF32) _mm512_mask_storeu_ps(static_cast<float*>(p) + i, m, v);
  else if constexpr (T == DType::kBF16) _mm512_mask_cvtepi32_storeu_epi16(static_cast<uint16_t*>(p) + i, m, bf16_bits(v));
  else
    _mm256_mask_storeu_epi16(static_cast<uint16_t*>(p) + i, m,
                             _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

// The value each lane has after a store to / load from dtype T (dtype.h's round_to).
template <DType T>
inline Vec round_to(Vec v) {
  if constexpr (T == DType::kF32) return v;
  else if constexpr (T == DType::kBF16) return _mm512_castsi512_ps(_mm512_slli_epi32(bf16_bits(v), 16));
  else return _mm512_cvtph_ps(_mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

// v · 2^n for integer-valued n (|n| <= 252 here), overflowing to inf and underflowing gradually.
inline Vec scale_by_pow2(Vec v, Vec n) { return _mm512_scalef_ps(v, n); }
inline Vec round_nearest(Vec v) { return _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }

#else  // AVX2 + FMA + F16C

constexpr int kLanes = 8;
using Vec = __m256;

inline Vec vzero() { return _mm256_setzero_ps(); }
inline Vec vset1(float v) { return _mm256_set1_ps(v); }
inline Vec vadd(Vec a, Vec b) { return _mm256_add_ps(a, b); }
inline Vec vsub(Vec a, Vec b) { return _mm256_sub_ps(a, b); }
inline Vec vmul(Vec a, Vec b) { return _mm256_mul_ps(a, b); }
inline Vec vdiv(Vec a, Vec b) { return _mm256_div_ps(a, b); }
inline Vec vmax(Vec a, Vec b) { return _mm256_max_ps(a, b); }
inline Vec vmin(Vec a, Vec b) { return _mm256_min_ps(a, b); }
inline Vec vfmadd(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline float vreduce_max(Vec a) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}
inline uint32_t vmask_eq(Vec a, Vec b) { return uint32_t(_mm256_movemask_ps(_mm256_cmp_ps(a, b, _CMP_EQ_OQ))); }

inline __m256i bf16_bits(Vec v) {
  const __m256i u = _mm256_castps_si256(v);
  const __m256i hi = _mm256_srli_epi32(u, 16);
  const __m256i bias = _mm256_add_epi32(_mm256_and_si256(hi, _mm256_set1_epi32(1)), _mm256_set1_epi32(0x7fff));
  const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(u, bias), 16);
  const __m256 nan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
  return _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(rounded),
                                              _mm256_castsi256_ps(_mm256_or_si256(hi, _mm256_set1_epi32(0x40))), nan));
}

// Eight 16-bit patterns (low halves of the 32-bit lanes, all <= 0xffff) packed into 128 bits.
inline __m128i narrow16(__m256i bits) {
  const __m256i packed = _mm256_packus_epi32(bits, bits);  // per 128-bit half: [0..3, 0..3]
  return _mm256_castsi256_si128(_mm256_permute4x64_epi64(packed, 0x08));
}

template <DType T>
inline Vec load(const void* p, int64_t i) { return load8<T>(p, i); }

template <DType T>
inline Vec load_partial(const void* p, int64_t i, int n) { return load8_partial<T>(p, i, n); }

template <DType T>
inline void store(void* p, int64_t i, Vec v) {
  if constexpr (T == DType::kF32) _mm256_storeu_ps(static_cast<float*>(p) + i, v);
  else if constexpr (T == DType::kBF16)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(static_cast<uint16_t*>(p) + i), narrow16(bf16_bits(v)));
  else
    _mm_storeu_si128(reinterpret_cast<__m128i*>(static_cast<uint16_t*>(p) + i),
                     _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

template <DType T>
inline void store_partial(void* p, int64_t i, Vec v, int n) {
  alignas(32) unsigned char buf[32];
  store<T>(buf, 0, v);
  std::memcpy(static_cast<unsigned char*>(p) + i * int64_t(dtype_size(T)), buf, size_t(n) * dtype_size(T));
}

template <DType T>
inline Vec round_to(Vec v) {
  if constexpr (T == DType::kF32) return v;
  else if constexpr (T == DType::kBF16) return _mm256_castsi256_ps(_mm256_slli_epi32(bf16_bits(v), 16));
  else return _mm256_cvtph_ps(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

// v · 2^n (n integer-valued, |n| <= 252) as two factors 2^(n/2) · 2^(n - n/2), each a normal
// float, so that overflow gives inf and underflow is gradual, as in one exact scaling.
inline Vec scale_by_pow2(Vec v, Vec n) {
  const __m256i ni = _mm256_cvtps_epi32(n);
  const __m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
  auto pow2 = [](__m256i e) {
    const __m256i clamped = _mm256_min_epi32(_mm256_max_epi32(e, _mm256_set1_epi32(-126)), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(clamped, _mm256_set1_epi32(127)), 23));
  };
  return _mm256_mul_ps(_mm256_mul_ps(v, pow2(n1)), pow2(n2));
}
inline Vec round_nearest(Vec v) { return _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }

#endif

// ---------------------------------------------------------------------------------------------
// Threading: a parallel region costs a fork/join — a few µs on an idle machine, but 20-100 µs
// measured with OMP_WAIT_POLICY=passive on the loaded 2-core machine, where the sleeping
// partner thread must be woken and scheduled — so the small ops run on the calling thread
// unless a call touches at least this many elements (~50 µs of single-thread work): prefill
// is threaded, decode (even batch 8) is not.
constexpr int64_t kParallelMinElements = 1 << 18;

// ---------------------------------------------------------------------------------------------
// Loops over [0, n) in whole vectors plus one partial tail.

// f(i, lanes): lanes == kLanes for full vectors, < kLanes for the tail.
template <class F>
inline void for_each_vector(int64_t n, F&& f) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) f(i, kLanes);
  if (i < n) f(i, int(n - i));
}

// Rounds n up to a whole number of vectors.
constexpr int64_t pad_lanes(int64_t n) { return (n + kLanes - 1) / kLanes * kLanes; }

template <DType T>
inline Vec load_n(const void* p, int64_t i, int lanes) {
  return lanes == kLanes ? load<T>(p, i) : load_partial<T>(p, i, lanes);
}
template <DType T>
inline void store_n(void* p, int64_t i, Vec v, int lanes) {
  if (lanes == kLanes) store<T>(p, i, v);
  else store_partial<T>(p, i, v, lanes);
}

// Splits 2·kLanes interleaved values [a0, b0, a1, b1, ...] (lo: the first kLanes, hi: the next)
// into even = [a0, a1, ...] and odd = [b0, b1, ...].
inline void deinterleave(Vec lo, Vec hi, Vec& even, Vec& odd) {
#if defined(__AVX512F__)
  even = _mm512_permutex2var_ps(lo, _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30), hi);
  odd = _mm512_permutex2var_ps(lo, _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31), hi);
#else
  // shuffle: [lo0 lo2 hi0 hi2 | lo4 lo6 hi4 hi6]; the 64-bit permute puts the lo pairs first.
  even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0x88)), 0xd8));
  odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0xdd)), 0xd8));
#endif
}

// The inverse of deinterleave.
inline void interleave(Vec even, Vec odd, Vec& lo, Vec& hi) {
#if defined(__AVX512F__)
  lo = _mm512_permutex2var_ps(even, _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23), odd);
  hi = _mm512_permutex2var_ps(even, _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31), odd);
#else
  const __m256 a = _mm256_unpacklo_ps(even, odd), b = _mm256_unpackhi_ps(even, odd);  // [e0 o0 e1 o1 | e4 o4 e5 o5], [e2 o2 e3 o3 | ...]
  lo = _mm256_permute2f128_ps(a, b, 0x20);
  hi = _mm256_permute2f128_ps(a, b, 0x31);
#endif
}

// Loads / stores 2·lanes interleaved elements at i (lanes <= kLanes) as two vectors.
template <DType T>
inline void load_pairs(const void* p, int64_t i, int lanes, Vec& lo, Vec& hi) {
  if (lanes == kLanes) {
    lo = load<T>(p, i);
    hi = load<T>(p, i + kLanes);
  } else {
    const int n = 2 * lanes;
    lo = n >= kLanes ? load<T>(p, i) : load_partial<T>(p, i, n);
    hi = n > kLanes ? load_partial<T>(p, i + kLanes, n - kLanes) : vzero();
  }
}
template <DType T>
inline void store_pairs(void* p, int64_t i, int lanes, Vec lo, Vec hi) {
  const int n = 2 * lanes;
  if (n >= kLanes) store<T>(p, i, lo);
  else store_partial<T>(p, i, lo, n);
  if (n > kLanes) store_n<T>(p, i + kLanes, hi, n - kLanes);
}

// Calls f.template operator()<T>() with T the runtime dtype t (F32, BF16 or F16).
template <class F>
inline void with_dtype(DType t, F&& f) {
  switch (t) {
    case DType::kBF16: f.template operator()<DType::kBF16>(); break;
    case DType::kF16: f.template operator()<DType::kF16>(); break;
    default: f.template operator()<DType::kF32>(); break;
  }
}

// ---------------------------------------------------------------------------------------------
// exp(x) per lane, within a few ulp of the correctly rounded value (kernels_simd_ops_test
// checks it through glu against the reference's std::exp): x = n·ln2 + r with |r| <= ln2/2, e^r = 1 + r + r²·P(r) with
// Cephes' degree-5 minimax P, scaled by 2^n. Saturates like std::exp (inf above ~88.72, gradual
// underflow to 0 below ~-103.3) and passes NaN through.
inline Vec vexp(Vec x) {
  x = vmin(vset1(104.0f), vmax(vset1(-104.0f), x));  // NaN stays NaN: max/min return their 2nd operand
  const Vec n = round_nearest(vmul(x, vset1(1.44269504088896341f)));
  Vec r = vfmadd(n, vset1(-0.693359375f), x);  // ln2 = 0.693359375 - 2.12194440e-4, first part exact in n·c
  r = vfmadd(n, vset1(2.12194440e-4f), r);
  Vec p = vset1(1.9875691500e-4f);
  p = vfmadd(p, r, vset1(1.3981999507e-3f));
  p = vfmadd(p, r, vset1(8.3334519073e-3f));
  p = vfmadd(p, r, vset1(4.1665795894e-2f));
  p = vfmadd(p, r, vset1(1.6666665459e-1f));
  p = vfmadd(p, r, vset1(5.0000001201e-1f));
  const Vec y = vadd(vfmadd(p, vmul(r, r), r), vset1(1.0f));
  return scale_by_pow2(y, n);
}

// sigmoid(x) = 1 / (1 + exp(-x)), as ref_util.h's sigmoid but with vexp.
inline Vec vsigmoid(Vec x) {
  const Vec one = vset1(1.0f);
  return vdiv(one, vadd(one, vexp(vsub(vzero(), x))));
}

// ---------------------------------------------------------------------------------------------
// Dot products in the reference's summation order, on 256-bit vectors (8 fp32 lanes).


// The reference's lane reduction ((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7)).
inline float hsum8_ref_order(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_hadd_ps(s, s);
  s = _mm_hadd_ps(s, s);
  return _mm_cvtss_f32(s);
}

// The same reduction of four accumulators at once: lane j of the result is hsum8_ref_order(a_j).
inline __m128 hsum8x4_ref_order(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
  auto fold = [](__m256 v) { return _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1)); };
  const __m128 h01 = _mm_hadd_ps(fold(a0), fold(a1)), h23 = _mm_hadd_ps(fold(a2), fold(a3));
  return _mm_hadd_ps(h01, h23);
}

// Σ x[i]² over n elements of dtype T, in the reference's order (ref_util.h's dot(x, x, n)).
template <DType T>
inline float sum_squares_ref_order(const void* x, int64_t n) {
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = load8<T>(x, i);
    acc = _mm256_add_ps(acc, _mm256_mul_ps(v, v));
  }
  if (i < n) {  // zero lanes add +0, which leaves every lane unchanged (see dot8_padded)
    const __m256 v = load8_partial<T>(x, i, n - i);
    acc = _mm256_add_ps(acc, _mm256_mul_ps(v, v));
  }
  return hsum8_ref_order(acc);
}

// acc + x·y per lane. kExactProducts (both operands 16-bit floats widened to fp32): the product
// is exact in fp32, so one FMA equals the reference's multiply-then-add; otherwise the product
// is rounded first, as the reference does.
template <bool kExactProducts>
inline __m256 madd8(__m256 acc, __m256 x, __m256 y) {
  if constexpr (kExactProducts) return _mm256_fmadd_ps(x, y, acc);
  else return _mm256_add_ps(acc, _mm256_mul_ps(x, y));
}

// dot(a, b) over two fp32 rows whose storage is zero-padded to n_pad, a multiple of 8 (the
// padding adds +0 products, which leave every lane unchanged: a lane that starts at +0 and
// adds rounded products is never -0).
template <bool kExactProducts>
inline float dot8_padded(const float* a, const float* b, int64_t n_pad) {
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n_pad; i += 8) acc = madd8<kExactProducts>(acc, _mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
  return hsum8_ref_order(acc);
}

// out[j] = dot(q, k + j·ld) for j < 8, eight independent add chains (enough to keep both FMA
// ports busy), each in the reference's order.
template <bool kExactProducts>
inline void dot8x8_padded(const float* q, const float* k, int64_t ld, int64_t n_pad, float* out) {
  __m256 acc[8];
  for (int j = 0; j < 8; ++j) acc[j] = _mm256_setzero_ps();
  for (int64_t i = 0; i < n_pad; i += 8) {
    const __m256 x = _mm256_loadu_ps(q + i);
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) acc[j] = madd8<kExactProducts>(acc[j], x, _mm256_loadu_ps(k + j * ld + i));
  }
  _mm_storeu_ps(out, hsum8x4_ref_order(acc[0], acc[1], acc[2], acc[3]));
  _mm_storeu_ps(out + 4, hsum8x4_ref_order(acc[4], acc[5], acc[6], acc[7]));
}

// Rounds n up to a multiple of 8 (row padding for the dot8 helpers).
constexpr int64_t pad8(int64_t n) { return (n + 7) / 8 * 8; }

// Row [0, n) of dtype T widened to fp32 into dst, then zeros up to n_pad (>= n).
template <DType T>
inline void widen_row(const void* src, int64_t n, float* dst, int64_t n_pad) {
  for_each_vector(n, [&](int64_t i, int lanes) { store_n<DType::kF32>(dst, i, load_n<T>(src, i, lanes), lanes); });
  for (int64_t i = n; i < n_pad; ++i) dst[i] = 0.0f;
}

}  // namespace
}  // namespace sy::cpu::simd
