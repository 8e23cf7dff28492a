// Grouped GEMM, sm_80+ tensor-core path: bf16/f16 mma.sync.m16n8k16 with fp32 accumulators.
//
// CTA tile BM x 128 x 64 (BM = 128, or 64 when experts have few rows), 8 warps as 2 (M) x 4 (N).
// Operands are both K-major (x[rows, k], w[e][n, k]: the "TN" GEMM mma.sync wants), staged in
// shared memory by a kStages-deep cp.async pipeline. Each 128-byte smem row (64 elements) is
// XOR-swizzled in 16-byte chunks (chunk ^ row % 8), so both the cp.async writes and the
// ldmatrix reads are free of bank conflicts. Rows past an expert's segment and k past the end
// are zero-filled by cp.async (src-size 0); requires k % 8 == 0 for 16-byte chunks.
// Tiles never straddle experts (grouped_gemm_schedule.cuh).
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_info.h"
#include "kernels/cuda/float_types.cuh"
#include "kernels/cuda/grouped_gemm_launch.h"
#include "kernels/cuda/grouped_gemm_schedule.cuh"

namespace sy::cuda {
namespace {

constexpr int kBN = 128, kBK = 64, kThreads = 256, kStages = 3;

struct MmaParams {
  const void* x;
  const void* w;
  const void* bias;
  void* y;
  const int32_t* offsets;
  int num_experts;
  int64_t n, k, total_rows;
  int num_m_tiles, num_n_tiles;
};

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void cp_async_16(uint32_t dst, const void* src, bool valid) {
  const int src_bytes = valid ? 16 : 0;  // 0: write 16 zero bytes
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

__device__ __forceinline__ void ldmatrix_x4(uint32_t addr, uint32_t (&r)[4]) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

template <typename T>
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);
template <>
__device__ __forceinline__ void mma_16816<__nv_bfloat16>(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                                         uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <>
__device__ __forceinline__ void mma_16816<__half>(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Element offset of (row, col) in a swizzled [rows, 64] tile.
__device__ __forceinline__ int swizzled(int row, int col) {
  return row * kBK + (((col >> 3) ^ (row & 7)) << 3) + (col & 7);
}

template <typename T, int BM>
__global__ void __launch_bounds__(kThreads) grouped_gemm_mma_kernel(MmaParams p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  constexpr int WM = BM / 2, WN = kBN / 4;     // warp tile
  constexpr int MI = WM / 16, NI = WN / 8;     // mma tiles per warp
  extern __shared__ __align__(128) unsigned char smem_raw[];
  T* a_s = reinterpret_cast<T*>(smem_raw);     // [kStages][BM][64] swizzled
  T* b_s = a_s + kStages * BM * kBK;           // [kStages][128][64] swizzled

  int m_tile, n_tile;
  raster_tile(blockIdx.x, p.num_m_tiles, p.num_n_tiles, m_tile, n_tile);
  const MTile tile = find_m_tile(p.offsets, p.num_experts, p.total_rows, BM, m_tile);
  if (tile.expert < 0) return;

  const T* x = static_cast<const T*>(p.x);
  const T* w = static_cast<const T*>(p.w) + int64_t(tile.expert) * p.n * p.k;  // [n, k]
  const int64_t n0 = int64_t(n_tile) * kBN;
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int wm = warp / 4, wn = warp % 4;
  const int k_tiles = int((p.k + kBK - 1) / kBK);

  auto load_stage = [&](int stage, int kt) {
    const int64_t k0 = int64_t(kt) * kBK;
    T* as = a_s + stage * BM * kBK;
    T* bs = b_s + stage * kBN * kBK;
#pragma unroll
    for (int c = tid; c < BM * 8; c += kThreads) {
      const int r = c / 8, ch = c % 8;
      const int64_t row = tile.row_begin + r, col = k0 + ch * 8;
      const bool ok = row < tile.row_end && col < p.k;
      cp_async_16(smem_addr(as + swizzled(r, ch * 8)), ok ? x + row * p.k + col : x, ok);
    }
#pragma unroll
    for (int c = tid; c < kBN * 8; c += kThreads) {
      const int r = c / 8, ch = c % 8;
      const int64_t row = n0 + r, col = k0 + ch * 8;
      const bool ok = row < p.n && col < p.k;
      cp_async_16(smem_addr(bs + swizzled(r, ch * 8)), ok ? w + row * p.k + col : w, ok);
    }
  };

  float acc[MI][NI][4];
#pragma unroll
  for (int i = 0; i < MI; ++i)
#pragma unroll
    for (int j = 0; j < NI; ++j)
#pragma unroll
      for (int v = 0; v < 4; ++v) acc[i][j][v] = 0.0f;

#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < k_tiles) load_stage(s, s);
    cp_async_commit();
  }

  for (int kt = 0; kt < k_tiles; ++kt) {
    cp_async_wait<kStages - 2>();
    __syncthreads();  // stage kt landed for everyone; stage kt-1 is free to refill
    const int next = kt + kStages - 1;
    if (next < k_tiles) load_stage(next % kStages, next);
    cp_async_commit();

    const T* as = a_s + (kt % kStages) * BM * kBK;
    const T* bs = b_s + (kt % kStages) * kBN * kBK;
#pragma unroll
    for (int kk = 0; kk < kBK / 16; ++kk) {
      uint32_t a_frag[MI][4];
      uint32_t b_frag[NI][2];
#pragma unroll
      for (int i = 0; i < MI; ++i) {
        // lanes 0-15: rows 0-15 at k 0-7; lanes 16-31: rows 0-15 at k 8-15 -> a0..a3 in mma order
        const int row = wm * WM + i * 16 + (lane % 16);
        const int col = kk * 16 + (lane / 16) * 8;
        ldmatrix_x4(smem_addr(as + swizzled(row, col)), a_frag[i]);
      }
#pragma unroll
      for (int j = 0; j < NI; j += 2) {
        // matrices: (n 0-7, k 0-7), (n 0-7, k 8-15), (n 8-15, k 0-7), (n 8-15, k 8-15)
        const int mat = lane / 8;
        const int row = wn * WN + j * 8 + (mat / 2) * 8 + (lane % 8);
        const int col = kk * 16 + (mat % 2) * 8;
        uint32_t r[4];
        ldmatrix_x4(smem_addr(bs + swizzled(row, col)), r);
        b_frag[j][0] = r[0];
        b_frag[j][1] = r[1];
        b_frag[j + 1][0] = r[2];
        b_frag[j + 1][1] = r[3];
      }
#pragma unroll
      for (int i = 0; i < MI; ++i)
#pragma unroll
        for (int j = 0; j < NI; ++j) mma_16816<T>(acc[i][j], a_frag[i], b_frag[j][0], b_frag[j][1]);
    }
  }
  cp_async_wait<0>();

  // Epilogue: accumulator (i, j) holds rows lane/4 and lane/4 + 8, columns 2*(lane%4) + {0, 1}.
  T* y = static_cast<T*>(p.y);
  const T* bias = p.bias ? static_cast<const T*>(p.bias) + int64_t(tile.expert) * p.n : nullptr;
  const bool pair_stores = p.n % 2 == 0 && reinterpret_cast<uintptr_t>(y) % (2 * sizeof(T)) == 0;
#pragma unroll
  for (int i = 0; i < MI; ++i)
#pragma unroll
    for (int j = 0; j < NI; ++j) {
      const int64_t col = n0 + wn * WN + j * 8 + (lane % 4) * 2;
      const float b0 = bias && col < p.n ? to_f32(bias[col]) : 0.0f;
      const float b1 = bias && col + 1 < p.n ? to_f32(bias[col + 1]) : 0.0f;
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int64_t row = tile.row_begin + wm * WM + i * 16 + lane / 4 + half * 8;
        if (row >= tile.row_end) continue;
        T* out = y + row * p.n + col;
        if (pair_stores && col + 1 < p.n) {  // col is even: with n even the pair is aligned
          store_pair(out, acc[i][j][2 * half] + b0, acc[i][j][2 * half + 1] + b1);
          continue;
        }
        if (col < p.n) out[0] = from_f32<T>(acc[i][j][2 * half] + b0);
        if (col + 1 < p.n) out[1] = from_f32<T>(acc[i][j][2 * half + 1] + b1);
      }
    }
#endif
}

template <typename T, int BM>
void launch(const GroupedGemmArgs& a, cudaStream_t stream) {
  const int64_t m_tiles = m_tile_bound(a.total_rows, a.num_experts, BM);
  const int64_t n_tiles = (a.n + kBN - 1) / kBN;
  require(m_tiles * n_tiles < (int64_t(1) << 31), "grouped_gemm(mma_sm80)", "problem too large for one launch");
  const size_t smem = size_t(kStages) * (BM + kBN) * kBK * sizeof(T);
  check(cudaFuncSetAttribute(grouped_gemm_mma_kernel<T, BM>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)),
        "grouped_gemm(mma_sm80): shared memory limit");
  MmaParams p{a.x, a.w, a.bias, a.y, a.expert_offsets, a.num_experts, a.n, a.k, a.total_rows,
              int(m_tiles), int(n_tiles)};
  grouped_gemm_mma_kernel<T, BM><<<unsigned(m_tiles * n_tiles), kThreads, smem, stream>>>(p);
}

}  // namespace

bool grouped_gemm_sm80_supported(const GroupedGemmArgs& a) {
  const DeviceInfo& dev = current_device_info();
  const size_t smem = size_t(kStages) * (128 + kBN) * kBK * 2;
  return dev.cc_major >= 8 && dev.max_smem_per_block_optin >= smem &&
         (a.act_dtype == DType::kBF16 || a.act_dtype == DType::kF16) && a.w_dtype == a.act_dtype &&
         a.k % 8 == 0 && reinterpret_cast<uintptr_t>(a.x) % 16 == 0 && reinterpret_cast<uintptr_t>(a.w) % 16 == 0;
}

void launch_grouped_gemm_sm80(const GroupedGemmArgs& a, cudaStream_t stream) {
  // Few rows per active expert: 64-row tiles waste less of the tile on padding.
  const int64_t active = a.total_rows < a.num_experts ? a.total_rows : a.num_experts;
  const bool small_m = a.total_rows <= 64 * active;
  if (a.act_dtype == DType::kBF16) {
    if (small_m) launch<__nv_bfloat16, 64>(a, stream); else launch<__nv_bfloat16, 128>(a, stream);
  } else {
    if (small_m) launch<__half, 64>(a, stream); else launch<__half, 128>(a, stream);
  }
  after_launch("grouped_gemm(mma_sm80)", stream);
}

}  // namespace sy::cuda
