// Helpers for the GPU tests (tests/unit/gpu_*_test.cpp): device buffers, the "no CUDA device"
// skip, and the comparison of a CUDA result with its CPU twin. Every CUDA op is checked against
// sy::cpu::<op> on the same inputs; outputs are poisoned (all bits set: NaN in f32/bf16/f16)
// before the op runs, so an element the kernel forgot to write fails the comparison.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "engine/backend/backend.h"
#include "tests/unit/kernels_cpu_test_util.h"

namespace sy::test {

#define SY_REQUIRE_CUDA_DEVICE()                                    \
  do {                                                              \
    if (::sy::cuda_device_count() == 0) {                           \
      GTEST_SKIP() << "skipped: no CUDA device";                    \
    }                                                               \
  } while (0)

inline void cuda_ok(cudaError_t err, const char* what) {
  ASSERT_EQ(err, cudaSuccess) << what << ": " << cudaGetErrorString(err);
}

// One cudaMalloc'd buffer; poisoned (0xff bytes) on creation.
class DeviceMem {
 public:
  DeviceMem() = default;
  explicit DeviceMem(size_t bytes) : bytes_(bytes) {
    if (bytes_ == 0) return;
    if (cudaMalloc(&ptr_, bytes_) != cudaSuccess) throw std::runtime_error("test: cudaMalloc failed");
    cudaMemset(ptr_, 0xff, bytes_);
  }
  template <typename T>
  explicit DeviceMem(const std::vector<T>& host) : DeviceMem(host.size() * sizeof(T)) {
    if (bytes_) cudaMemcpy(ptr_, host.data(), bytes_, cudaMemcpyHostToDevice);
  }
  explicit DeviceMem(const Tensor& t) : DeviceMem(t.bytes) {}
  ~DeviceMem() {
    if (ptr_) cudaFree(ptr_);
  }
  DeviceMem(const DeviceMem&) = delete;
  DeviceMem& operator=(const DeviceMem&) = delete;
  DeviceMem(DeviceMem&& o) noexcept : ptr_(o.ptr_), bytes_(o.bytes_) { o.ptr_ = nullptr; }

  void* get() const { return ptr_; }
  template <typename T>
  T* as() const { return static_cast<T*>(ptr_); }
  size_t bytes() const { return bytes_; }

  template <typename T>
  std::vector<T> download() const {
    std::vector<T> out(bytes_ / sizeof(T));
    if (bytes_) cudaMemcpy(out.data(), ptr_, bytes_, cudaMemcpyDeviceToHost);
    return out;
  }
  Tensor download(DType t) const {
    Tensor out(t, int64_t(bytes_ / dtype_size(t)));
    if (bytes_) cudaMemcpy(out.data(), ptr_, bytes_, cudaMemcpyDeviceToHost);
    return out;
  }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// Synchronises the default stream (the ops run on stream 0 in the tests) and checks for errors.
inline void sync_ok(const char* what) {
  cuda_ok(cudaDeviceSynchronize(), what);
  cuda_ok(cudaGetLastError(), what);
}

// GPU result vs CPU twin: every element finite where the reference is, within
// atol + rtol * |ref|, and the relative error norm ||gpu - cpu|| / ||cpu|| below rel_norm.
inline void expect_matches(const Tensor& gpu, const Tensor& cpu, double rtol, double atol, double rel_norm,
                           const std::string& what) {
  ASSERT_EQ(gpu.size(), cpu.size()) << what;
  double diff2 = 0, ref2 = 0;
  int reported = 0;
  for (int64_t i = 0; i < cpu.size(); ++i) {
    const double g = gpu.at(i), c = cpu.at(i);
    const double d = std::fabs(g - c);
    if (!(d <= atol + rtol * std::fabs(c)) && reported < 5) {  // NaN (unwritten) fails here
      ADD_FAILURE() << what << ": element " << i << " is " << g << ", CPU " << c;
      ++reported;
    }
    if (std::isfinite(d)) diff2 += d * d;
    ref2 += c * c;
  }
  if (ref2 > 0) EXPECT_LE(std::sqrt(diff2 / ref2), rel_norm) << what << ": relative error norm";
}

// Tolerances for a result rounded to dtype after fp32 work in a different order than the CPU's.
inline double gpu_rtol(DType t) { return t == DType::kF32 ? 1e-4 : (t == DType::kF16 ? 4e-3 : 2e-2); }
inline double gpu_rel_norm(DType t) { return t == DType::kF32 ? 1e-5 : (t == DType::kF16 ? 2e-3 : 8e-3); }

}  // namespace sy::test
