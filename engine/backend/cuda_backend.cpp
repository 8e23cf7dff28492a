// CUDA backend (DESIGN.md §4.1): device memory from cudaMalloc, one CUDA stream per backend,
// and every op forwarded to sy::cuda::<op>(args, stream) in kernels/cuda. Position: runner ->
// Backend -> here -> kernels/cuda. Compiled only when CUDA is enabled (cuda_backend_stub.cpp
// stands in otherwise). Plain C++: the kernels live in .cu files behind kernels/*.h.
//
// Ordering: every op and device-to-device copy is queued on the backend's stream; host
// transfers synchronise that stream before returning, so host buffers may be reused at once.
#include <cuda_runtime.h>

#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/backend/backend.h"
#include "kernels/cuda/cuda_check.h"

namespace sy {
namespace {

std::string gib(size_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", double(bytes) / double(1ull << 30));
  return buf;
}

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device) : device_(device) {
    const int count = cuda_device_count();
    if (device < 0 || device >= count)
      throw std::runtime_error("CUDA device " + std::to_string(device) + " does not exist (" +
                               std::to_string(count) + " usable device(s))");
    cuda::check(cudaSetDevice(device_), "cudaSetDevice");
    cuda::check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    cudaDeviceProp prop{};
    cuda::check(cudaGetDeviceProperties(&prop, device_), "cudaGetDeviceProperties");
    device_name_ = prop.name;
  }
  ~CudaBackend() override {
    cudaSetDevice(device_);
    cudaStreamSynchronize(stream_);
    for (cudaGraphExec_t g : graphs_) cudaGraphExecDestroy(g);
    cudaStreamDestroy(stream_);
  }

  std::string name() const override { return "cuda:" + std::to_string(device_) + " (" + device_name_ + ")"; }
  bool host_accessible() const override { return false; }

  void* allocate(size_t bytes) override {
    activate();
    void* p = nullptr;
    const cudaError_t err = cudaMalloc(&p, bytes ? bytes : 1);
    if (err != cudaSuccess) {
      cudaGetLastError();  // out of memory is not sticky: clear it so later calls do not see it
      throw std::runtime_error("CUDA device " + std::to_string(device_) + ": cannot allocate " +
                               std::to_string(bytes) + " bytes (" + gib(bytes) + "; " + gib(free_memory()) +
                               " free): " + cudaGetErrorString(err));
    }
    return p;
  }
  void deallocate(void* p) override {
    if (!p) return;
    activate();
    cuda::check(cudaStreamSynchronize(stream_), "deallocate: cudaStreamSynchronize");
    cuda::check(cudaFree(p), "cudaFree");
  }
  void copy_from_host(void* dst, const void* src, size_t bytes) override {
    if (!bytes) return;
    activate();
    cuda::check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_), "copy_from_host");
    cuda::check(cudaStreamSynchronize(stream_), "copy_from_host: cudaStreamSynchronize");
  }
  void copy_to_host(void* dst, const void* src, size_t bytes) override {
    if (!bytes) return;
    activate();
    cuda::check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_), "copy_to_host");
    cuda::check(cudaStreamSynchronize(stream_), "copy_to_host: cudaStreamSynchronize");
  }
  void copy(void* dst, const void* src, size_t bytes) override {
    if (!bytes) return;
    activate();
    cuda::check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_), "copy");
  }
  void fill_zero(void* p, size_t bytes) override {
    if (!bytes) return;
    activate();
    cuda::check(cudaMemsetAsync(p, 0, bytes, stream_), "fill_zero");
  }
  void synchronize() override {
    activate();
    cuda::check(cudaStreamSynchronize(stream_), "synchronize");
  }
  // Decode graphs: the stream records every op between begin_capture and end_capture; the
  // warm-up run ModelRunner does before recording has already made cuBLAS create its handle and
  // workspace, so nothing allocates while recording.
  bool supports_graphs() const override { return true; }
  void begin_capture() override {
    activate();
    cuda::check(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
  }
  int end_capture() override {
    activate();
    cudaGraph_t graph = nullptr;
    cuda::check(cudaStreamEndCapture(stream_, &graph), "cudaStreamEndCapture");
    cudaGraphExec_t exec = nullptr;
    const cudaError_t err = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    cuda::check(err, "cudaGraphInstantiate");
    graphs_.push_back(exec);
    return static_cast<int>(graphs_.size()) - 1;
  }
  void replay(int graph) override {
    activate();
    if (graph < 0 || graph >= static_cast<int>(graphs_.size()))
      throw std::runtime_error("replay: no recorded graph " + std::to_string(graph));
    cuda::check(cudaGraphLaunch(graphs_[size_t(graph)], stream_), "cudaGraphLaunch");
  }

  size_t free_memory() const override {
    activate();
    size_t free_b = 0, total_b = 0;
    cuda::check(cudaMemGetInfo(&free_b, &total_b), "cudaMemGetInfo");
    return free_b;
  }
  size_t total_memory() const override {
    activate();
    size_t free_b = 0, total_b = 0;
    cuda::check(cudaMemGetInfo(&free_b, &total_b), "cudaMemGetInfo");
    return total_b;
  }

  void linear(const LinearArgs& a) override { activate(); cuda::linear(a, stream_); }
  void rms_norm(const RmsNormArgs& a) override { activate(); cuda::rms_norm(a, stream_); }
  void rope(const RopeArgs& a) override { activate(); cuda::rope(a, stream_); }
  void kv_cache_write(const KvCacheWriteArgs& a) override { activate(); cuda::kv_cache_write(a, stream_); }
  void paged_attention(const PagedAttentionArgs& a) override { activate(); cuda::paged_attention(a, stream_); }
  void embedding(const EmbeddingArgs& a) override { activate(); cuda::embedding(a, stream_); }
  void add(const AddArgs& a) override { activate(); cuda::add(a, stream_); }
  void gated_add(const GatedAddArgs& a) override { activate(); cuda::gated_add(a, stream_); }
  void convert(const ConvertArgs& a) override { activate(); cuda::convert(a, stream_); }
  void glu(const GluArgs& a) override { activate(); cuda::glu(a, stream_); }
  void route(const RouterArgs& a) override { activate(); cuda::route(a, stream_); }
  void moe_align(const MoeAlignArgs& a) override { activate(); cuda::moe_align(a, stream_); }
  void moe_permute(const PermuteArgs& a) override { activate(); cuda::moe_permute(a, stream_); }
  void moe_combine(const CombineArgs& a) override { activate(); cuda::moe_combine(a, stream_); }
  void grouped_gemm(const GroupedGemmArgs& a) override { activate(); cuda::grouped_gemm(a, stream_); }

  // Sampling reads device logits and device parameter arrays; results stay on the device until
  // the caller copies them back (copy_to_host orders after the kernels on our stream).
  bool supports_sampling() const override { return true; }
  void mask_logits(const LogitMaskArgs& a) override { activate(); cuda::mask_logits(a, stream_); }
  void sample(const SampleArgs& a) override { activate(); cuda::sample(a, stream_); }

 private:
  // The calling thread may not be the one that created the backend: make our device current.
  void activate() const { cuda::check(cudaSetDevice(device_), "cudaSetDevice"); }

  int device_;
  cudaStream_t stream_ = nullptr;
  std::vector<cudaGraphExec_t> graphs_;  // recorded decode graphs, by id
  std::string device_name_;
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(int device) { return std::make_unique<CudaBackend>(device); }

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // no driver or no device: report none, leave no sticky error behind
    return 0;
  }
  return count;
}

}  // namespace sy
