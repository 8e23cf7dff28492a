// CUDA gated activations (kernels/activation.h) between the two expert GEMMs: SwiGLU on the
// fused [gate | up] layout and GPT-OSS's clamped variant on the interleaved layout.
// Position: runner -> MoE block -> grouped_gemm(gate_up) -> here -> grouped_gemm(down).
// Roundings follow the CPU reference op by op (each torch op on bf16 rounds its result).
#include "kernels/activation.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/float_types.cuh"

namespace sy::cuda {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

template <typename T>
__global__ void silu_mul_kernel(const T* __restrict__ gate_up, T* __restrict__ out, int64_t rows, int64_t inter) {
  const int64_t n = rows * inter;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / inter, c = i - r * inter;
    const T* row = gate_up + r * 2 * inter;  // [gate(inter) | up(inter)]
    const float g = to_f32(row[c]), u = to_f32(row[inter + c]);
    out[i] = from_f32<T>(round_as<T>(g * sigmoid(g)) * u);
  }
}

template <typename T>
__global__ void gpt_oss_glu_kernel(const T* __restrict__ gate_up, T* __restrict__ out, int64_t rows, int64_t inter,
                                   float alpha, float limit) {
  const int64_t n = rows * inter;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / inter, c = i - r * inter;
    const T* row = gate_up + r * 2 * inter;  // interleaved [g0, u0, g1, u1, ...]
    const float g = fminf(to_f32(row[2 * c]), limit);
    const float u = fminf(fmaxf(to_f32(row[2 * c + 1]), -limit), limit);
    const float gate_sig = round_as<T>(sigmoid(round_as<T>(g * alpha)));
    const float glu = round_as<T>(g * gate_sig);
    out[i] = from_f32<T>(round_as<T>(u + 1.0f) * glu);
  }
}

}  // namespace

void glu(const GluArgs& a, void* stream) {
  const char* op = "glu";
  require(a.rows >= 0 && a.inter >= 0, op, "rows and inter must be >= 0");
  if (a.rows == 0 || a.inter == 0) return;
  require(a.gate_up && a.out, op, "gate_up and out must be set");
  auto s = static_cast<cudaStream_t>(stream);
  dispatch_float(a.dtype, op, "dtype", [&](auto tag) {
    using T = decltype(tag);
    const unsigned blocks = blocks_for(a.rows * a.inter, kThreads);
    if (a.kind == GluKind::kSiluMul)
      silu_mul_kernel<T><<<blocks, kThreads, 0, s>>>(static_cast<const T*>(a.gate_up), static_cast<T*>(a.out),
                                                     a.rows, a.inter);
    else
      gpt_oss_glu_kernel<T><<<blocks, kThreads, 0, s>>>(static_cast<const T*>(a.gate_up), static_cast<T*>(a.out),
                                                        a.rows, a.inter, a.alpha, a.limit);
  });
  after_launch(op, s);
}

}  // namespace sy::cuda
