// Reference rotary position embedding (kernels/rope.h), in place on q and k.
// cos/sin are computed per token in fp32 and rounded to dtype (transformers builds them in fp32
// and casts to the model dtype); each product and the sum are rounded as bf16 torch ops do.
#include <cmath>
#include <string>
#include <vector>

#include "kernels/cpu/ref.h"
#include "kernels/cpu/ref_util.h"

namespace sy::cpu::ref {
namespace {

// Rotates the first rotary_dim elements of one head in place.
void rotate_head(void* head, DType t, int rotary_dim, bool interleaved, const float* cos_v,
                 const float* sin_v) {
  const int half = rotary_dim / 2;
  for (int i = 0; i < half; ++i) {
    // Pair (lo, hi): rotate-half pairs i with i + half, interleaved pairs 2i with 2i + 1.
    const int64_t lo = interleaved ? 2 * i : i;
    const int64_t hi = interleaved ? 2 * i + 1 : i + half;
    const float x_lo = load_f(head, t, lo), x_hi = load_f(head, t, hi);
    const float c = cos_v[i], s = sin_v[i];
    // rotate(x) = (-x_hi, x_lo); x' = round(round(x·cos) + round(rotate(x)·sin)).
    const float y_lo = round_to(t, x_lo * c) + round_to(t, -x_hi * s);
    const float y_hi = round_to(t, x_hi * c) + round_to(t, x_lo * s);
    store_f(head, t, lo, y_lo);
    store_f(head, t, hi, y_hi);
  }
}

}  // namespace

void rope(const RopeArgs& a) {
  using namespace detail;
  const char* op = "rope";
  require_float(a.dtype, op, "dtype");
  require(a.num_tokens >= 0 && a.num_q_heads >= 0 && a.num_kv_heads >= 0, op,
          "num_tokens and head counts must be >= 0");
  require(a.rotary_dim >= 0 && a.rotary_dim % 2 == 0 && a.rotary_dim <= a.head_dim, op,
          "rotary_dim must be even and <= head_dim (rotary_dim " + std::to_string(a.rotary_dim) +
              ", head_dim " + std::to_string(a.head_dim) + ")");
  if (a.num_tokens == 0 || a.rotary_dim == 0) return;
  require(a.q && a.positions && a.inv_freq, op, "q, positions and inv_freq must be set");
  const int64_t q_stride = a.q_stride ? a.q_stride : int64_t(a.num_q_heads) * a.head_dim;
  const int64_t k_stride = a.k_stride ? a.k_stride : int64_t(a.num_kv_heads) * a.head_dim;
  const int half = a.rotary_dim / 2;

#pragma omp parallel
  {
    std::vector<float> cos_v(static_cast<size_t>(half)), sin_v(static_cast<size_t>(half));  // [rotary_dim / 2], rounded
#pragma omp for schedule(static)
    for (int64_t t = 0; t < a.num_tokens; ++t) {
      const float pos = float(a.positions[t]);
      for (int i = 0; i < half; ++i) {
        const float freq = pos * a.inv_freq[i];
        cos_v[size_t(i)] = round_to(a.dtype, std::cos(freq) * a.attention_factor);
        sin_v[size_t(i)] = round_to(a.dtype, std::sin(freq) * a.attention_factor);
      }
      for (int h = 0; h < a.num_q_heads; ++h)
        rotate_head(offset(a.q, a.dtype, t * q_stride + int64_t(h) * a.head_dim), a.dtype,
                    a.rotary_dim, a.interleaved, cos_v.data(), sin_v.data());
      if (a.k)
        for (int h = 0; h < a.num_kv_heads; ++h)
          rotate_head(offset(a.k, a.dtype, t * k_stride + int64_t(h) * a.head_dim), a.dtype,
                      a.rotary_dim, a.interleaved, cos_v.data(), sin_v.data());
    }
  }
}

}  // namespace sy::cpu::ref
