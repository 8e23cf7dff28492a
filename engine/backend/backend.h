// Backend: the memory and compute a model runs on. One engine, two backends (DESIGN.md §4.1):
// scheduler, model code and MoE logic are shared; a backend supplies memory and ops.
// The CPU backend (cpu_backend.cpp) is the reference; the CUDA backend (cuda_backend.cpp)
// implements the same interface with the kernels in kernels/cuda. Model code never #ifdefs on
// the backend: it calls these methods with pointers the backend allocated.
#pragma once

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>

#include "kernels/activation.h"
#include "kernels/attention.h"
#include "kernels/elementwise.h"
#include "kernels/linear.h"
#include "kernels/moe/dispatch.h"
#include "kernels/moe/grouped_gemm.h"
#include "kernels/moe/router.h"
#include "kernels/norm.h"
#include "kernels/rope.h"
#include "kernels/sampling.h"

namespace sy {

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string name() const = 0;
  // True when the backend's pointers can be dereferenced by the host (CPU backend).
  virtual bool host_accessible() const = 0;

  // ---- memory ----
  virtual void* allocate(size_t bytes) = 0;  // throws std::runtime_error naming the size
  virtual void deallocate(void* p) = 0;
  virtual void copy_from_host(void* dst, const void* src, size_t bytes) = 0;
  virtual void copy_to_host(void* dst, const void* src, size_t bytes) = 0;
  virtual void copy(void* dst, const void* src, size_t bytes) = 0;  // device to device
  virtual void fill_zero(void* p, size_t bytes) = 0;
  virtual void synchronize() = 0;
  // Bytes the backend could still allocate (device memory; for CPU, available RAM).
  virtual size_t free_memory() const = 0;
  virtual size_t total_memory() const = 0;

  // ---- graphs (optional): record a fixed sequence of ops once, replay it cheaply ----
  // CUDA graphs remove per-kernel launch overhead from decode steps. Between begin_capture()
  // and end_capture() ops are recorded, not run: no allocation, no host copies. A backend
  // without graphs keeps the defaults and callers check supports_graphs() first.
  virtual bool supports_graphs() const { return false; }
  virtual void begin_capture() { throw std::runtime_error(name() + " backend has no graph capture"); }
  virtual int end_capture() { throw std::runtime_error(name() + " backend has no graph capture"); }
  virtual void replay(int graph) { throw std::runtime_error(name() + " backend has no graph capture"); }

  // ---- ops (see the kernels/ headers for the math) ----
  virtual void linear(const LinearArgs& a) = 0;
  virtual void rms_norm(const RmsNormArgs& a) = 0;
  virtual void rope(const RopeArgs& a) = 0;
  virtual void kv_cache_write(const KvCacheWriteArgs& a) = 0;
  virtual void paged_attention(const PagedAttentionArgs& a) = 0;
  virtual void embedding(const EmbeddingArgs& a) = 0;
  virtual void add(const AddArgs& a) = 0;
  virtual void gated_add(const GatedAddArgs& a) = 0;
  virtual void convert(const ConvertArgs& a) = 0;
  virtual void glu(const GluArgs& a) = 0;
  virtual void route(const RouterArgs& a) = 0;
  virtual void moe_align(const MoeAlignArgs& a) = 0;
  virtual void moe_permute(const PermuteArgs& a) = 0;
  virtual void moe_combine(const CombineArgs& a) = 0;
  virtual void grouped_gemm(const GroupedGemmArgs& a) = 0;

  // ---- sampling (optional): kernels/sampling.h on logits in this backend's memory ----
  // A device backend draws tokens where the logits are, so only ids and logprobs cross to the
  // host. Callers check supports_sampling() first; without it they sample on the host.
  virtual bool supports_sampling() const { return false; }
  virtual void mask_logits(const LogitMaskArgs& a) { throw std::runtime_error(name() + " backend does not sample"); }
  virtual void sample(const SampleArgs& a) { throw std::runtime_error(name() + " backend does not sample"); }
};

std::unique_ptr<Backend> make_cpu_backend();
// Throws std::runtime_error("... not compiled with CUDA support") in a CPU-only build, or
// when the device does not exist.
std::unique_ptr<Backend> make_cuda_backend(int device);
// Number of usable CUDA devices (0 in a CPU-only build or on a machine without a GPU).
int cuda_device_count();
// A backend from its --device spelling: "cpu", "cuda" (device 0) or "cuda:N"; anything else
// throws std::invalid_argument naming the value.
std::unique_ptr<Backend> make_backend(const std::string& device);

// Owns one allocation on a backend. Movable, not copyable.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(Backend* backend, size_t bytes)
      : backend_(backend), bytes_(bytes), ptr_(bytes ? backend->allocate(bytes) : nullptr) {}
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept { *this = std::move(o); }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      backend_ = o.backend_;
      bytes_ = o.bytes_;
      ptr_ = o.ptr_;
      o.ptr_ = nullptr;
      o.bytes_ = 0;
    }
    return *this;
  }
  void reset() {
    if (ptr_) backend_->deallocate(ptr_);
    ptr_ = nullptr;
    bytes_ = 0;
  }
  void* get() const { return ptr_; }
  template <typename T>
  T* as() const { return static_cast<T*>(ptr_); }
  size_t bytes() const { return bytes_; }

 private:
  Backend* backend_ = nullptr;
  size_t bytes_ = 0;
  void* ptr_ = nullptr;
};

}  // namespace sy
