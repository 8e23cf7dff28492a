// ForwardingBackend: a test Backend that passes every call to a CPU backend. Tests derive from
// it and override only what they pretend to be (a device that the host cannot read, a small
// free memory, sampling in "device" memory), so load_model and ModelRunner take their device
// paths without a GPU.
#pragma once

#include <memory>
#include <string>

#include "engine/backend/backend.h"

namespace sy::test {

class ForwardingBackend : public Backend {
 public:
  ForwardingBackend() : in_(make_cpu_backend()) {}

  std::string name() const override { return in_->name(); }
  bool host_accessible() const override { return in_->host_accessible(); }
  void* allocate(size_t bytes) override { return in_->allocate(bytes); }
  void deallocate(void* p) override { in_->deallocate(p); }
  void copy_from_host(void* d, const void* s, size_t n) override { in_->copy_from_host(d, s, n); }
  void copy_to_host(void* d, const void* s, size_t n) override { in_->copy_to_host(d, s, n); }
  void copy(void* d, const void* s, size_t n) override { in_->copy(d, s, n); }
  void fill_zero(void* p, size_t n) override { in_->fill_zero(p, n); }
  void synchronize() override { in_->synchronize(); }
  size_t free_memory() const override { return in_->free_memory(); }
  size_t total_memory() const override { return in_->total_memory(); }
  void linear(const LinearArgs& a) override { in_->linear(a); }
  void rms_norm(const RmsNormArgs& a) override { in_->rms_norm(a); }
  void rope(const RopeArgs& a) override { in_->rope(a); }
  void kv_cache_write(const KvCacheWriteArgs& a) override { in_->kv_cache_write(a); }
  void paged_attention(const PagedAttentionArgs& a) override { in_->paged_attention(a); }
  void embedding(const EmbeddingArgs& a) override { in_->embedding(a); }
  void add(const AddArgs& a) override { in_->add(a); }
  void gated_add(const GatedAddArgs& a) override { in_->gated_add(a); }
  void convert(const ConvertArgs& a) override { in_->convert(a); }
  void glu(const GluArgs& a) override { in_->glu(a); }
  void route(const RouterArgs& a) override { in_->route(a); }
  void moe_align(const MoeAlignArgs& a) override { in_->moe_align(a); }
  void moe_permute(const PermuteArgs& a) override { in_->moe_permute(a); }
  void moe_combine(const CombineArgs& a) override { in_->moe_combine(a); }
  void grouped_gemm(const GroupedGemmArgs& a) override { in_->grouped_gemm(a); }

 private:
  std::unique_ptr<Backend> in_;
};

}  // namespace sy::test
