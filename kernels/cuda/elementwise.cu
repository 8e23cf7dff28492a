// CUDA versions of the small memory-bound ops of kernels/elementwise.h: embedding lookup,
// residual add, shared-expert gated add and dtype conversion. Position: runner -> CudaBackend
// -> here. Grid-stride loops over elements; every load goes through fp32 and every store rounds.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/float_types.cuh"
#include "kernels/elementwise.h"

namespace sy::cuda {
namespace {

constexpr int kThreads = 256;

template <typename TT, typename TO>
__global__ void embedding_kernel(const int32_t* __restrict__ ids, const TT* __restrict__ table,
                                 TO* __restrict__ out, int64_t num_tokens, int64_t dim) {
  const int64_t n = num_tokens * dim;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t t = i / dim, d = i - t * dim;
    out[i] = from_f32<TO>(to_f32(table[int64_t(ids[t]) * dim + d]));
  }
}

template <typename T>
__global__ void add_kernel(const T* a, const T* b, T* y, int64_t n) {
  // y may alias a or b: each element is read before it is written by the same thread.
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = from_f32<T>(to_f32(a[i]) + to_f32(b[i]));
}

template <typename T>
__global__ void gated_add_kernel(T* __restrict__ y, const T* __restrict__ x, const T* __restrict__ gate,
                                 int64_t rows, int64_t dim) {
  const int64_t n = rows * dim;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / dim;
    // Qwen2-MoE: sigmoid(gate) is a bf16 tensor, then gate * x, then the residual add.
    const float g = round_as<T>(1.0f / (1.0f + expf(-to_f32(gate[r]))));
    y[i] = from_f32<T>(to_f32(y[i]) + round_as<T>(g * to_f32(x[i])));
  }
}

template <typename TX, typename TY>
__global__ void convert_kernel(const TX* __restrict__ x, TY* __restrict__ y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = from_f32<TY>(to_f32(x[i]));
}

}  // namespace

void embedding(const EmbeddingArgs& a, void* stream) {
  const char* op = "embedding";
  require(a.num_tokens >= 0 && a.dim >= 0, op, "num_tokens and dim must be >= 0");
  if (a.num_tokens == 0 || a.dim == 0) return;
  require(a.ids && a.table && a.out, op, "ids, table and out must be set");
  auto s = static_cast<cudaStream_t>(stream);
  dispatch_float(a.table_dtype, op, "table_dtype", [&](auto tt) {
    dispatch_float(a.out_dtype, op, "out_dtype", [&](auto to) {
      using TT = decltype(tt);
      using TO = decltype(to);
      embedding_kernel<TT, TO><<<blocks_for(a.num_tokens * a.dim, kThreads), kThreads, 0, s>>>(
          a.ids, static_cast<const TT*>(a.table), static_cast<TO*>(a.out), a.num_tokens, a.dim);
    });
  });
  after_launch(op, s);
}

void add(const AddArgs& a, void* stream) {
  const char* op = "add";
  require(a.n >= 0, op, "n must be >= 0");
  if (a.n == 0) return;
  require(a.a && a.b && a.y, op, "a, b and y must be set");
  auto s = static_cast<cudaStream_t>(stream);
  dispatch_float(a.dtype, op, "dtype", [&](auto tag) {
    using T = decltype(tag);
    add_kernel<T><<<blocks_for(a.n, kThreads), kThreads, 0, s>>>(static_cast<const T*>(a.a),
                                                                 static_cast<const T*>(a.b), static_cast<T*>(a.y), a.n);
  });
  after_launch(op, s);
}

void gated_add(const GatedAddArgs& a, void* stream) {
  const char* op = "gated_add";
  require(a.rows >= 0 && a.dim >= 0, op, "rows and dim must be >= 0");
  if (a.rows == 0 || a.dim == 0) return;
  require(a.y && a.x && a.gate, op, "y, x and gate must be set");
  auto s = static_cast<cudaStream_t>(stream);
  dispatch_float(a.dtype, op, "dtype", [&](auto tag) {
    using T = decltype(tag);
    gated_add_kernel<T><<<blocks_for(a.rows * a.dim, kThreads), kThreads, 0, s>>>(
        static_cast<T*>(a.y), static_cast<const T*>(a.x), static_cast<const T*>(a.gate), a.rows, a.dim);
  });
  after_launch(op, s);
}

void convert(const ConvertArgs& a, void* stream) {
  const char* op = "convert";
  require(a.n >= 0, op, "n must be >= 0");
  if (a.n == 0) return;
  require(a.x && a.y, op, "x and y must be set");
  auto s = static_cast<cudaStream_t>(stream);
  dispatch_float(a.x_dtype, op, "x_dtype", [&](auto tx) {
    dispatch_float(a.y_dtype, op, "y_dtype", [&](auto ty) {
      using TX = decltype(tx);
      using TY = decltype(ty);
      convert_kernel<TX, TY><<<blocks_for(a.n, kThreads), kThreads, 0, s>>>(static_cast<const TX*>(a.x),
                                                                           static_cast<TY*>(a.y), a.n);
    });
  });
  after_launch(op, s);
}

}  // namespace sy::cuda
