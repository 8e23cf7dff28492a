// CPU backend: host memory and the kernels in kernels/cpu (which pick SIMD paths at run time).
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>

#include "engine/backend/backend.h"

namespace sy {
namespace {

// MemAvailable / MemTotal from /proc/meminfo, in bytes.
size_t meminfo_bytes(const char* key) {
  std::ifstream in("/proc/meminfo");
  std::string name;
  size_t kb = 0;
  std::string unit;
  while (in >> name >> kb >> unit) {
    if (name == key) return kb * 1024;
  }
  return 0;
}

class CpuBackend final : public Backend {
 public:
  std::string name() const override { return "cpu"; }
  bool host_accessible() const override { return true; }

  void* allocate(size_t bytes) override {
    // 64-byte alignment: one cache line, one AVX-512 register.
    size_t rounded = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded ? rounded : 64);
    if (!p) throw std::runtime_error("cpu backend: cannot allocate " + std::to_string(bytes) + " bytes");
    return p;
  }
  void deallocate(void* p) override { std::free(p); }
  void copy_from_host(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void copy_to_host(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void copy(void* dst, const void* src, size_t bytes) override { std::memmove(dst, src, bytes); }
  void fill_zero(void* p, size_t bytes) override { std::memset(p, 0, bytes); }
  void synchronize() override {}
  size_t free_memory() const override { return meminfo_bytes("MemAvailable:"); }
  size_t total_memory() const override { return meminfo_bytes("MemTotal:"); }

  void linear(const LinearArgs& a) override { cpu::linear(a); }
  void rms_norm(const RmsNormArgs& a) override { cpu::rms_norm(a); }
  void rope(const RopeArgs& a) override { cpu::rope(a); }
  void kv_cache_write(const KvCacheWriteArgs& a) override { cpu::kv_cache_write(a); }
  void paged_attention(const PagedAttentionArgs& a) override { cpu::paged_attention(a); }
  void embedding(const EmbeddingArgs& a) override { cpu::embedding(a); }
  void add(const AddArgs& a) override { cpu::add(a); }
  void gated_add(const GatedAddArgs& a) override { cpu::gated_add(a); }
  void convert(const ConvertArgs& a) override { cpu::convert(a); }
  void glu(const GluArgs& a) override { cpu::glu(a); }
  void route(const RouterArgs& a) override { cpu::route(a); }
  void moe_align(const MoeAlignArgs& a) override { cpu::moe_align(a); }
  void moe_permute(const PermuteArgs& a) override { cpu::moe_permute(a); }
  void moe_combine(const CombineArgs& a) override { cpu::moe_combine(a); }
  void grouped_gemm(const GroupedGemmArgs& a) override { cpu::grouped_gemm(a); }
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend() { return std::make_unique<CpuBackend>(); }

}  // namespace sy
