// Decode graphs (ModelRunner::enable_decode_graphs) on CPU: a backend decorator records ops
// between begin_capture() and end_capture() and replays them, enforcing the rules CUDA graphs
// impose (no allocation, no host copies while recording). Decoding several sequences with
// graphs (batches padded to a recorded size) must give exactly the logits and routing counts of
// the plain path.
#include <functional>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

#include "engine/backend/backend.h"
#include "engine/model/model.h"
#include "engine/model/model_runner.h"

namespace {

class RecordingBackend final : public sy::Backend {
 public:
  explicit RecordingBackend(std::unique_ptr<sy::Backend> inner) : in_(std::move(inner)) {}
  std::string name() const override { return "recording-cpu"; }
  bool host_accessible() const override { return true; }
  void* allocate(size_t bytes) override {
    if (capturing_) throw std::logic_error("allocation during graph capture");
    return in_->allocate(bytes);
  }
  void deallocate(void* p) override { in_->deallocate(p); }
  void copy_from_host(void* d, const void* s, size_t n) override {
    if (capturing_) throw std::logic_error("host copy during graph capture");
    in_->copy_from_host(d, s, n);
  }
  void copy_to_host(void* d, const void* s, size_t n) override {
    if (capturing_) throw std::logic_error("host copy during graph capture");
    in_->copy_to_host(d, s, n);
  }
  void copy(void* d, const void* s, size_t n) override { run([=, this] { in_->copy(d, s, n); }); }
  void fill_zero(void* p, size_t n) override { run([=, this] { in_->fill_zero(p, n); }); }
  void synchronize() override {}
  size_t free_memory() const override { return in_->free_memory(); }
  size_t total_memory() const override { return in_->total_memory(); }

  bool supports_graphs() const override { return true; }
  void begin_capture() override {
    capturing_ = true;
    graphs_.emplace_back();
  }
  int end_capture() override {
    capturing_ = false;
    return int(graphs_.size()) - 1;
  }
  void replay(int g) override {
    ++replays;
    for (auto& op : graphs_.at(g)) op();
  }

#define SY_RECORD(op, Args) \
  void op(const sy::Args& a) override { run([a, this] { in_->op(a); }); }
  SY_RECORD(linear, LinearArgs)
  SY_RECORD(rms_norm, RmsNormArgs)
  SY_RECORD(rope, RopeArgs)
  SY_RECORD(kv_cache_write, KvCacheWriteArgs)
  SY_RECORD(paged_attention, PagedAttentionArgs)
  SY_RECORD(embedding, EmbeddingArgs)
  SY_RECORD(add, AddArgs)
  SY_RECORD(gated_add, GatedAddArgs)
  SY_RECORD(convert, ConvertArgs)
  SY_RECORD(glu, GluArgs)
  SY_RECORD(route, RouterArgs)
  SY_RECORD(moe_align, MoeAlignArgs)
  SY_RECORD(moe_permute, PermuteArgs)
  SY_RECORD(moe_combine, CombineArgs)
  SY_RECORD(grouped_gemm, GroupedGemmArgs)
#undef SY_RECORD

  int replays = 0;

 private:
  void run(std::function<void()> f) {
    if (capturing_) graphs_.back().push_back(std::move(f));
    else f();
  }
  std::unique_ptr<sy::Backend> in_;
  bool capturing_ = false;
  std::vector<std::vector<std::function<void()>>> graphs_;
};

// Decodes `lens.size()` sequences (prompt lengths `lens`) for `steps` steps in one batch per
// step; returns every step's logits. Sequence s owns blocks [s * per_seq, (s + 1) * per_seq).
std::vector<std::vector<float>> decode(sy::ModelRunner& runner, const std::vector<int>& lens, int steps) {
  const int bs = runner.kv_cache().block_size, per_seq = 4, V = runner.vocab_size();
  const int n = int(lens.size());
  std::vector<int> len(n, 0);
  std::vector<std::vector<float>> out;
  std::vector<int32_t> next(n);
  for (int step = -1; step < steps; ++step) {
    sy::ForwardBatch b;
    b.max_blocks_per_seq = per_seq;
    b.query_start = {0};
    for (int s = 0; s < n; ++s) {
      const int count = step < 0 ? lens[s] : 1;  // step -1: prefill every prompt
      for (int i = 0; i < count; ++i) {
        const int pos = len[s] + i;
        b.token_ids.push_back(step < 0 ? (7 * s + 3 * i + 1) % V : next[s]);
        b.positions.push_back(pos);
        b.slot_mapping.push_back(int64_t(s * per_seq + pos / bs) * bs + pos % bs);
      }
      len[s] += count;
      b.query_start.push_back(int32_t(b.token_ids.size()));
      b.seq_lens.push_back(len[s]);
      b.logits_indices.push_back(int32_t(b.token_ids.size()) - 1);
      for (int k = 0; k < per_seq; ++k) b.block_tables.push_back(s * per_seq + k);
    }
    std::vector<float> logits;
    runner.forward(b, logits);
    for (int s = 0; s < n; ++s)
      next[s] = int32_t(std::max_element(logits.begin() + s * V, logits.begin() + (s + 1) * V) - logits.begin() - s * V);
    if (step >= 0) out.push_back(logits);
  }
  return out;
}

TEST(DecodeGraphs, ReplayEqualsPlainForwardAndKeepsRoutingCountsExact) {
  for (const char* fixture : {"qwen2moe-bf16", "mixtral-f32"}) {
    const auto dir = std::filesystem::path(SY_TEST_DATA_DIR) / "models" / fixture;
    auto plain_be = sy::make_cpu_backend();
    RecordingBackend graph_be(sy::make_cpu_backend());
    auto plain_model = sy::load_model(dir, *plain_be);
    auto graph_model = sy::load_model(dir, graph_be);
    const sy::KvCacheGeometry kv{.num_blocks = 16, .block_size = 4};
    sy::ModelRunner plain(plain_model, kv), graphed(graph_model, kv);
    EXPECT_EQ(graphed.enable_decode_graphs({1, 2, 4}), (std::vector<int>{4, 2, 1}));

    const std::vector<int> lens = {5, 2, 9};  // 3 sequences: decode batches pad to 4
    auto a = decode(plain, lens, 6);
    auto b = decode(graphed, lens, 6);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << fixture << " step " << i;
    EXPECT_EQ(graph_be.replays, 6) << fixture;

    sy::RoutingCounts ca, cb;
    plain.routing_counts(ca);
    graphed.routing_counts(cb);
    EXPECT_EQ(ca.counts, cb.counts) << fixture << ": padding rows must not count as routed tokens";
  }
}

TEST(DecodeGraphs, CpuBackendHasNoGraphsAndRunsPlain) {
  auto be = sy::make_cpu_backend();
  auto model = sy::load_model(std::filesystem::path(SY_TEST_DATA_DIR) / "models" / "olmoe-f32", *be);
  sy::ModelRunner runner(model, {.num_blocks = 8, .block_size = 4});
  EXPECT_TRUE(runner.enable_decode_graphs({1, 2}).empty());
}

}  // namespace
