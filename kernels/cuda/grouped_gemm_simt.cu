// Grouped GEMM, portable path: fp32 FMA on 64x64 tiles staged through shared memory. Handles
// every dtype combination, stride and alignment; used where the tensor-core paths do not apply
// (f32 models, odd k) and by sy::cuda::linear for dtype mixes cuBLAS does not offer.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/float_types.cuh"
#include "kernels/cuda/grouped_gemm_launch.h"
#include "kernels/cuda/grouped_gemm_schedule.cuh"

namespace sy::cuda {
namespace {

constexpr int kBM = 64, kBN = 64, kBK = 16, kThreads = 256;

struct SimtParams {
  const void* x;
  const void* w;
  const void* bias;
  void* y;
  const int32_t* offsets;
  int num_experts;
  int64_t n, k, total_rows, ldx, ldy;
  int num_m_tiles, num_n_tiles;
};

template <typename TA, typename TW>
__global__ void __launch_bounds__(kThreads) grouped_gemm_simt_kernel(SimtParams p) {
  __shared__ float a_s[kBK][kBM + 4];  // [k, m] transposed so a thread's rows are a broadcast
  __shared__ float b_s[kBK][kBN + 4];  // [k, n]
  int m_tile, n_tile;
  raster_tile(blockIdx.x, p.num_m_tiles, p.num_n_tiles, m_tile, n_tile);
  const MTile tile = find_m_tile(p.offsets, p.num_experts, p.total_rows, kBM, m_tile);
  if (tile.expert < 0) return;

  const TA* x = static_cast<const TA*>(p.x);
  const TW* w = static_cast<const TW*>(p.w) + int64_t(tile.expert) * p.n * p.k;  // [n, k]
  const int64_t n0 = int64_t(n_tile) * kBN;
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  float acc[4][4] = {};

  for (int64_t k0 = 0; k0 < p.k; k0 += kBK) {
#pragma unroll
    for (int i = 0; i < kBM * kBK / kThreads; ++i) {
      const int e = threadIdx.x + i * kThreads;
      const int r = e / kBK, kk = e % kBK;
      const int64_t row = tile.row_begin + r, col = k0 + kk;
      a_s[kk][r] = row < tile.row_end && col < p.k ? to_f32(x[row * p.ldx + col]) : 0.0f;
      const int64_t wn = n0 + r;
      b_s[kk][r] = wn < p.n && col < p.k ? to_f32(w[wn * p.k + col]) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kBK; ++kk) {
      float av[4], bv[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) av[i] = a_s[kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; ++j) bv[j] = b_s[kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
    __syncthreads();
  }

  TA* y = static_cast<TA*>(p.y);
  const TW* bias = p.bias ? static_cast<const TW*>(p.bias) + int64_t(tile.expert) * p.n : nullptr;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int64_t row = tile.row_begin + ty + 16 * i;
    if (row >= tile.row_end) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t col = n0 + tx + 16 * j;
      if (col < p.n) y[row * p.ldy + col] = from_f32<TA>(acc[i][j] + (bias ? to_f32(bias[col]) : 0.0f));
    }
  }
}

}  // namespace

void launch_grouped_gemm_simt(const GroupedGemmArgs& a, int64_t ldx, int64_t ldy, cudaStream_t stream) {
  const char* op = "grouped_gemm";
  const int experts = a.expert_offsets ? a.num_experts : 1;
  const int64_t m_tiles = m_tile_bound(a.total_rows, experts, kBM);
  const int64_t n_tiles = (a.n + kBN - 1) / kBN;
  require(m_tiles * n_tiles < (int64_t(1) << 31), op, "problem too large for one launch");
  SimtParams p{a.x, a.w, a.bias, a.y, a.expert_offsets, experts, a.n, a.k, a.total_rows, ldx, ldy,
               int(m_tiles), int(n_tiles)};
  dispatch_float(a.act_dtype, op, "act_dtype", [&](auto at) {
    dispatch_float(a.w_dtype, op, "w_dtype", [&](auto wt) {
      using TA = decltype(at);
      using TW = decltype(wt);
      grouped_gemm_simt_kernel<TA, TW><<<unsigned(m_tiles * n_tiles), kThreads, 0, stream>>>(p);
    });
  });
  after_launch(op, stream);
}

}  // namespace sy::cuda
