#include "engine/model/model_runner.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "engine/moe/moe_block.h"

namespace sy {
namespace {

template <typename T>
T* upload(Backend& be, ScratchArena& scratch, const char* name, const std::vector<T>& v) {
  T* d = scratch.get<T>(name, v.empty() ? 1 : v.size());
  if (!v.empty()) be.copy_from_host(d, v.data(), v.size() * sizeof(T));
  return d;
}

}  // namespace

ModelRunner::ModelRunner(std::shared_ptr<const Model> model, KvCacheGeometry kv)
    : model_(std::move(model)), be_(*model_->backend), kv_(kv), scratch_(be_) {
  const ModelConfig& c = model_->config;
  if (kv_.num_blocks <= 0 || kv_.block_size <= 0)
    throw std::invalid_argument("KV cache needs a positive number of blocks and block size");
  const size_t k_bytes = size_t(kv_.num_blocks) * kv_.block_size * c.num_kv_heads * c.head_dim * dtype_size(c.dtype);
  for (int l = 0; l < c.num_layers; ++l) {
    k_cache_.emplace_back(&be_, k_bytes);
    v_cache_.emplace_back(&be_, k_bytes);
    if (c.is_moe_layer(l)) moe_layers_.push_back(l);
  }
  if (!moe_layers_.empty()) {
    expert_offsets_ = DeviceBuffer(&be_, moe_layers_.size() * (c.num_experts + 1) * sizeof(int32_t));
    routed_.assign(moe_layers_.size(), std::vector<uint64_t>(c.num_experts, 0));
  }
}

void ModelRunner::validate(const ForwardBatch& b) const {
  const ModelConfig& c = model_->config;
  const int64_t T = b.num_tokens();
  if (T == 0 && !moe_dispatcher_) throw std::invalid_argument("forward: empty batch");
  if (b.positions.size() != size_t(T) || b.slot_mapping.size() != size_t(T))
    throw std::invalid_argument("forward: positions and slot_mapping must have one entry per token");
  if (b.query_start.size() != size_t(b.num_seqs() + 1) || b.query_start.front() != 0 || b.query_start.back() != T)
    throw std::invalid_argument("forward: query_start must run from 0 to num_tokens over num_seqs + 1 entries");
  if (b.block_tables.size() != size_t(b.num_seqs()) * b.max_blocks_per_seq)
    throw std::invalid_argument("forward: block_tables must hold num_seqs * max_blocks_per_seq entries");
  for (int32_t id : b.token_ids)
    if (id < 0 || id >= c.vocab_size)
      throw std::invalid_argument("forward: token id " + std::to_string(id) + " outside the vocabulary [0, " +
                                  std::to_string(c.vocab_size) + ")");
  for (int s = 0; s < b.num_seqs(); ++s) {
    int32_t n_new = b.query_start[s + 1] - b.query_start[s];
    if (n_new < 0 || b.seq_lens[s] < n_new || b.seq_lens[s] > b.max_blocks_per_seq * kv_.block_size)
      throw std::invalid_argument("forward: sequence " + std::to_string(s) + " has an inconsistent length");
  }
  for (int64_t slot : b.slot_mapping)
    if (slot >= int64_t(kv_.num_blocks) * kv_.block_size)
      throw std::invalid_argument("forward: KV slot " + std::to_string(slot) + " outside the cache");
  for (int32_t blk : b.block_tables)
    if (blk < 0 || blk >= kv_.num_blocks) throw std::invalid_argument("forward: block id outside the cache");
  for (int32_t r : b.logits_indices)
    if (r < 0 || r >= T) throw std::invalid_argument("forward: logits index outside the batch");
}

void ModelRunner::upload_batch(const ForwardBatch& b) {
  d_token_ids_ = upload(be_, scratch_, "batch.token_ids", b.token_ids);
  d_positions_ = upload(be_, scratch_, "batch.positions", b.positions);
  d_query_start_ = upload(be_, scratch_, "batch.query_start", b.query_start);
  d_seq_lens_ = upload(be_, scratch_, "batch.seq_lens", b.seq_lens);
  d_block_tables_ = upload(be_, scratch_, "batch.block_tables", b.block_tables);
  d_slot_mapping_ = upload(be_, scratch_, "batch.slot_mapping", b.slot_mapping);
  d_logits_indices_ = upload(be_, scratch_, "batch.logits_indices", b.logits_indices);
}

// x: normed hidden states [T, D]; out: attention output projected back to [T, D].
void ModelRunner::attention(int layer, const ForwardBatch& b, const void* x, void* out) {
  const ModelConfig& c = model_->config;
  const AttentionWeights& w = model_->weights.layers[layer].attn;
  const DType act = c.dtype;
  const size_t es = dtype_size(act);
  const int64_t T = b.num_tokens(), D = c.hidden_size;
  const int H = c.num_heads, KV = c.num_kv_heads, hd = c.head_dim;

  void* q = scratch_.get("attn.q", T * H * hd * es);   // [T, H, hd]
  void* k = scratch_.get("attn.k", T * KV * hd * es);  // [T, KV, hd]
  void* v = scratch_.get("attn.v", T * KV * hd * es);  // [T, KV, hd]
  be_.linear({.x = x, .w = w.q.data(), .bias = w.q_bias.data(), .y = q, .x_dtype = act, .w_dtype = w.q.dtype,
              .y_dtype = act, .m = T, .n = H * hd, .k = D});
  be_.linear({.x = x, .w = w.k.data(), .bias = w.k_bias.data(), .y = k, .x_dtype = act, .w_dtype = w.k.dtype,
              .y_dtype = act, .m = T, .n = KV * hd, .k = D});
  be_.linear({.x = x, .w = w.v.data(), .bias = w.v_bias.data(), .y = v, .x_dtype = act, .w_dtype = w.v.dtype,
              .y_dtype = act, .m = T, .n = KV * hd, .k = D});

  // q/k norms: Qwen3 normalises each head, OLMoE the whole projection.
  if (c.qk_norm != QkNorm::kNone) {
    const bool per_head = c.qk_norm == QkNorm::kPerHead;
    be_.rms_norm({.x = q, .w = w.q_norm.data(), .y = q, .dtype = act, .w_dtype = w.q_norm.dtype,
                  .rows = per_head ? T * H : T, .dim = per_head ? hd : int64_t(H) * hd, .eps = c.rms_norm_eps});
    be_.rms_norm({.x = k, .w = w.k_norm.data(), .y = k, .dtype = act, .w_dtype = w.k_norm.dtype,
                  .rows = per_head ? T * KV : T, .dim = per_head ? hd : int64_t(KV) * hd, .eps = c.rms_norm_eps});
  }

  be_.rope({.q = q, .k = k, .positions = d_positions_, .inv_freq = model_->rope_inv_freq.as<float>(), .dtype = act,
            .num_tokens = T, .num_q_heads = H, .num_kv_heads = KV, .head_dim = hd, .rotary_dim = c.rotary_dim(),
            .attention_factor = model_->rope_attention_factor});

  be_.kv_cache_write({.k = k, .v = v, .k_cache = k_cache_[layer].get(), .v_cache = v_cache_[layer].get(),
                      .slot_mapping = d_slot_mapping_, .dtype = act, .num_tokens = T, .num_kv_heads = KV,
                      .head_dim = hd, .head_dim_v = hd});

  void* attn = scratch_.get("attn.out", T * H * hd * es);  // [T, H, hd]
  be_.paged_attention({.q = q, .out = attn, .k_cache = k_cache_[layer].get(), .v_cache = v_cache_[layer].get(),
                       .block_tables = d_block_tables_, .seq_lens = d_seq_lens_, .query_start = d_query_start_,
                       .dtype = act, .num_seqs = b.num_seqs(), .num_tokens = T, .num_heads = H, .num_kv_heads = KV,
                       .head_dim = hd, .head_dim_v = hd, .block_size = kv_.block_size,
                       .max_blocks_per_seq = b.max_blocks_per_seq, .scale = 1.0f / std::sqrt(float(hd)),
                       .sliding_window = c.sliding_window_per_layer[layer]});

  be_.linear({.x = attn, .w = w.o.data(), .y = out, .x_dtype = act, .w_dtype = w.o.dtype, .y_dtype = act, .m = T,
              .n = D, .k = int64_t(H) * hd});
}

void ModelRunner::forward(const ForwardBatch& b, std::vector<float>& logits) {
  validate(b);
  const ModelConfig& c = model_->config;
  const ModelWeights& W = model_->weights;
  const DType act = c.dtype;
  const size_t es = dtype_size(act);
  const int64_t T = b.num_tokens(), D = c.hidden_size, V = c.vocab_size;
  const int64_t n_logits = static_cast<int64_t>(b.logits_indices.size());
  if (T == 0) {  // expert parallelism: no tokens here this step, but peers need our collectives
    for (size_t i = 0; i < moe_layers_.size(); ++i)
      moe_dispatcher_->run(int(i), W.layers[moe_layers_[i]].moe,
                           {.num_tokens = 0, .expert_offsets = expert_offsets_.as<int32_t>() + i * (c.num_experts + 1)},
                           scratch_);
    logits.clear();
    return;
  }
  upload_batch(b);

  void* h = scratch_.get("h", T * D * es);      // [T, D] residual stream
  void* x = scratch_.get("x", T * D * es);      // [T, D] normed input of a sub-block
  void* y = scratch_.get("y", T * D * es);      // [T, D] output of a sub-block
  be_.embedding({.ids = d_token_ids_, .table = W.embed.data(), .out = h, .table_dtype = W.embed.dtype,
                 .out_dtype = act, .num_tokens = T, .dim = D});

  int32_t* topk_ids = scratch_.get<int32_t>("moe.topk_ids", T * std::max(c.top_k, 1));
  if (capture_topk_) captured_topk_.assign(moe_layers_.size(), {});
  size_t moe_index = 0;
  for (int l = 0; l < c.num_layers; ++l) {
    const LayerWeights& L = W.layers[l];
    be_.rms_norm({.x = h, .w = L.input_norm.data(), .y = x, .dtype = act, .w_dtype = L.input_norm.dtype, .rows = T,
                  .dim = D, .eps = c.rms_norm_eps});
    attention(l, b, x, y);
    be_.add({.a = h, .b = y, .y = h, .dtype = act, .n = T * D});

    be_.rms_norm({.x = h, .w = L.post_attention_norm.data(), .y = x, .dtype = act,
                  .w_dtype = L.post_attention_norm.dtype, .rows = T, .dim = D, .eps = c.rms_norm_eps});
    if (L.is_moe) {
      int32_t* offsets = expert_offsets_.as<int32_t>() + moe_index * (c.num_experts + 1);
      const MoeBlockArgs args{.x = x, .out = y, .num_tokens = T, .expert_offsets = offsets, .topk_ids = topk_ids};
      if (moe_dispatcher_) moe_dispatcher_->run(int(moe_index), L.moe, args, scratch_);
      else run_moe_block(be_, c, L.moe, args, scratch_);
      if (capture_topk_) {
        captured_topk_[moe_index].resize(T * c.top_k);
        be_.copy_to_host(captured_topk_[moe_index].data(), topk_ids, T * c.top_k * sizeof(int32_t));
      }
      ++moe_index;
    } else {
      run_mlp(be_, act, L.mlp, x, y, T, D, scratch_);
    }
    be_.add({.a = h, .b = y, .y = h, .dtype = act, .n = T * D});
  }

  // Final norm and lm_head only on the rows that need logits (norm is per row, so gathering
  // first gives the same numbers).
  logits.assign(n_logits * V, 0.0f);
  if (n_logits > 0) {
    void* sel = scratch_.get("final.rows", n_logits * D * es);  // [n, D]
    be_.embedding({.ids = d_logits_indices_, .table = h, .out = sel, .table_dtype = act, .out_dtype = act,
                   .num_tokens = n_logits, .dim = D});
    be_.rms_norm({.x = sel, .w = W.final_norm.data(), .y = sel, .dtype = act, .w_dtype = W.final_norm.dtype,
                  .rows = n_logits, .dim = D, .eps = c.rms_norm_eps});
    const Weight& out_w = W.output();
    void* lg = scratch_.get("final.logits", n_logits * V * es);  // [n, V] act dtype, as transformers returns
    be_.linear({.x = sel, .w = out_w.data(), .y = lg, .x_dtype = act, .w_dtype = out_w.dtype, .y_dtype = act,
                .m = n_logits, .n = V, .k = D});
    float* lg32 = scratch_.get<float>("final.logits_f32", n_logits * V);
    be_.convert({.x = lg, .y = lg32, .x_dtype = act, .y_dtype = DType::kF32, .n = n_logits * V});
    be_.copy_to_host(logits.data(), lg32, n_logits * V * sizeof(float));
  }

  // Routing statistics: one small copy of every MoE layer's expert offsets per step.
  if (!moe_layers_.empty()) {
    const int E = c.num_experts;
    std::vector<int32_t> off(moe_layers_.size() * (E + 1));
    be_.copy_to_host(off.data(), expert_offsets_.get(), off.size() * sizeof(int32_t));
    for (size_t i = 0; i < moe_layers_.size(); ++i)
      for (int e = 0; e < E; ++e) routed_[i][e] += uint64_t(off[i * (E + 1) + e + 1] - off[i * (E + 1) + e]);
  }
}

void ModelRunner::routing_counts(RoutingCounts& out) const {
  if (out.counts.empty()) {
    out.moe_layer_ids.assign(moe_layers_.begin(), moe_layers_.end());
    out.counts.assign(moe_layers_.size(), std::vector<uint64_t>(model_->config.num_experts, 0));
  }
  for (size_t i = 0; i < routed_.size() && i < out.counts.size(); ++i)
    for (size_t e = 0; e < routed_[i].size() && e < out.counts[i].size(); ++e) out.counts[i][e] += routed_[i][e];
}

}  // namespace sy
