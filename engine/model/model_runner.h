// ModelRunner: runs a loaded Model's forward pass on its backend for one ForwardBatch
// (DESIGN.md §2, "ModelRunner::forward"). Owns the paged KV cache and per-step scratch buffers.
// Per layer: rms_norm -> attention over the paged KV cache -> residual ->
//            rms_norm -> MoE block (engine/moe/moe_block.h) or dense MLP -> residual;
// then final norm and lm_head on the rows the batch asks logits for.
//
// Decode graphs: on backends with graph capture (CUDA), enable_decode_graphs() records the
// whole forward of a pure-decode step once per batch size; a later decode step of n sequences
// is padded to the smallest recorded size >= n and replayed. Padding sequences attend to a
// private spare KV block, and their routing is subtracted from the statistics.
#pragma once

#include <map>
#include <memory>
#include <vector>

#include "engine/model/executor.h"
#include "engine/model/model.h"
#include "engine/model/scratch_arena.h"
#include "engine/parallel/moe_dispatcher.h"

namespace sy {

class ModelRunner final : public ModelExecutor {
 public:
  ModelRunner(std::shared_ptr<const Model> model, KvCacheGeometry kv);

  void forward(const ForwardBatch& batch, std::vector<float>& logits) override;
  // On a backend that samples (CUDA) the logits stay on the device and the tokens are drawn
  // there (engine/model/device_sampling.h); elsewhere forward + host sampling.
  bool samples_on_device() const override { return be_.supports_sampling(); }
  void forward_and_sample(const ForwardBatch& batch, const SamplingBatch& sampling, SampledBatch& out) override;
  int vocab_size() const override { return model_->config.vocab_size; }
  int max_model_len() const override { return model_->config.max_position_embeddings; }
  KvCacheGeometry kv_cache() const override { return kv_; }
  void routing_counts(RoutingCounts& out) const override;

  const Model& model() const { return *model_; }
  // When on, forward() keeps each MoE layer's top-k expert ids ([num_tokens, top_k] per MoE
  // layer, in layer order) for inspection (tests, routing-anomaly tooling).
  void set_capture_topk(bool on) { capture_topk_ = on; }
  const std::vector<std::vector<int32_t>>& captured_topk() const { return captured_topk_; }
  // Expert parallelism: MoE layers go through `dispatcher` (not owned; null = all experts
  // local). With a dispatcher an empty batch is valid: the rank still joins every MoE layer's
  // collectives and gets no logits. Decode graphs are not used with a dispatcher.
  void set_moe_dispatcher(MoeDispatcher* dispatcher) { moe_dispatcher_ = dispatcher; }

  // Records decode graphs for these batch sizes (no-op on backends without graphs). Call once
  // at start, before serving. Returns the sizes recorded.
  std::vector<int> enable_decode_graphs(std::vector<int> batch_sizes);

 private:
  // Host-side sizes that fix a forward's sequence of ops (a recorded graph is valid for one).
  struct StepShape {
    int64_t num_tokens = 0;
    int num_seqs = 0;
    int32_t max_blocks_per_seq = 0;
    int64_t num_logits = 0;
  };
  // Batch index arrays and per-step buffers live in an arena; decode graphs use their own so
  // that the pointers baked into a graph never move.
  struct DeviceBatch {
    int32_t* token_ids = nullptr;
    int32_t* positions = nullptr;
    int32_t* query_start = nullptr;
    int32_t* seq_lens = nullptr;
    int32_t* block_tables = nullptr;
    int64_t* slot_mapping = nullptr;
    int32_t* logits_indices = nullptr;
  };

  void validate(const ForwardBatch& b) const;
  DeviceBatch upload_batch(const ForwardBatch& b, ScratchArena& arena);
  // Runs every op of the forward; leaves fp32 logits [num_logits, V] in the returned buffer.
  float* run_model(const StepShape& shape, const DeviceBatch& d, ScratchArena& arena);
  void attention(int layer, const StepShape& shape, const DeviceBatch& d, ScratchArena& arena, const void* x,
                 void* out);
  int32_t* topk_buffer(ScratchArena& arena, size_t moe_index, int64_t num_tokens);
  void count_routing(int64_t first_pad_token, int64_t num_pad_tokens, ScratchArena& arena);
  // Runs a validated non-empty batch (replaying a decode graph when one fits), counts its
  // routing; returns the device fp32 logits [b.logits_indices.size(), V].
  float* run_forward(const ForwardBatch& b);
  // An empty batch under expert parallelism: joins every MoE layer's collectives.
  void join_moe_collectives();
  // Replays a recorded decode graph when the batch fits one; nullptr otherwise.
  float* try_replay_graph(const ForwardBatch& b);

  std::shared_ptr<const Model> model_;
  Backend& be_;
  KvCacheGeometry kv_;
  int32_t spare_block_ = 0;                      // KV block only padding sequences use
  std::vector<DeviceBuffer> k_cache_, v_cache_;  // per layer [blocks + 1, block_size, KV, hd]
  ScratchArena scratch_;
  ScratchArena graph_scratch_;
  std::vector<int> moe_layers_;                  // model layer index of each MoE layer
  DeviceBuffer expert_offsets_;                  // [num_moe_layers, E + 1] int32 of the last step
  std::vector<std::vector<uint64_t>> routed_;    // [num_moe_layers][E] tokens routed since start
  MoeDispatcher* moe_dispatcher_ = nullptr;
  bool capture_topk_ = false;
  std::vector<std::vector<int32_t>> captured_topk_;
  std::map<int, int> decode_graphs_;             // padded batch size -> backend graph id
  int32_t graph_max_blocks_ = 0;                 // block-table width recorded into the graphs
};

}  // namespace sy
