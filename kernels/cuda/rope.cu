// CUDA rotary position embeddings (kernels/rope.h), in place on q and k. One thread per
// (token, head, rotary pair): cos/sin are recomputed per pair in fp32 (accurate cosf/sinf, so
// large positions reduce their argument correctly) and rounded to dtype, then each product and
// the sum are rounded as the CPU reference does.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/float_types.cuh"
#include "kernels/rope.h"

namespace sy::cuda {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void rope_kernel(T* q, T* k, const int32_t* __restrict__ positions, const float* __restrict__ inv_freq,
                            int64_t num_tokens, int num_q_heads, int num_kv_heads, int head_dim, int half,
                            int64_t q_stride, int64_t k_stride, float attention_factor, bool interleaved) {
  const int heads = num_q_heads + (k ? num_kv_heads : 0);
  const int64_t n = num_tokens * heads * half;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < n;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int i = int(idx % half);
    const int h = int((idx / half) % heads);
    const int64_t t = idx / (int64_t(half) * heads);
    T* head = h < num_q_heads ? q + t * q_stride + int64_t(h) * head_dim
                              : k + t * k_stride + int64_t(h - num_q_heads) * head_dim;
    const float freq = float(positions[t]) * inv_freq[i];
    const float c = round_as<T>(cosf(freq) * attention_factor);
    const float s = round_as<T>(sinf(freq) * attention_factor);
    const int lo = interleaved ? 2 * i : i;
    const int hi = interleaved ? 2 * i + 1 : i + half;
    const float x_lo = to_f32(head[lo]), x_hi = to_f32(head[hi]);
    head[lo] = from_f32<T>(round_as<T>(x_lo * c) + round_as<T>(-x_hi * s));
    head[hi] = from_f32<T>(round_as<T>(x_hi * c) + round_as<T>(x_lo * s));
  }
}

}  // namespace

void rope(const RopeArgs& a, void* stream) {
  const char* op = "rope";
  require(a.num_tokens >= 0 && a.num_q_heads >= 0 && a.num_kv_heads >= 0, op,
          "num_tokens and head counts must be >= 0");
  require(a.rotary_dim >= 0 && a.rotary_dim % 2 == 0 && a.rotary_dim <= a.head_dim, op,
          "rotary_dim must be even and <= head_dim (rotary_dim " + std::to_string(a.rotary_dim) + ", head_dim " +
              std::to_string(a.head_dim) + ")");
  if (a.num_tokens == 0 || a.rotary_dim == 0) return;
  require(a.q && a.positions && a.inv_freq, op, "q, positions and inv_freq must be set");
  const int64_t q_stride = a.q_stride ? a.q_stride : int64_t(a.num_q_heads) * a.head_dim;
  const int64_t k_stride = a.k_stride ? a.k_stride : int64_t(a.num_kv_heads) * a.head_dim;
  const int half = a.rotary_dim / 2;
  const int heads = a.num_q_heads + (a.k ? a.num_kv_heads : 0);
  auto s = static_cast<cudaStream_t>(stream);
  dispatch_float(a.dtype, op, "dtype", [&](auto tag) {
    using T = decltype(tag);
    rope_kernel<T><<<blocks_for(a.num_tokens * heads * half, kThreads), kThreads, 0, s>>>(
        static_cast<T*>(a.q), static_cast<T*>(a.k), a.positions, a.inv_freq, a.num_tokens, a.num_q_heads,
        a.num_kv_heads, a.head_dim, half, q_stride, k_stride, a.attention_factor, a.interleaved);
  });
  after_launch(op, s);
}

}  // namespace sy::cuda
