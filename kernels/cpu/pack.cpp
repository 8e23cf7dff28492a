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

int8_t quantize_one(float v, float inv_scale) {
  float q = std::nearbyint(v * inv_scale);  // round half to even, as the SIMD paths would
  return static_cast<int8_t>(std::clamp(q, -127.0f, 127.0f));
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

#pragma omp parallel for schedule(static)
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
    for (int64_t i = 0; i < src.k; ++i) amax = std::max(amax, std::fabs(load_f(w, src.dtype, i)));
    const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    for (int64_t i = 0; i < p.k_pad; ++i)  // q = 0 in the k padding
      out[i / kInt8Group * kInt8GroupStride + i % kInt8Group] =
          i < src.k ? uint8_t(quantize_one(load_f(w, src.dtype, i), inv) + 128) : uint8_t(128);
    p.scales[size_t(g)] = amax / 127.0f;
  }
  return p;
}

void quantize_activation_row(const void* x, DType dtype, int64_t k, int64_t k_pad, int8_t* q,
                             float* group_scales, int32_t* neg_sum4) {
  for (int64_t g0 = 0; g0 < k_pad; g0 += kInt8Group) {
    const int64_t g1 = std::min(g0 + kInt8Group, k);
    float amax = 0.0f;
    for (int64_t i = g0; i < g1; ++i) amax = std::max(amax, std::fabs(load_f(x, dtype, i)));
    const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    group_scales[g0 / kInt8Group] = amax / 127.0f;
    for (int64_t i = g0; i < g0 + kInt8Group; ++i) q[i] = i < g1 ? quantize_one(load_f(x, dtype, i), inv) : 0;
  }
  for (int64_t i = 0; i < k_pad / 4; ++i)
    neg_sum4[i] = -128 * (int32_t(q[4 * i]) + q[4 * i + 1] + q[4 * i + 2] + q[4 * i + 3]);
}

void int8_matmul_scalar(const Int8MatmulArgs& a) {
  const PackedWeights& p = *a.packed;
  const int64_t ldx = a.ldx ? a.ldx : p.k;
  const int64_t ldy = a.ldy ? a.ldy : p.n;
  const int64_t groups = p.k_pad / kInt8Group;
  std::vector<int8_t> xq(size_t(p.k_pad));
  std::vector<float> xs(static_cast<size_t>(groups));
  std::vector<int32_t> unused(size_t(p.k_pad / 4));
  const size_t xelem = dtype_size(a.x_dtype);
  const float* ws = p.expert_scales(a.expert);
  for (int64_t i = 0; i < a.m; ++i) {
    quantize_activation_row(static_cast<const uint8_t*>(a.x) + size_t(i * ldx) * xelem, a.x_dtype, p.k,
                            p.k_pad, xq.data(), xs.data(), unused.data());
    for (int64_t r = 0; r < p.n; ++r) {
      const uint8_t* w = p.channel(a.expert, r);
      float acc = 0.0f;
      for (int64_t g = 0; g < groups; ++g) {
        int32_t dot = 0;
        const uint8_t* chunk = w + g * kInt8GroupStride;
        for (int64_t j = 0; j < kInt8Group; ++j) dot += int32_t(xq[g * kInt8Group + j]) * (int32_t(chunk[j]) - 128);
        acc += float(dot) * xs[g];
      }
      float v = acc * ws[r];
      if (a.bias) v += load_f(a.bias, a.bias_dtype, r);
      store_f(a.y, a.y_dtype, i * ldy + r, v);
    }
  }
}

}  // namespace sy::cpu
