// CUDA dense linear layer (kernels/linear.h): attention projections, dense MLPs, router logits
// and lm_head. cuBLAS (cublasGemmEx, fp32 compute) for matching dtypes; the grouped GEMM's
// portable path (one segment) for dtype mixes cuBLAS does not offer (e.g. f32 x with bf16 w).
// The bias is broadcast into y first and the GEMM runs with beta = 1, so y = round(x·wᵀ + b)
// is rounded once, as in the reference.
#include <cublas_v2.h>

#include <array>
#include <string>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_info.h"
#include "kernels/cuda/float_types.cuh"
#include "kernels/cuda/grouped_gemm_launch.h"
#include "kernels/linear.h"

namespace sy::cuda {
namespace {

void check_cublas(cublasStatus_t st, const char* what) {
  if (st != CUBLAS_STATUS_SUCCESS)
    throw std::runtime_error(std::string("cuBLAS error in ") + what + ": " + cublasGetStatusString(st));
}

// One handle per (thread, device): cuBLAS handles carry a stream and must not be shared
// between threads that set different streams. Each handle owns a preallocated workspace, bound
// after every cublasSetStream (which resets the handle to cuBLAS' internal workspace pool):
// with its own workspace cuBLAS allocates nothing inside a GEMM call, so lm_head and the dense
// projections can be recorded into a CUDA graph (cuBLAS documentation, "CUDA Graphs Support").
struct CublasContext {
  cublasHandle_t handle = nullptr;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
};

// cuBLAS' recommended workspace: 32 MiB on Hopper, 4 MiB on earlier architectures.
size_t cublas_workspace_bytes() { return (current_device_info().cc_major >= 9 ? 32u : 4u) << 20; }

const CublasContext& cublas_context(cudaStream_t stream) {
  constexpr int kMaxDevices = 64;
  thread_local std::array<CublasContext, kMaxDevices> contexts{};
  int device = 0;
  check(cudaGetDevice(&device), "linear: cudaGetDevice");
  if (device < 0 || device >= kMaxDevices) throw std::runtime_error("linear: CUDA device index out of range");
  CublasContext& c = contexts[size_t(device)];
  if (!c.handle) {
    // Creating a handle and its workspace allocates: never while a graph is being recorded.
    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    check(cudaStreamIsCapturing(stream, &capture), "linear: cudaStreamIsCapturing");
    require(capture == cudaStreamCaptureStatusNone, "linear",
            "this thread's first GEMM on the device is inside a graph capture; run the captured ops once "
            "before capturing so that the cuBLAS handle and workspace exist");
    c.workspace_bytes = cublas_workspace_bytes();
    check(cudaMalloc(&c.workspace, c.workspace_bytes), "linear: cuBLAS workspace allocation");
    check_cublas(cublasCreate(&c.handle), "cublasCreate");
  }
  return c;
}

cudaDataType_t cuda_type(DType t) {
  switch (t) {
    case DType::kBF16: return CUDA_R_16BF;
    case DType::kF16: return CUDA_R_16F;
    default: return CUDA_R_32F;
  }
}

template <typename TB, typename TY>
__global__ void broadcast_bias_kernel(const TB* __restrict__ bias, TY* __restrict__ y, int64_t m, int64_t n,
                                      int64_t ldy) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < m * n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / n, c = i - r * n;
    y[r * ldy + c] = from_f32<TY>(to_f32(bias[c]));
  }
}

}  // namespace

void linear(const LinearArgs& a, void* stream) {
  const char* op = "linear";
  const int64_t ldx = a.ldx ? a.ldx : a.k;
  const int64_t ldy = a.ldy ? a.ldy : a.n;
  require(a.m >= 0 && a.n > 0 && a.k > 0, op, "m must be >= 0 and n, k > 0");
  require(ldx >= a.k && ldy >= a.n, op, "ldx must be >= k and ldy >= n");
  if (a.m == 0) return;
  require(a.x && a.w && a.y, op, "x, w and y must be set");
  auto s = static_cast<cudaStream_t>(stream);

  const bool cublas_types = a.x_dtype == a.w_dtype && (a.y_dtype == a.x_dtype || a.y_dtype == DType::kF32);
  const bool fits_int = a.m < (int64_t(1) << 31) && a.n < (int64_t(1) << 31) && a.k < (int64_t(1) << 31) &&
                        ldx < (int64_t(1) << 31) && ldy < (int64_t(1) << 31);
  if (!cublas_types || !fits_int) {
    // The y dtype of the portable path is the activation dtype: route other mixes through it
    // only when y matches x.
    require(a.y_dtype == a.x_dtype, op,
            "unsupported dtype combination x " + std::string(dtype_name(a.x_dtype)) + ", w " +
                std::string(dtype_name(a.w_dtype)) + ", y " + std::string(dtype_name(a.y_dtype)));
    GroupedGemmArgs g;
    g.x = a.x;
    g.w = a.w;
    g.bias = a.bias;
    g.y = a.y;
    g.expert_offsets = nullptr;  // one segment
    g.act_dtype = a.x_dtype;
    g.w_dtype = a.w_dtype;
    g.num_experts = 1;
    g.n = a.n;
    g.k = a.k;
    g.total_rows = a.m;
    launch_grouped_gemm_simt(g, ldx, ldy, s);
    return;
  }

  float beta = 0.0f;
  if (a.bias) {
    dispatch_float(a.w_dtype, op, "w_dtype", [&](auto bt) {
      dispatch_float(a.y_dtype, op, "y_dtype", [&](auto yt) {
        using TB = decltype(bt);
        using TY = decltype(yt);
        broadcast_bias_kernel<TB, TY><<<blocks_for(a.m * a.n, 256), 256, 0, s>>>(
            static_cast<const TB*>(a.bias), static_cast<TY*>(a.y), a.m, a.n, ldy);
      });
    });
    after_launch(op, s);
    beta = 1.0f;
  }
  // Row-major y[m, n] = x[m, k] · w[n, k]ᵀ is column-major yᵀ[n, m] = w[k, n]ᵀ · x[k, m].
  const CublasContext& ctx = cublas_context(s);
  cublasHandle_t h = ctx.handle;
  check_cublas(cublasSetStream(h, s), "cublasSetStream");
  check_cublas(cublasSetWorkspace(h, ctx.workspace, ctx.workspace_bytes), "cublasSetWorkspace");
  const float alpha = 1.0f;
  check_cublas(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, int(a.n), int(a.m), int(a.k), &alpha, a.w,
                            cuda_type(a.w_dtype), int(a.k), a.x, cuda_type(a.x_dtype), int(ldx), &beta, a.y,
                            cuda_type(a.y_dtype), int(ldy), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
               "linear: cublasGemmEx");
}

}  // namespace sy::cuda
