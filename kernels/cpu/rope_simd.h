// SIMD rotary embedding (kernels/rope.h), compiled once per ISA by rope_avx512.cpp and
// rope_avx2.cpp. Bit-identical to ref::rope: cos/sin come from the same scalar
// std::cos/std::sin per token, and each head computes the same rounded products and sum,
// vectorised over the pair index i: elements (i, i + rotary_dim/2) in the rotate-half layout,
// (2i, 2i + 1) in the interleaved one (DeepSeek), split and re-joined with (de)interleave.
// Tokens spread over the OpenMP threads only when the call is large (prefill).
#pragma once

#include <omp.h>

#include <cmath>
#include <vector>

#include "kernels/cpu/simd_vec.h"
#include "kernels/rope.h"

namespace sy::cpu::simd {
namespace {

bool rope_supported(const RopeArgs& a) {
  return is_float_dtype(a.dtype) && a.num_tokens > 0 && a.num_q_heads >= 0 && a.num_kv_heads >= 0 &&
         a.rotary_dim > 0 && a.rotary_dim % 2 == 0 && a.rotary_dim <= a.head_dim && a.q && a.positions &&
         a.inv_freq;
}

// x' = round(round(x·cos) + round(rotate(x)·sin)) for pairs (x_lo, x_hi), rotate(x) = (-x_hi, x_lo).
template <DType T>
inline void rotate_pairs(Vec& x_lo, Vec& x_hi, Vec c, Vec s) {
  const Vec y_lo = vadd(round_to<T>(vmul(x_lo, c)), round_to<T>(vmul(vmul(x_hi, vset1(-1.0f)), s)));
  const Vec y_hi = vadd(round_to<T>(vmul(x_hi, c)), round_to<T>(vmul(x_lo, s)));
  x_lo = y_lo;
  x_hi = y_hi;
}

// Rotates the first rotary_dim = 2·half elements of one head in place.
template <DType T>
void rotate_head(void* head, int half, bool interleaved, const float* cos_v, const float* sin_v) {
  for_each_vector(half, [&](int64_t i, int lanes) {
    const Vec c = load_n<DType::kF32>(cos_v, i, lanes), s = load_n<DType::kF32>(sin_v, i, lanes);
    if (interleaved) {  // pairs (2i, 2i + 1)
      Vec lo, hi, x_lo, x_hi;
      load_pairs<T>(head, 2 * i, lanes, lo, hi);
      deinterleave(lo, hi, x_lo, x_hi);
      rotate_pairs<T>(x_lo, x_hi, c, s);
      interleave(x_lo, x_hi, lo, hi);
      store_pairs<T>(head, 2 * i, lanes, lo, hi);
    } else {  // pairs (i, i + half)
      Vec x_lo = load_n<T>(head, i, lanes), x_hi = load_n<T>(head, half + i, lanes);
      rotate_pairs<T>(x_lo, x_hi, c, s);
      store_n<T>(head, i, x_lo, lanes);
      store_n<T>(head, half + i, x_hi, lanes);
    }
  });
}

template <DType T>
void rope_tokens(const RopeArgs& a) {
  const int64_t q_stride = a.q_stride ? a.q_stride : int64_t(a.num_q_heads) * a.head_dim;
  const int64_t k_stride = a.k_stride ? a.k_stride : int64_t(a.num_kv_heads) * a.head_dim;
  const int half = a.rotary_dim / 2;
  const size_t es = dtype_size(T);
  const int64_t work = a.num_tokens * (a.num_q_heads + (a.k ? a.num_kv_heads : 0)) * a.rotary_dim;
#pragma omp parallel if (work >= kParallelMinElements && omp_get_max_threads() > 1)
  {
    std::vector<float> cos_v(static_cast<size_t>(half)), sin_v(static_cast<size_t>(half));  // [rotary_dim / 2], rounded to T
#pragma omp for schedule(static)
    for (int64_t t = 0; t < a.num_tokens; ++t) {
      const float pos = float(a.positions[t]);
      for (int i = 0; i < half; ++i) {
        const float freq = pos * a.inv_freq[i];
        cos_v[size_t(i)] = sy::round_to(T, std::cos(freq) * a.attention_factor);
        sin_v[size_t(i)] = sy::round_to(T, std::sin(freq) * a.attention_factor);
      }
      for (int h = 0; h < a.num_q_heads; ++h)
        rotate_head<T>(static_cast<char*>(a.q) + size_t(t * q_stride + int64_t(h) * a.head_dim) * es, half,
                       a.interleaved, cos_v.data(), sin_v.data());
      if (a.k)
        for (int h = 0; h < a.num_kv_heads; ++h)
          rotate_head<T>(static_cast<char*>(a.k) + size_t(t * k_stride + int64_t(h) * a.head_dim) * es, half,
                         a.interleaved, cos_v.data(), sin_v.data());
    }
  }
}

bool rope(const RopeArgs& a) {
  if (!rope_supported(a)) return false;
  with_dtype(a.dtype, [&]<DType T>() { rope_tokens<T>(a); });
  return true;
}

}  // namespace
}  // namespace sy::cpu::simd
