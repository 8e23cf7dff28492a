// CUDA RMSNorm (kernels/norm.h): one block per normalised vector (row, group), fp32 sum of squares reduced across the
// block, then the Llama-style (round the normalised row, multiply in dtype) or GPT-OSS-style
// (fp32 weight times fp32 row, one rounding) store. In place is allowed: each thread reads its
// elements in the first pass and writes only those same elements in the second.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/float_types.cuh"
#include "kernels/norm.h"

namespace sy::cuda {
namespace {

constexpr int kThreads = 256;

template <typename T, typename TW>
__global__ void rms_norm_kernel(const T* x, const TW* __restrict__ w, T* y, int64_t dim, int64_t groups,
                                int64_t ldx, int64_t ldy, float eps, bool llama_style) {
  __shared__ float warp_partials[kThreads / 32];
  const int64_t row = blockIdx.x / groups, group = blockIdx.x % groups;
  const T* xr = x + row * ldx + group * dim;
  T* yr = y + row * ldy + group * dim;
  float sum_sq = 0.0f;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
    const float v = to_f32(xr[i]);
    sum_sq += v * v;
  }
  sum_sq = warp_sum(sum_sq);
  if ((threadIdx.x & 31) == 0) warp_partials[threadIdx.x / 32] = sum_sq;
  __syncthreads();
  float total = 0.0f;
  for (int i = 0; i < kThreads / 32; ++i) total += warp_partials[i];
  const float inv_rms = 1.0f / sqrtf(total / float(dim) + eps);
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
    const float r = to_f32(xr[i]) * inv_rms;
    const float wv = to_f32(w[i]);
    yr[i] = from_f32<T>(llama_style ? wv * round_as<T>(r) : wv * r);
  }
}

}  // namespace

void rms_norm(const RmsNormArgs& a, void* stream) {
  const char* op = "rms_norm";
  require(a.rows >= 0 && a.dim > 0 && a.groups > 0, op, "rows must be >= 0, dim and groups > 0");
  const int64_t row = a.groups * a.dim;
  const int64_t ldx = a.ldx ? a.ldx : row;
  const int64_t ldy = a.ldy ? a.ldy : row;
  require(ldx >= row && ldy >= row, op, "ldx and ldy must be >= groups * dim");
  if (a.rows == 0) return;
  require(a.x && a.w && a.y, op, "x, w and y must be set");
  require(a.rows * a.groups <= 0x7fffffff, op, "rows * groups exceeds the grid limit");
  auto s = static_cast<cudaStream_t>(stream);
  dispatch_float(a.dtype, op, "dtype", [&](auto tag) {
    dispatch_float(a.w_dtype, op, "w_dtype", [&](auto wtag) {
      using T = decltype(tag);
      using TW = decltype(wtag);
      rms_norm_kernel<T, TW><<<unsigned(a.rows * a.groups), kThreads, 0, s>>>(
          static_cast<const T*>(a.x), static_cast<const TW*>(a.w), static_cast<T*>(a.y), a.dim, a.groups, ldx, ldy,
          a.eps, a.style == RmsNormStyle::kLlama);
    });
  });
  after_launch(op, s);
}

}  // namespace sy::cuda
