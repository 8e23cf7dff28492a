// CUDA MoE dispatch (kernels/moe/dispatch.h): align (stable counting sort of (token, slot)
// pairs by expert), permute (gather rows into expert order) and combine (weighted sum back
// to token order). Position: router -> here -> grouped GEMMs -> here (combine).
#include <algorithm>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/float_types.cuh"
#include "kernels/moe/dispatch.h"

namespace sy::cuda {
namespace {

constexpr int kAlignThreads = 1024;
constexpr int kAlignWarps = kAlignThreads / 32;

// One block sorts all pairs: a histogram gives the segment starts, then pairs are placed in
// chunks of kAlignThreads in pair order. Within a chunk a pair's row is
//   segment cursor + pairs of the same expert in earlier warps + earlier lanes of its warp,
// which keeps the sort stable. Pair counts in one step are small (tokens * top_k <= ~64k), so
// one block is enough and needs no global workspace (graph capture friendly).
__global__ void __launch_bounds__(kAlignThreads) moe_align_kernel(const int32_t* __restrict__ topk_ids,
                                                                  int32_t* __restrict__ expert_offsets,
                                                                  int32_t* __restrict__ sorted_pairs,
                                                                  int32_t* __restrict__ pair_to_row,
                                                                  int64_t num_pairs, int num_experts) {
  extern __shared__ int32_t cursor[];  // [num_experts] next free row per expert
  uint8_t* warp_count = reinterpret_cast<uint8_t*>(cursor + num_experts);  // [kAlignWarps, num_experts]
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;

  for (int e = tid; e < num_experts; e += blockDim.x) cursor[e] = 0;
  __syncthreads();
  for (int64_t p = tid; p < num_pairs; p += blockDim.x) {
    const int e = topk_ids[p];
    if (e >= 0 && e < num_experts) atomicAdd(&cursor[e], 1);
  }
  __syncthreads();
  if (warp == 0) {  // exclusive scan of the counts -> segment starts
    int carry = 0;
    for (int base = 0; base < num_experts; base += 32) {
      const int e = base + lane;
      const int count = e < num_experts ? cursor[e] : 0;
      int incl = count;
      for (int off = 1; off < 32; off <<= 1) {
        const int v = __shfl_up_sync(0xffffffffu, incl, off);
        if (lane >= off) incl += v;
      }
      if (e < num_experts) {
        cursor[e] = carry + incl - count;
        expert_offsets[e] = carry + incl - count;
      }
      carry += __shfl_sync(0xffffffffu, incl, 31);
    }
    if (lane == 0) expert_offsets[num_experts] = carry;
  }
  __syncthreads();

  for (int64_t chunk = 0; chunk < num_pairs; chunk += blockDim.x) {
    for (int i = tid; i < kAlignWarps * num_experts; i += blockDim.x) warp_count[i] = 0;
    __syncthreads();
    const int64_t p = chunk + tid;
    // An id outside [0, num_experts) (a caller bug the host cannot see) gets no row rather
    // than corrupting shared memory: its pair_to_row is -1.
    const int id = p < num_pairs ? topk_ids[p] : -1;
    const bool valid = id >= 0 && id < num_experts;
    const int e = valid ? id : -1;
    if (p < num_pairs && !valid) pair_to_row[p] = -1;
    const unsigned peers = __match_any_sync(0xffffffffu, e);
    const int rank = __popc(peers & ((1u << lane) - 1u));
    if (valid && rank == 0) warp_count[warp * num_experts + e] = uint8_t(__popc(peers));
    __syncthreads();
    if (valid) {
      int row = cursor[e] + rank;
      for (int w = 0; w < warp; ++w) row += warp_count[w * num_experts + e];
      sorted_pairs[row] = int32_t(p);
      pair_to_row[p] = row;
    }
    __syncthreads();
    for (int x = tid; x < num_experts; x += blockDim.x) {
      int add = 0;
      for (int w = 0; w < kAlignWarps; ++w) add += warp_count[w * num_experts + x];
      cursor[x] += add;
    }
    __syncthreads();
  }
}

// Row gather in 16-byte vectors (Vec = uint4) or single elements when rows are not aligned.
template <typename Vec>
__global__ void permute_kernel(const Vec* __restrict__ x, Vec* __restrict__ x_sorted,
                               const int32_t* __restrict__ sorted_pairs, int64_t num_rows, int64_t row_vecs,
                               int top_k) {
  const int64_t n = num_rows * row_vecs;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / row_vecs, c = i - r * row_vecs;
    const int64_t token = sorted_pairs[r] / top_k;
    x_sorted[i] = x[token * row_vecs + c];
  }
}

constexpr int kMaxCombineK = 32;

// One block per token: its k terms are added in ascending expert id, rounding after each add,
// as transformers' expert loop index_add_s them (tokens with a repeated expert id keep pair order).
template <typename T>
__global__ void combine_kernel(const T* __restrict__ y_sorted, const int32_t* __restrict__ pair_to_row,
                               const int32_t* __restrict__ topk_ids, const float* __restrict__ topk_weights,
                               T* __restrict__ out, int64_t num_tokens, int64_t hidden, int top_k,
                               bool round_weights) {
  __shared__ int64_t rows[kMaxCombineK];  // source rows in ascending expert id
  __shared__ float weights[kMaxCombineK];
  for (int64_t t = blockIdx.x; t < num_tokens; t += gridDim.x) {
    __syncthreads();
    if (threadIdx.x == 0) {
      int order[kMaxCombineK];
      for (int j = 0; j < top_k; ++j) {  // insertion sort by expert id; k is small
        int i = j;
        while (i > 0 && topk_ids[t * top_k + order[i - 1]] > topk_ids[t * top_k + j]) {
          order[i] = order[i - 1];
          --i;
        }
        order[i] = j;
      }
      for (int j = 0; j < top_k; ++j) {
        rows[j] = pair_to_row[t * top_k + order[j]];
        // Qwen/OLMoE cast routing weights to the model dtype first; Mixtral multiplies in fp32.
        const float w = topk_weights[t * top_k + order[j]];
        weights[j] = round_weights ? round_as<T>(w) : w;
      }
    }
    __syncthreads();
    for (int64_t d = threadIdx.x; d < hidden; d += blockDim.x) {
      float acc = 0.0f;
      for (int j = 0; j < top_k; ++j)
        if (rows[j] >= 0)  // moe_align gives an out-of-range expert id no row (-1): no term
          // __fmul_rn: the product is rounded on its own, as in the reference; a contracted
          // fma would round once and differ in the last bit for f32.
          acc = round_as<T>(acc + round_as<T>(__fmul_rn(to_f32(y_sorted[rows[j] * hidden + d]), weights[j])));
      out[t * hidden + d] = from_f32<T>(acc);
    }
  }
}

}  // namespace

void moe_align(const MoeAlignArgs& a, void* stream) {
  const char* op = "moe_align";
  require(a.num_pairs >= 0 && a.num_experts > 0, op, "num_pairs must be >= 0 and num_experts > 0");
  require(a.num_pairs < (int64_t(1) << 31), op, "num_pairs exceeds int32 row indices");
  require(a.expert_offsets, op, "expert_offsets must be set");
  require(a.num_pairs == 0 || (a.topk_ids && a.sorted_pairs && a.pair_to_row), op,
          "topk_ids, sorted_pairs and pair_to_row must be set");
  const size_t smem = sizeof(int32_t) * size_t(a.num_experts) + size_t(kAlignWarps) * a.num_experts;
  require(smem <= 200 * 1024, op, "num_experts " + std::to_string(a.num_experts) + " is too large");
  auto s = static_cast<cudaStream_t>(stream);
  if (smem > 48 * 1024)
    check(cudaFuncSetAttribute(moe_align_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)),
          "moe_align: shared memory limit");
  moe_align_kernel<<<1, kAlignThreads, smem, s>>>(a.topk_ids, a.expert_offsets, a.sorted_pairs, a.pair_to_row,
                                                 a.num_pairs, a.num_experts);
  after_launch(op, s);
}

void moe_permute(const PermuteArgs& a, void* stream) {
  const char* op = "moe_permute";
  require(a.num_rows >= 0 && a.hidden >= 0 && a.top_k > 0, op, "num_rows, hidden must be >= 0 and top_k > 0");
  if (a.num_rows == 0 || a.hidden == 0) return;
  require(a.x && a.x_sorted && a.sorted_pairs, op, "x, x_sorted and sorted_pairs must be set");
  const size_t esize = dtype_size(a.dtype);
  require(is_float_dtype(a.dtype), op,
          "dtype must be F32, F16 or BF16");
  const int64_t row_bytes = a.hidden * int64_t(esize);
  const bool vec16 = row_bytes % 16 == 0 && reinterpret_cast<uintptr_t>(a.x) % 16 == 0 &&
                     reinterpret_cast<uintptr_t>(a.x_sorted) % 16 == 0;
  auto s = static_cast<cudaStream_t>(stream);
  if (vec16) {
    const int64_t vecs = row_bytes / 16;
    permute_kernel<uint4><<<blocks_for(a.num_rows * vecs, 256), 256, 0, s>>>(
        static_cast<const uint4*>(a.x), static_cast<uint4*>(a.x_sorted), a.sorted_pairs, a.num_rows, vecs, a.top_k);
  } else if (esize == 4) {
    permute_kernel<uint32_t><<<blocks_for(a.num_rows * a.hidden, 256), 256, 0, s>>>(
        static_cast<const uint32_t*>(a.x), static_cast<uint32_t*>(a.x_sorted), a.sorted_pairs, a.num_rows, a.hidden,
        a.top_k);
  } else {
    permute_kernel<uint16_t><<<blocks_for(a.num_rows * a.hidden, 256), 256, 0, s>>>(
        static_cast<const uint16_t*>(a.x), static_cast<uint16_t*>(a.x_sorted), a.sorted_pairs, a.num_rows, a.hidden,
        a.top_k);
  }
  after_launch(op, s);
}

void moe_combine(const CombineArgs& a, void* stream) {
  const char* op = "moe_combine";
  require(a.num_tokens >= 0 && a.hidden >= 0 && a.top_k > 0, op, "num_tokens, hidden must be >= 0 and top_k > 0");
  require(a.top_k <= kMaxCombineK, op, "top_k exceeds " + std::to_string(kMaxCombineK));
  if (a.num_tokens == 0 || a.hidden == 0) return;
  require(a.y_sorted && a.pair_to_row && a.topk_ids && a.topk_weights && a.out, op,
          "y_sorted, pair_to_row, topk_ids, topk_weights and out must be set");
  auto s = static_cast<cudaStream_t>(stream);
  const unsigned blocks = unsigned(std::min<int64_t>(a.num_tokens, 65535));
  dispatch_float(a.dtype, op, "dtype", [&](auto tag) {
    using T = decltype(tag);
    combine_kernel<T><<<blocks, 256, 0, s>>>(static_cast<const T*>(a.y_sorted), a.pair_to_row, a.topk_ids,
                                             a.topk_weights, static_cast<T*>(a.out), a.num_tokens, a.hidden, a.top_k,
                                             a.round_weights);
  });
  after_launch(op, s);
}

}  // namespace sy::cuda
