// int8 weight packing, activation quantisation and the scalar int8 matmul (see pack.h).
#include "kernels/cpu/pack.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace sy::cpu {
namespace {

// Round half to even for |v| < 2^22: adding and subtracting 1.5·2^23 leaves v rounded to an
// integer in the current rounding mode (default: to nearest, ties to even) — what std::nearbyint
// and the SIMD quantiser's cvtps2dq do, without a libm call per element (loading a model
// quantises billions of them).
float round_half_even(float v) {
  constexpr float kMagic = 12582912.0f;  // 1.5 · 2^23
  return (v + kMagic) - kMagic;
}

int8_t quantize_one(float v, float inv_scale) {
  // |v · inv_scale| ≤ 127 (+ rounding) whenever inv_scale came from the values' own maximum.
  const float q = round_half_even(std::clamp(v * inv_scale, -127.0f, 127.0f));
  return static_cast<int8_t>(q);
}

void check_float_dtype(DType t, const char* what) {
  if (t != DType::kF32 && t != DType::kBF16 && t != DType::kF16)
    throw std::invalid_argument(std::string(what) + ": dtype " + std::string(dtype_name(t)) +
                                " is not a float type (expected F32, BF16 or F16)");
}

}  // namespace

WeightSource contiguous_weights(const void* w, DType dtype, int num_experts, int64_t n, int64_t k) {
  WeightSource s;
  s.dtype = dtype;
  s.num_experts = num_experts;
  s.n = n;
  s.k = k;
  const size_t elem = dtype_size(dtype);
  const auto* base = static_cast<const uint8_t*>(w);
  s.row = [base, elem, n, k](int e, int64_t r) -> const void* {
    return base + (size_t(e) * size_t(n) + size_t(r)) * size_t(k) * elem;
  };
  return s;
}

PackedWeights quantize_weights_int8(const WeightSource& src) {
  check_float_dtype(src.dtype, "quantize_weights_int8: WeightSource.dtype");
  if (src.num_experts <= 0 || src.n <= 0 || src.k <= 0)
    throw std::invalid_argument("quantize_weights_int8: WeightSource sizes must be positive (num_experts=" +
                                std::to_string(src.num_experts) + ", n=" + std::to_string(src.n) +
                                ", k=" + std::to_string(src.k) + ")");
  if (!src.row) throw std::invalid_argument("quantize_weights_int8: WeightSource.row is empty");
  if (src.k > kInt8MaxK)
    throw std::invalid_argument("quantize_weights_int8: k = " + std::to_string(src.k) + " exceeds " +
                                std::to_string(kInt8MaxK) + ", where the int32 lane sums could overflow");

  PackedWeights p;
  p.format = PackedFormat::kInt8PerChannel;
  p.num_experts = src.num_experts;
  p.n = src.n;
  p.k = src.k;
  p.k_pad = (src.k + kInt8Group - 1) / kInt8Group * kInt8Group;
  p.n_pad = (src.n + kInt8TileRows - 1) / kInt8TileRows * kInt8TileRows;
  const int64_t rows = int64_t(src.num_experts) * p.n_pad;
  const size_t qbytes = size_t(rows) * size_t(p.k_pad);  // a multiple of 64
  void* mem = std::aligned_alloc(64, qbytes);
  if (!mem) throw std::runtime_error("quantize_weights_int8: cannot allocate " + std::to_string(qbytes) + " bytes");
  p.quants = {static_cast<uint8_t*>(mem), std::free};
  p.scales = std::make_unique<float[]>(size_t(rows));
  const int64_t groups = p.k_pad / kInt8Group;

#pragma omp parallel
  {
    std::vector<float> row(size_t(src.k));  // one weight row in fp32
#pragma omp for schedule(static)
    for (int64_t g = 0; g < rows; ++g) {
      const int e = int(g / p.n_pad);
      const int64_t r = g % p.n_pad;
      uint8_t* out = const_cast<uint8_t*>(p.channel(e, r));
      if (r >= src.n) {  // padding channel: q = 0, scale 0
        for (int64_t c = 0; c < groups; ++c) std::memset(out + c * kInt8GroupStride, 128, size_t(kInt8Group));
        p.scales[size_t(g)] = 0.0f;
        continue;
      }
      const void* w = src.row(e, r);
      float amax = 0.0f;
      for (int64_t i = 0; i < src.k; ++i) {
        row[size_t(i)] = load_f(w, src.dtype, i);
        amax = std::max(amax, std::fabs(row[size_t(i)]));
      }
      const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
      for (int64_t c = 0; c < groups; ++c) {  // q = 0 in the k padding
        uint8_t* chunk = out + c * kInt8GroupStride;
        for (int64_t j = 0; j < kInt8Group; ++j) {
          const int64_t i = c * kInt8Group + j;
          chunk[j] = i < src.k ? uint8_t(quantize_one(row[size_t(i)], inv) + 128) : uint8_t(128);
        }
      }
      p.scales[size_t(g)] = amax / 127.0f;
    }
  }
  return p;
}

void quantize_activation_row(const void* x, DType dtype, int64_t k, int64_t k_pad, int8_t* q, float* lane_scales,
                             int32_t* neg_lane_sums) {
  auto lane = [](int64_t i) { return int((i / 4) % kInt8Lanes); };
  float amax[kInt8Lanes] = {};
  for (int64_t i = 0; i < k; ++i) amax[lane(i)] = std::max(amax[lane(i)], std::fabs(load_f(x, dtype, i)));
  float inv[kInt8Lanes];
  for (int l = 0; l < kInt8Lanes; ++l) {
    inv[l] = amax[l] > 0.0f ? 127.0f / amax[l] : 0.0f;
    lane_scales[l] = amax[l] / 127.0f;
    neg_lane_sums[l] = 0;
  }
  for (int64_t i = 0; i < k_pad; ++i) {
    q[i] = i < k ? quantize_one(load_f(x, dtype, i), inv[lane(i)]) : 0;
    neg_lane_sums[lane(i)] -= 128 * int32_t(q[i]);
  }
}

void int8_matmul_scalar(const Int8MatmulArgs& a) {
  const PackedWeights& p = *a.packed;
  const int64_t ldx = a.ldx ? a.ldx : p.k;
  const int64_t ldy = a.ldy ? a.ldy : p.n;
  std::vector<int8_t> xq(size_t(p.k_pad));
  float xs[kInt8Lanes];
  int32_t unused[kInt8Lanes];
  const size_t xelem = dtype_size(a.x_dtype);
  const float* ws = p.expert_scales(a.expert);
  for (int64_t i = 0; i < a.m; ++i) {
    quantize_activation_row(static_cast<const uint8_t*>(a.x) + size_t(i * ldx) * xelem, a.x_dtype, p.k, p.k_pad,
                            xq.data(), xs, unused);
    for (int64_t r = 0; r < p.n; ++r) {
      const uint8_t* w = p.channel(a.expert, r);
      int32_t dot[kInt8Lanes] = {};
      for (int64_t j = 0; j < p.k_pad; ++j)
        dot[(j / 4) % kInt8Lanes] +=
            int32_t(xq[size_t(j)]) * (int32_t(w[j / kInt8Group * kInt8GroupStride + j % kInt8Group]) - 128);
      float acc = 0.0f;
      for (int l = 0; l < kInt8Lanes; ++l) acc += float(dot[l]) * xs[l];
      float v = acc * ws[r];
      if (a.bias) v += load_f(a.bias, a.bias_dtype, r);
      store_f(a.y, a.y_dtype, i * ldy + r, v);
    }
  }
}

}  // namespace sy::cpu
