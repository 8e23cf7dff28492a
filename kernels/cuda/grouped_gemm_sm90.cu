// Grouped GEMM, sm_90a path (H100/H200): WGMMA tensor-core instructions fed by TMA.
//
// CTA = 3 warpgroups, warp-specialised: warpgroup 0 is the producer (one thread issues the TMA
// copies), warpgroups 1 and 2 are consumers, each owning 64 rows of the 128 x 128 output tile
// and issuing wgmma.m64n128k16 from shared memory. kStages stages of (x tile, w tile), 64
// elements of k each, form a ring guarded by two mbarriers per stage: "full" (TMA bytes
// landed: expect_tx/complete_tx) and "empty" (all 8 consumer warps finished reading).
// Tiles are 128-byte swizzled by TMA, the layout wgmma's K-major SW128 descriptors read.
//
// Tensor maps cover x as [total_rows, k] and w as [num_experts * n, k]: a tile that runs past
// an expert's segment reads rows that belong to the next expert (or TMA's zero fill past the
// end); those rows and columns are simply not stored. k past the end is zero-filled, so any
// k % 8 == 0 works. cuTensorMapEncodeTiled comes from the driver through
// cudaGetDriverEntryPointByVersion, so the build needs no -lcuda.
//
// The consumers wait for their wgmma group to finish before releasing a stage (wait_group 0):
// the TMA ring keeps kStages - 1 tiles in flight ahead of them, which hides memory latency.
// No setmaxnreg: 168 registers per thread (65536 / 384) already hold the 64-float accumulator,
// and a register reallocation that asks for more than the launch granted would hang.
#include <cuda.h>

#include <mutex>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_info.h"
#include "kernels/cuda/float_types.cuh"
#include "kernels/cuda/grouped_gemm_launch.h"
#include "kernels/cuda/grouped_gemm_schedule.cuh"

namespace sy::cuda {
namespace {

constexpr int kBM = 128, kBN = 128, kBK = 64, kStages = 5;
constexpr int kThreads = 384;                              // producer + 2 consumer warpgroups
constexpr int kConsumerWarps = 8;
static_assert(kThreads == 128 + kConsumerWarps * 32, "one producer warpgroup, then the consumer warps");
constexpr int kTileBytesA = kBM * kBK * 2, kTileBytesB = kBN * kBK * 2;  // 16 KiB each
constexpr size_t kSmemBytes = size_t(kStages) * (kTileBytesA + kTileBytesB) + 1024;  // + alignment slack

struct Sm90Params {
  const void* bias;
  void* y;
  const int32_t* offsets;
  int num_experts;
  int64_t n, k, total_rows;
  int num_m_tiles, num_n_tiles;
};

#if defined(__CUDA_ARCH__) && (__CUDA_ARCH__ >= 900) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define SY_HAS_WGMMA 1
#endif

#ifdef SY_HAS_WGMMA
__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void mbar_init(uint64_t* bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(count));
}
__device__ __forceinline__ void mbar_expect_tx(uint64_t* bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(bytes)
               : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint64_t* bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(smem_addr(bar)) : "memory");
}
__device__ __forceinline__ void mbar_wait(uint64_t* bar, uint32_t parity) {
  uint32_t done = 0;
  do {
    asm volatile(
        "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
        : "=r"(done)
        : "r"(smem_addr(bar)), "r"(parity)
        : "memory");
  } while (!done);
}

__device__ __forceinline__ void tma_load_2d(void* dst, const CUtensorMap* map, uint64_t* bar, int c_inner,
                                            int c_outer) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4}], [%2];\n" ::"r"(
          smem_addr(dst)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(smem_addr(bar)), "r"(c_inner), "r"(c_outer)
      : "memory");
}

// Shared-memory matrix descriptor for a K-major tile with 128-byte swizzle: rows of 128 bytes,
// 8-row core groups 1024 bytes apart (stride byte offset), leading byte offset unused (1).
__device__ __forceinline__ uint64_t smem_desc(const void* p) {
  const uint64_t addr = smem_addr(p);
  return ((addr & 0x3ffffull) >> 4) | (uint64_t(1) << 16) | (uint64_t(1024 >> 4) << 32) | (uint64_t(1) << 62);
}

__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_wait_all() { asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory"); }

template <typename T>
__device__ __forceinline__ void wgmma_m64n128k16(float (&d)[64], uint64_t desc_a, uint64_t desc_b, uint32_t scale_d);

template <>
__device__ __forceinline__ void wgmma_m64n128k16<__nv_bfloat16>(float (&d)[64], uint64_t desc_a, uint64_t desc_b,
                                                                uint32_t scale_d) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
      "{" 
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
      "}, %64, %65, p, 1, 1, 0, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
        "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
        "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
        "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
        "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
        "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
        "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
        "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "l"(desc_a), "l"(desc_b), "r"(scale_d));
}

template <>
__device__ __forceinline__ void wgmma_m64n128k16<__half>(float (&d)[64], uint64_t desc_a, uint64_t desc_b,
                                                         uint32_t scale_d) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 "
      "{" 
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
      "}, %64, %65, p, 1, 1, 0, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
        "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
        "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
        "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
        "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
        "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
        "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
        "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "l"(desc_a), "l"(desc_b), "r"(scale_d));
}
#endif  // SY_HAS_WGMMA

template <typename T>
__global__ void __launch_bounds__(kThreads, 1)
    grouped_gemm_wgmma_kernel(const __grid_constant__ CUtensorMap tmap_x, const __grid_constant__ CUtensorMap tmap_w,
                              Sm90Params p) {
#ifdef SY_HAS_WGMMA
  extern __shared__ unsigned char smem_raw[];
  // SW128 tiles need 1024-byte alignment.
  unsigned char* smem = reinterpret_cast<unsigned char*>((reinterpret_cast<uintptr_t>(smem_raw) + 1023) & ~uintptr_t(1023));
  T* a_s = reinterpret_cast<T*>(smem);                              // [kStages][128][64] x tiles
  T* b_s = reinterpret_cast<T*>(smem + kStages * kTileBytesA);      // [kStages][128][64] w tiles
  __shared__ __align__(8) uint64_t full_bar[kStages];
  __shared__ __align__(8) uint64_t empty_bar[kStages];

  int m_tile, n_tile;
  raster_tile(blockIdx.x, p.num_m_tiles, p.num_n_tiles, m_tile, n_tile);
  const MTile tile = find_m_tile(p.offsets, p.num_experts, p.total_rows, kBM, m_tile);
  if (tile.expert < 0) return;
  const int n0 = n_tile * kBN;
  const int k_tiles = int((p.k + kBK - 1) / kBK);

  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; ++s) {
      mbar_init(&full_bar[s], 1);
      mbar_init(&empty_bar[s], kConsumerWarps);
    }
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
  }
  __syncthreads();

  const int warpgroup = threadIdx.x / 128;
  if (warpgroup == 0) {
    // Producer: one thread walks k, refilling each stage once the consumers released it.
    if (threadIdx.x == 0) {
      const int w_row = tile.expert * int(p.n) + n0;
      for (int kt = 0; kt < k_tiles; ++kt) {
        const int s = kt % kStages;
        const uint32_t round_parity = (kt / kStages) & 1;
        mbar_wait(&empty_bar[s], round_parity ^ 1);  // a fresh barrier passes parity 1 at once
        mbar_expect_tx(&full_bar[s], kTileBytesA + kTileBytesB);
        tma_load_2d(a_s + s * kBM * kBK, &tmap_x, &full_bar[s], kt * kBK, int(tile.row_begin));
        tma_load_2d(b_s + s * kBN * kBK, &tmap_w, &full_bar[s], kt * kBK, w_row);
      }
    }
    return;
  }

  // Consumers: warpgroup 1 -> tile rows 0-63, warpgroup 2 -> rows 64-127.
  const int consumer = warpgroup - 1;
  float acc[64];
#pragma unroll
  for (int i = 0; i < 64; ++i) acc[i] = 0.0f;
  for (int kt = 0; kt < k_tiles; ++kt) {
    const int s = kt % kStages;
    mbar_wait(&full_bar[s], (kt / kStages) & 1);
    const T* a_tile = a_s + s * kBM * kBK + consumer * 64 * kBK;
    const T* b_tile = b_s + s * kBN * kBK;
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < kBK / 16; ++kk)  // 16 elements = 32 bytes along the swizzled row
      wgmma_m64n128k16<T>(acc, smem_desc(a_tile + kk * 16), smem_desc(b_tile + kk * 16), 1u);
    wgmma_commit();
    wgmma_wait_all();
    if (threadIdx.x % 32 == 0) mbar_arrive(&empty_bar[s]);
  }

  // Accumulator layout (per warp of the warpgroup: 16 rows): acc[4j + {0,1}] at row lane/4,
  // columns 8j + 2*(lane%4) + {0,1}; acc[4j + {2,3}] at row lane/4 + 8.
  T* y = static_cast<T*>(p.y);
  const T* bias = p.bias ? static_cast<const T*>(p.bias) + int64_t(tile.expert) * p.n : nullptr;
  const bool pair_stores = p.n % 2 == 0 && reinterpret_cast<uintptr_t>(y) % (2 * sizeof(T)) == 0;
  const int lane = threadIdx.x % 32, warp_in_group = (threadIdx.x / 32) % 4;
  const int64_t row_base = tile.row_begin + consumer * 64 + warp_in_group * 16 + lane / 4;
#pragma unroll
  for (int j = 0; j < 16; ++j) {
    const int64_t col = n0 + j * 8 + (lane % 4) * 2;
    const float b0 = bias && col < p.n ? to_f32(bias[col]) : 0.0f;
    const float b1 = bias && col + 1 < p.n ? to_f32(bias[col + 1]) : 0.0f;
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int64_t row = row_base + half * 8;
      if (row >= tile.row_end) continue;
      T* out = y + row * p.n + col;
      if (pair_stores && col + 1 < p.n) {  // col is even: with n even the pair is aligned
        store_pair(out, acc[4 * j + 2 * half] + b0, acc[4 * j + 2 * half + 1] + b1);
        continue;
      }
      if (col < p.n) out[0] = from_f32<T>(acc[4 * j + 2 * half] + b0);
      if (col + 1 < p.n) out[1] = from_f32<T>(acc[4 * j + 2 * half + 1] + b1);
    }
  }
#endif
}

using EncodeTiledFn = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*,
                                   const cuuint64_t*, const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave,
                                   CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

EncodeTiledFn encode_tiled_fn() {
  static EncodeTiledFn fn = [] {
    void* sym = nullptr;
    cudaDriverEntryPointQueryResult status{};
    const cudaError_t err =
        cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &sym, 12000, cudaEnableDefault, &status);
    if (err != cudaSuccess || status != cudaDriverEntryPointSuccess) {
      cudaGetLastError();
      return EncodeTiledFn(nullptr);
    }
    return reinterpret_cast<EncodeTiledFn>(sym);
  }();
  return fn;
}

// 2D K-major tensor [rows, k] of 2-byte elements; box 64 (k, 128 bytes) x 128 rows, SW128.
CUtensorMap make_tensor_map(const void* base, int64_t rows, int64_t k, CUtensorMapDataType type) {
  CUtensorMap map;
  const cuuint64_t dims[2] = {cuuint64_t(k), cuuint64_t(rows)};
  const cuuint64_t strides[1] = {cuuint64_t(k) * 2};  // bytes between rows
  const cuuint32_t box[2] = {cuuint32_t(kBK), cuuint32_t(kBM)};
  const cuuint32_t elem_strides[2] = {1, 1};
  const CUresult r = encode_tiled_fn()(&map, type, 2, const_cast<void*>(base), dims, strides, box, elem_strides,
                                       CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                                       CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS)
    throw std::runtime_error("grouped_gemm(wgmma_sm90): cuTensorMapEncodeTiled failed with CUresult " +
                             std::to_string(int(r)) + " (rows " + std::to_string(rows) + ", k " + std::to_string(k) + ")");
  return map;
}

// True when this binary holds sm_90a code for the kernel (not just an empty sm_80/89 body).
bool wgmma_kernel_compiled() {
  static const bool ok = [] {
    cudaFuncAttributes attr{};
    if (cudaFuncGetAttributes(&attr, grouped_gemm_wgmma_kernel<__nv_bfloat16>) != cudaSuccess) {
      cudaGetLastError();
      return false;
    }
    return attr.binaryVersion == 90;
  }();
  return ok;
}

template <typename T>
void launch(const GroupedGemmArgs& a, cudaStream_t stream) {
  const char* op = "grouped_gemm(wgmma_sm90)";
  const CUtensorMapDataType type =
      std::is_same_v<T, __nv_bfloat16> ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16;
  const CUtensorMap tmap_x = make_tensor_map(a.x, a.total_rows, a.k, type);
  const CUtensorMap tmap_w = make_tensor_map(a.w, int64_t(a.num_experts) * a.n, a.k, type);
  const int64_t m_tiles = m_tile_bound(a.total_rows, a.num_experts, kBM);
  const int64_t n_tiles = (a.n + kBN - 1) / kBN;
  require(m_tiles * n_tiles < (int64_t(1) << 31), op, "problem too large for one launch");
  Sm90Params p{a.bias, a.y, a.expert_offsets, a.num_experts, a.n, a.k, a.total_rows, int(m_tiles), int(n_tiles)};
  check(cudaFuncSetAttribute(grouped_gemm_wgmma_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             int(kSmemBytes)),
        "grouped_gemm(wgmma_sm90): shared memory limit");
  grouped_gemm_wgmma_kernel<T><<<unsigned(m_tiles * n_tiles), kThreads, kSmemBytes, stream>>>(tmap_x, tmap_w, p);
  after_launch(op, stream);
}

}  // namespace

bool grouped_gemm_sm90_supported(const GroupedGemmArgs& a) {
  const DeviceInfo& dev = current_device_info();
  const bool types = (a.act_dtype == DType::kBF16 || a.act_dtype == DType::kF16) && a.w_dtype == a.act_dtype;
  // TMA: 16-byte aligned bases and row strides; coordinates are int32.
  const bool layout = a.k % 8 == 0 && reinterpret_cast<uintptr_t>(a.x) % 16 == 0 &&
                      reinterpret_cast<uintptr_t>(a.w) % 16 == 0 && int64_t(a.num_experts) * a.n < (int64_t(1) << 31) &&
                      a.k < (int64_t(1) << 31);
  return dev.cc_major == 9 && types && layout && dev.max_smem_per_block_optin >= kSmemBytes && wgmma_kernel_compiled() &&
         encode_tiled_fn() != nullptr;
}

void launch_grouped_gemm_sm90(const GroupedGemmArgs& a, cudaStream_t stream) {
  if (a.act_dtype == DType::kBF16) launch<__nv_bfloat16>(a, stream);
  else launch<__half>(a, stream);
}

}  // namespace sy::cuda
