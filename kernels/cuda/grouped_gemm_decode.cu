// Grouped GEMM, decode path: few rows per expert, so the bytes are the experts' weights and
// the kernel is a batched GEMV that streams each active expert's weights once.
//
// Grid: (n / kRowsPerBlock, min(E, total_rows)); blockIdx.y is the y-th non-empty expert, so
// idle experts cost no blocks. Each warp owns kRowsPerWarp weight rows (outputs n) and walks k
// with 16-byte loads, kUnroll vectors per row in flight (L1 no-allocate: read once), and
// multiplies each weight vector with up to 8 activation rows of the expert at once (activations
// are few and stay in L1/L2). An expert with more than 8 rows is done 8 rows at a time.
// fp32 accumulation, one warp reduction per (row, output) at the end.
#include <climits>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/float_types.cuh"
#include "kernels/cuda/grouped_gemm_launch.h"
#include "kernels/cuda/grouped_gemm_schedule.cuh"

namespace sy::cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kRowsPerWarp = 4;
constexpr int kRowsPerBlock = kWarps * kRowsPerWarp;
constexpr int kUnroll = 2;
constexpr int kMaxRows = 8;  // activation rows per pass

struct DecodeParams {
  const void* x;
  const void* w;
  const void* bias;
  void* y;
  const int32_t* offsets;
  int num_experts;
  int64_t n, k, total_rows;
};

__device__ __forceinline__ uint4 load_streaming(const void* p) {
  uint4 v;
  asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(p));
  return v;
}

// 16 bytes of T as fp32.
template <typename T>
struct Vec16 {
  static constexpr int kElems = 16 / sizeof(T);
  __device__ static void unpack(const uint4& v, float (&out)[kElems]) {
    const T* e = reinterpret_cast<const T*>(&v);
#pragma unroll
    for (int i = 0; i < kElems; ++i) out[i] = to_f32(e[i]);
  }
};

// One pass over the expert's weights rows [n_begin, n_begin + kRowsPerWarp) for activation rows
// [row0, row0 + rows), rows <= M.
template <typename T, int M>
__device__ void decode_pass(const DecodeParams& p, const T* __restrict__ w, const T* __restrict__ bias, int64_t row0,
                            int rows, int64_t n_begin) {
  using V = Vec16<T>;
  constexpr int E = V::kElems;
  const int lane = threadIdx.x % 32;
  const int64_t kvecs = p.k / E;
  const T* x = static_cast<const T*>(p.x) + row0 * p.k;
  float acc[M][kRowsPerWarp];
#pragma unroll
  for (int m = 0; m < M; ++m)
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) acc[m][r] = 0.0f;

  for (int64_t kv0 = lane; kv0 < kvecs; kv0 += 32 * kUnroll) {
    uint4 wv[kUnroll][kRowsPerWarp];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) {
        const int64_t kv = kv0 + 32 * u;
        const int64_t row = n_begin + r;
        wv[u][r] = kv < kvecs && row < p.n ? load_streaming(w + row * p.k + kv * E) : make_uint4(0, 0, 0, 0);
      }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t kv = kv0 + 32 * u;
      if (kv >= kvecs) break;
      float wf[kRowsPerWarp][E];
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) V::unpack(wv[u][r], wf[r]);
#pragma unroll
      for (int m = 0; m < M; ++m) {
        if (m >= rows) break;
        float xf[E];
        V::unpack(__ldg(reinterpret_cast<const uint4*>(x + m * p.k + kv * E)), xf);
#pragma unroll
        for (int r = 0; r < kRowsPerWarp; ++r)
#pragma unroll
          for (int i = 0; i < E; ++i) acc[m][r] = fmaf(xf[i], wf[r][i], acc[m][r]);
      }
    }
  }

  T* y = static_cast<T*>(p.y);
#pragma unroll
  for (int m = 0; m < M; ++m)
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      const float total = warp_sum(acc[m][r]);
      const int64_t col = n_begin + r;
      if (lane == m * kRowsPerWarp + r && m < rows && col < p.n)
        y[(row0 + m) * p.n + col] = from_f32<T>(total + (bias ? to_f32(bias[col]) : 0.0f));
    }
}

template <typename T>
__global__ void __launch_bounds__(kWarps * 32) grouped_gemm_decode_kernel(DecodeParams p) {
  const MTile tile = find_m_tile(p.offsets, p.num_experts, p.total_rows, INT_MAX, blockIdx.y);
  if (tile.expert < 0) return;
  const T* w = static_cast<const T*>(p.w) + int64_t(tile.expert) * p.n * p.k;  // [n, k]
  const T* bias = p.bias ? static_cast<const T*>(p.bias) + int64_t(tile.expert) * p.n : nullptr;
  const int64_t n_begin = int64_t(blockIdx.x) * kRowsPerBlock + (threadIdx.x / 32) * kRowsPerWarp;
  if (n_begin >= p.n) return;  // no block barriers after the schedule lookup
  for (int64_t row0 = tile.row_begin; row0 < tile.row_end; row0 += kMaxRows) {
    const int rows = int(tile.row_end - row0 < kMaxRows ? tile.row_end - row0 : kMaxRows);
    if (rows == 1) decode_pass<T, 1>(p, w, bias, row0, rows, n_begin);
    else if (rows == 2) decode_pass<T, 2>(p, w, bias, row0, rows, n_begin);
    else if (rows <= 4) decode_pass<T, 4>(p, w, bias, row0, rows, n_begin);
    else decode_pass<T, kMaxRows>(p, w, bias, row0, rows, n_begin);
  }
}

}  // namespace

bool grouped_gemm_decode_supported(const GroupedGemmArgs& a) {
  const bool float_type = is_float_dtype(a.act_dtype);
  const int64_t elems16 = 16 / int64_t(dtype_size(a.act_dtype));
  return float_type && a.act_dtype == a.w_dtype && a.k % elems16 == 0 &&
         reinterpret_cast<uintptr_t>(a.x) % 16 == 0 && reinterpret_cast<uintptr_t>(a.w) % 16 == 0 &&
         a.num_experts <= 65535;
}

void launch_grouped_gemm_decode(const GroupedGemmArgs& a, cudaStream_t stream) {
  const char* op = "grouped_gemm(decode)";
  DecodeParams p{a.x, a.w, a.bias, a.y, a.expert_offsets, a.num_experts, a.n, a.k, a.total_rows};
  const int64_t active = a.total_rows < a.num_experts ? a.total_rows : a.num_experts;
  const dim3 grid(unsigned((a.n + kRowsPerBlock - 1) / kRowsPerBlock), unsigned(active));
  dispatch_float(a.act_dtype, op, "act_dtype", [&](auto tag) {
    using T = decltype(tag);
    grouped_gemm_decode_kernel<T><<<grid, kWarps * 32, 0, stream>>>(p);
  });
  after_launch(op, stream);
}

}  // namespace sy::cuda
