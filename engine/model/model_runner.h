// ModelRunner: runs a loaded Model's forward pass on its backend for one ForwardBatch
// (DESIGN.md §2, "ModelRunner::forward"). Owns the paged KV cache and per-step scratch buffers.
// Per layer: rms_norm -> attention over the paged KV cache -> residual ->
//            rms_norm -> MoE block (engine/moe/moe_block.h) or dense MLP -> residual;
// then final norm and lm_head on the rows the batch asks logits for.
#pragma once

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
  // collectives and gets no logits.
  void set_moe_dispatcher(MoeDispatcher* dispatcher) { moe_dispatcher_ = dispatcher; }

 private:
  void validate(const ForwardBatch& b) const;
  void upload_batch(const ForwardBatch& b);
  void attention(int layer, const ForwardBatch& b, const void* x, void* out);

  std::shared_ptr<const Model> model_;
  Backend& be_;
  KvCacheGeometry kv_;
  std::vector<DeviceBuffer> k_cache_, v_cache_;  // per layer [blocks, block_size, KV, hd]
  ScratchArena scratch_;
  std::vector<int> moe_layers_;                  // model layer index of each MoE layer
  DeviceBuffer expert_offsets_;                  // [num_moe_layers, E + 1] int32 of the last step
  std::vector<std::vector<uint64_t>> routed_;    // [num_moe_layers][E] tokens routed since start
  MoeDispatcher* moe_dispatcher_ = nullptr;
  bool capture_topk_ = false;
  std::vector<std::vector<int32_t>> captured_topk_;
  // Batch index arrays on the backend.
  int32_t* d_token_ids_ = nullptr;
  int32_t* d_positions_ = nullptr;
  int32_t* d_query_start_ = nullptr;
  int32_t* d_seq_lens_ = nullptr;
  int32_t* d_block_tables_ = nullptr;
  int64_t* d_slot_mapping_ = nullptr;
  int32_t* d_logits_indices_ = nullptr;
};

}  // namespace sy
