// Device-side element types for the CUDA ops (kernels -> cuda): the mapping from sy::DType to
// the CUDA type a kernel is instantiated for, fp32 load/store helpers, and warp reductions.
// Every op loads to fp32, accumulates in fp32 and rounds on store (kernels/README.md); where the
// CPU reference rounds an intermediate to the model dtype, kernels call round_as<T>() at the
// same place so bf16 results track the reference closely.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "kernels/dtype.h"

namespace sy::cuda {

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float to_f32(__half v) { return __half2float(v); }

template <typename T>
__device__ __forceinline__ T from_f32(float v);
template <>
__device__ __forceinline__ float from_f32<float>(float v) { return v; }
template <>
__device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
template <>
__device__ __forceinline__ __half from_f32<__half>(float v) { return __float2half_rn(v); }

// The fp32 value v has after a round trip through T (sy::round_to on the device).
template <typename T>
__device__ __forceinline__ float round_as(float v) { return to_f32(from_f32<T>(v)); }

// Stores two adjacent outputs with one 4-byte (2-byte types) or 8-byte (f32) store; out must be
// aligned to twice the element size.
__device__ __forceinline__ void store_pair(float* out, float a, float b) { *reinterpret_cast<float2*>(out) = make_float2(a, b); }
__device__ __forceinline__ void store_pair(__nv_bfloat16* out, float a, float b) {
  *reinterpret_cast<__nv_bfloat162*>(out) = __floats2bfloat162_rn(a, b);
}
__device__ __forceinline__ void store_pair(__half* out, float a, float b) {
  *reinterpret_cast<__half2*>(out) = __floats2half2_rn(a, b);
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}

// Calls f(T{}) with T the CUDA type of a float dtype; throws naming the op and the field for
// any other dtype.
template <typename F>
void dispatch_float(DType t, const char* op, const char* field, F&& f) {
  switch (t) {
    case DType::kF32: f(float{}); return;
    case DType::kBF16: f(__nv_bfloat16{}); return;
    case DType::kF16: f(__half{}); return;
    default:
      throw std::invalid_argument(std::string(op) + ": " + field + " must be F32, F16 or BF16, got " +
                                  std::string(dtype_name(t)));
  }
}

inline void require(bool ok, const char* op, const std::string& what) {
  if (!ok) throw std::invalid_argument(std::string(op) + ": " + what);
}

inline unsigned blocks_for(int64_t n, int threads, int64_t cap = 65535LL * 16) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  return unsigned(b < cap ? b : cap);
}

}  // namespace sy::cuda
