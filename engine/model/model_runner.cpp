#include "engine/model/model_runner.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "engine/model/device_sampling.h"
#include "engine/model/packed_upload.h"
#include "engine/moe/moe_block.h"

namespace sy {
namespace {

bool is_pure_decode(const ForwardBatch& b) {
  const int n = b.num_seqs();
  if (b.num_tokens() != n || b.logits_indices.size() != size_t(n)) return false;
  for (int s = 0; s < n; ++s)
    if (b.query_start[s + 1] - b.query_start[s] != 1 || b.logits_indices[s] != s) return false;
  return true;
}

}  // namespace

ModelRunner::ModelRunner(std::shared_ptr<const Model> model, KvCacheGeometry kv)
    : model_(std::move(model)), be_(*model_->backend), kv_(kv), scratch_(be_), graph_scratch_(be_) {
  const ModelConfig& c = model_->config;
  if (kv_.num_blocks <= 0 || kv_.block_size <= 0)
    throw std::invalid_argument("KV cache needs a positive number of blocks and block size");
  spare_block_ = kv_.num_blocks;  // one block past the scheduler's: padding rows write here
  const size_t k_bytes =
      size_t(kv_.num_blocks + 1) * kv_.block_size * c.num_kv_heads * c.head_dim * dtype_size(c.dtype);
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

// All of the batch's index arrays go up in one copy (one stream synchronisation per step, not
// seven). Decode graphs read them at the addresses of their recording: a padded batch of a
// recorded size has the same array sizes, so the same layout in the same arena buffer.
ModelRunner::DeviceBatch ModelRunner::upload_batch(const ForwardBatch& b, ScratchArena& arena) {
  PackedUpload up;
  const size_t token_ids = up.add(b.token_ids), positions = up.add(b.positions),
               query_start = up.add(b.query_start), seq_lens = up.add(b.seq_lens),
               block_tables = up.add(b.block_tables), slot_mapping = up.add(b.slot_mapping),
               logits_indices = up.add(b.logits_indices);
  unsigned char* base = up.upload(be_, arena, "batch.arrays");
  DeviceBatch d;
  d.token_ids = reinterpret_cast<int32_t*>(base + token_ids);
  d.positions = reinterpret_cast<int32_t*>(base + positions);
  d.query_start = reinterpret_cast<int32_t*>(base + query_start);
  d.seq_lens = reinterpret_cast<int32_t*>(base + seq_lens);
  d.block_tables = reinterpret_cast<int32_t*>(base + block_tables);
  d.slot_mapping = reinterpret_cast<int64_t*>(base + slot_mapping);
  d.logits_indices = reinterpret_cast<int32_t*>(base + logits_indices);
  return d;
}

// One [num_tokens, top_k] buffer per MoE layer, so every layer's choices survive the step
// (routing statistics, inspection, graph padding correction).
int32_t* ModelRunner::topk_buffer(ScratchArena& arena, size_t moe_index, int64_t num_tokens) {
  return arena.get<int32_t>("moe.topk_ids." + std::to_string(moe_index),
                            size_t(num_tokens) * std::max(model_->config.top_k, 1));
}

// x: normed hidden states [T, D]; out: attention output projected back to [T, D].
void ModelRunner::attention(int layer, const StepShape& shape, const DeviceBatch& d, ScratchArena& arena,
                            const void* x, void* out) {
  const ModelConfig& c = model_->config;
  const AttentionWeights& w = model_->weights.layers[layer].attn;
  const DType act = c.dtype;
  const size_t es = dtype_size(act);
  const int64_t T = shape.num_tokens, D = c.hidden_size;
  const int H = c.num_heads, KV = c.num_kv_heads, hd = c.head_dim;

  // One projection for q, k and v: each token's row is [q heads | k heads | v heads], and every
  // op below reads its part with the row's stride.
  const int64_t qkv_stride = int64_t(H + 2 * KV) * hd;
  char* qkv = static_cast<char*>(arena.get("attn.qkv", T * qkv_stride * es));  // [T, H + 2·KV, hd]
  void* q = qkv;
  void* k = qkv + size_t(H) * hd * es;
  void* v = qkv + size_t(H + KV) * hd * es;
  be_.linear({.x = x, .w = w.qkv.data(), .bias = w.qkv_bias.data(), .y = qkv, .x_dtype = act,
              .w_dtype = w.qkv.dtype, .y_dtype = act, .m = T, .n = qkv_stride, .k = D, .packed = w.qkv.packed()});

  // q/k norms: Qwen3 normalises each head, OLMoE the whole projection.
  if (c.qk_norm != QkNorm::kNone) {
    const bool per_head = c.qk_norm == QkNorm::kPerHead;
    be_.rms_norm({.x = q, .w = w.q_norm.data(), .y = q, .dtype = act, .w_dtype = w.q_norm.dtype, .rows = T,
                  .dim = per_head ? hd : int64_t(H) * hd, .ldx = qkv_stride, .ldy = qkv_stride,
                  .eps = c.rms_norm_eps, .groups = per_head ? H : 1});
    be_.rms_norm({.x = k, .w = w.k_norm.data(), .y = k, .dtype = act, .w_dtype = w.k_norm.dtype, .rows = T,
                  .dim = per_head ? hd : int64_t(KV) * hd, .ldx = qkv_stride, .ldy = qkv_stride,
                  .eps = c.rms_norm_eps, .groups = per_head ? KV : 1});
  }

  be_.rope({.q = q, .k = k, .positions = d.positions, .inv_freq = model_->rope_inv_freq.as<float>(), .dtype = act,
            .num_tokens = T, .num_q_heads = H, .num_kv_heads = KV, .head_dim = hd, .rotary_dim = c.rotary_dim(),
            .q_stride = qkv_stride, .k_stride = qkv_stride, .attention_factor = model_->rope_attention_factor});

  be_.kv_cache_write({.k = k, .v = v, .k_cache = k_cache_[layer].get(), .v_cache = v_cache_[layer].get(),
                      .slot_mapping = d.slot_mapping, .dtype = act, .num_tokens = T, .num_kv_heads = KV,
                      .head_dim = hd, .head_dim_v = hd, .k_stride = qkv_stride, .v_stride = qkv_stride});

  void* attn = arena.get("attn.out", T * H * hd * es);  // [T, H, hd]
  be_.paged_attention({.q = q, .out = attn, .k_cache = k_cache_[layer].get(), .v_cache = v_cache_[layer].get(),
                       .block_tables = d.block_tables, .seq_lens = d.seq_lens, .query_start = d.query_start,
                       .dtype = act, .num_seqs = shape.num_seqs, .num_tokens = T, .num_heads = H,
                       .num_kv_heads = KV, .head_dim = hd, .head_dim_v = hd, .block_size = kv_.block_size,
                       .max_blocks_per_seq = shape.max_blocks_per_seq, .q_stride = qkv_stride,
                       .scale = 1.0f / std::sqrt(float(hd)),
                       .sliding_window = c.sliding_window_per_layer[layer]});

  be_.linear({.x = attn, .w = w.o.data(), .y = out, .x_dtype = act, .w_dtype = w.o.dtype, .y_dtype = act, .m = T,
              .n = D, .k = int64_t(H) * hd, .packed = w.o.packed()});
}

float* ModelRunner::run_model(const StepShape& shape, const DeviceBatch& d, ScratchArena& arena) {
  const ModelConfig& c = model_->config;
  const ModelWeights& W = model_->weights;
  const DType act = c.dtype;
  const size_t es = dtype_size(act);
  const int64_t T = shape.num_tokens, D = c.hidden_size, V = c.vocab_size, n_logits = shape.num_logits;

  void* h = arena.get("h", T * D * es);  // [T, D] residual stream
  void* x = arena.get("x", T * D * es);  // [T, D] normed input of a sub-block
  void* y = arena.get("y", T * D * es);  // [T, D] output of a sub-block
  be_.embedding({.ids = d.token_ids, .table = W.embed.data(), .out = h, .table_dtype = W.embed.dtype,
                 .out_dtype = act, .num_tokens = T, .dim = D});

  size_t moe_index = 0;
  for (int l = 0; l < c.num_layers; ++l) {
    const LayerWeights& L = W.layers[l];
    be_.rms_norm({.x = h, .w = L.input_norm.data(), .y = x, .dtype = act, .w_dtype = L.input_norm.dtype, .rows = T,
                  .dim = D, .eps = c.rms_norm_eps});
    attention(l, shape, d, arena, x, y);
    be_.add({.a = h, .b = y, .y = h, .dtype = act, .n = T * D});

    be_.rms_norm({.x = h, .w = L.post_attention_norm.data(), .y = x, .dtype = act,
                  .w_dtype = L.post_attention_norm.dtype, .rows = T, .dim = D, .eps = c.rms_norm_eps});
    if (L.is_moe) {
      int32_t* offsets = expert_offsets_.as<int32_t>() + moe_index * (c.num_experts + 1);
      const MoeBlockArgs args{.x = x, .out = y, .num_tokens = T, .expert_offsets = offsets,
                              .topk_ids = topk_buffer(arena, moe_index, T)};
      if (moe_dispatcher_) moe_dispatcher_->run(int(moe_index), L.moe, args, arena);
      else run_moe_block(be_, c, L.moe, args, arena);
      ++moe_index;
    } else {
      run_mlp(be_, act, L.mlp, x, y, T, D, arena);
    }
    be_.add({.a = h, .b = y, .y = h, .dtype = act, .n = T * D});
  }

  // Final norm and lm_head only on the rows that need logits (norm is per row, so gathering
  // first gives the same numbers).
  float* lg32 = arena.get<float>("final.logits_f32", std::max<int64_t>(n_logits, 1) * V);
  if (n_logits > 0) {
    void* sel = arena.get("final.rows", n_logits * D * es);  // [n, D]
    be_.embedding({.ids = d.logits_indices, .table = h, .out = sel, .table_dtype = act, .out_dtype = act,
                   .num_tokens = n_logits, .dim = D});
    be_.rms_norm({.x = sel, .w = W.final_norm.data(), .y = sel, .dtype = act, .w_dtype = W.final_norm.dtype,
                  .rows = n_logits, .dim = D, .eps = c.rms_norm_eps});
    const Weight& out_w = W.output();
    void* lg = arena.get("final.logits", n_logits * V * es);  // [n, V] act dtype, as transformers returns
    be_.linear({.x = sel, .w = out_w.data(), .y = lg, .x_dtype = act, .w_dtype = out_w.dtype, .y_dtype = act,
                .m = n_logits, .n = V, .k = D, .packed = out_w.packed()});
    be_.convert({.x = lg, .y = lg32, .x_dtype = act, .y_dtype = DType::kF32, .n = n_logits * V});
  }
  return lg32;
}

// Adds the last step's per-expert token counts (one small copy of every MoE layer's expert
// offsets), minus what padding tokens [first_pad, first_pad + num_pad) were routed to.
void ModelRunner::count_routing(int64_t first_pad, int64_t num_pad, ScratchArena& arena) {
  if (moe_layers_.empty()) return;
  const int E = model_->config.num_experts, K = model_->config.top_k;
  std::vector<int32_t> off(moe_layers_.size() * (E + 1));
  be_.copy_to_host(off.data(), expert_offsets_.get(), off.size() * sizeof(int32_t));
  std::vector<int32_t> pad_ids(size_t(num_pad) * K);
  for (size_t i = 0; i < moe_layers_.size(); ++i) {
    for (int e = 0; e < E; ++e) routed_[i][e] += uint64_t(off[i * (E + 1) + e + 1] - off[i * (E + 1) + e]);
    if (num_pad == 0) continue;
    be_.copy_to_host(pad_ids.data(), topk_buffer(arena, i, first_pad + num_pad) + first_pad * K,
                     pad_ids.size() * sizeof(int32_t));
    for (int32_t e : pad_ids)
      if (e >= 0 && e < E) routed_[i][e] -= 1;
  }
}

void ModelRunner::join_moe_collectives() {
  const ModelConfig& c = model_->config;
  for (size_t i = 0; i < moe_layers_.size(); ++i)
    moe_dispatcher_->run(int(i), model_->weights.layers[moe_layers_[i]].moe,
                         {.num_tokens = 0, .expert_offsets = expert_offsets_.as<int32_t>() + i * (c.num_experts + 1)},
                         scratch_);
}

float* ModelRunner::run_forward(const ForwardBatch& b) {
  if (float* lg32 = try_replay_graph(b)) return lg32;
  const StepShape shape{b.num_tokens(), b.num_seqs(), b.max_blocks_per_seq, int64_t(b.logits_indices.size())};
  DeviceBatch d = upload_batch(b, scratch_);
  float* lg32 = run_model(shape, d, scratch_);
  count_routing(0, 0, scratch_);
  if (capture_topk_) {
    const int K = model_->config.top_k;
    captured_topk_.assign(moe_layers_.size(), std::vector<int32_t>(size_t(shape.num_tokens) * K));
    for (size_t i = 0; i < moe_layers_.size(); ++i)
      be_.copy_to_host(captured_topk_[i].data(), topk_buffer(scratch_, i, shape.num_tokens),
                       captured_topk_[i].size() * sizeof(int32_t));
  }
  return lg32;
}

void ModelRunner::forward(const ForwardBatch& b, std::vector<float>& logits) {
  validate(b);
  if (b.num_tokens() == 0) {  // expert parallelism: no tokens here this step, but peers need our collectives
    join_moe_collectives();
    logits.clear();
    return;
  }
  const float* lg32 = run_forward(b);
  const int64_t n = int64_t(b.logits_indices.size()), V = model_->config.vocab_size;
  logits.assign(n * V, 0.0f);
  if (n > 0) be_.copy_to_host(logits.data(), lg32, n * V * sizeof(float));
}

void ModelRunner::forward_and_sample(const ForwardBatch& b, const SamplingBatch& sampling, SampledBatch& out) {
  if (!samples_on_device()) return ModelExecutor::forward_and_sample(b, sampling, out);
  validate(b);
  if (size_t(sampling.num_rows()) != b.logits_indices.size())
    throw std::invalid_argument("forward_and_sample: " + std::to_string(sampling.num_rows()) + " sampling rows for " +
                                std::to_string(b.logits_indices.size()) + " logits rows");
  if (b.num_tokens() == 0) {
    join_moe_collectives();
    sample_on_device(be_, scratch_, nullptr, vocab_size(), sampling, out);  // no rows: clears `out`
    return;
  }
  sample_on_device(be_, scratch_, run_forward(b), vocab_size(), sampling, out);
}

// ---- decode graphs ----

namespace {

// A decode batch of `n` real sequences padded to `padded` rows: padding rows decode token 0 at
// position 0 of a one-token sequence living in the spare block.
ForwardBatch pad_decode_batch(const ForwardBatch& b, int padded, int32_t max_blocks, int32_t spare_block,
                              int32_t block_size) {
  ForwardBatch p;
  const int n = b.num_seqs();
  p.max_blocks_per_seq = max_blocks;
  p.block_tables.assign(size_t(padded) * max_blocks, spare_block);
  for (int s = 0; s < padded; ++s) {
    const bool real = s < n;
    p.token_ids.push_back(real ? b.token_ids[s] : 0);
    p.positions.push_back(real ? b.positions[s] : 0);
    p.query_start.push_back(s);
    p.seq_lens.push_back(real ? b.seq_lens[s] : 1);
    p.slot_mapping.push_back(real ? b.slot_mapping[s] : int64_t(spare_block) * block_size);
    p.logits_indices.push_back(s);
    if (real)
      std::copy_n(b.block_tables.begin() + size_t(s) * b.max_blocks_per_seq, b.max_blocks_per_seq,
                  p.block_tables.begin() + size_t(s) * max_blocks);
  }
  p.query_start.push_back(padded);
  return p;
}

}  // namespace

std::vector<int> ModelRunner::enable_decode_graphs(std::vector<int> sizes) {
  std::vector<int> recorded;
  // Expert-parallel steps run collectives between ops, which a recorded graph cannot hold.
  if (!be_.supports_graphs() || moe_dispatcher_) return recorded;
  graph_max_blocks_ = (max_model_len() + kv_.block_size - 1) / kv_.block_size;
  // Largest first: the arena grows to its final size during the first warm-up, so pointers
  // recorded into earlier graphs stay valid for the later ones.
  std::sort(sizes.begin(), sizes.end(), std::greater<int>());
  sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
  for (int size : sizes) {
    if (size <= 0) continue;
    ForwardBatch empty;
    empty.query_start = {0};
    ForwardBatch p = pad_decode_batch(empty, size, graph_max_blocks_, spare_block_, kv_.block_size);
    const StepShape shape{size, size, graph_max_blocks_, size};
    DeviceBatch d = upload_batch(p, graph_scratch_);
    run_model(shape, d, graph_scratch_);  // warm-up: sizes every buffer, outside the capture
    be_.synchronize();
    be_.begin_capture();
    try {
      run_model(shape, d, graph_scratch_);
    } catch (...) {
      // Leave the stream out of capture mode, or every later op on it fails as well.
      try {
        be_.end_capture();
      } catch (...) {  // an invalidated capture ends with an error of its own; the first one counts
      }
      throw;
    }
    decode_graphs_[size] = be_.end_capture();
    recorded.push_back(size);
  }
  // Warm-ups routed padding tokens: start the statistics from zero again.
  for (auto& layer : routed_) std::fill(layer.begin(), layer.end(), 0);
  return recorded;
}

float* ModelRunner::try_replay_graph(const ForwardBatch& b) {
  if (decode_graphs_.empty() || capture_topk_ || !is_pure_decode(b) || b.max_blocks_per_seq > graph_max_blocks_)
    return nullptr;
  auto it = decode_graphs_.lower_bound(b.num_seqs());
  if (it == decode_graphs_.end()) return nullptr;
  const int padded = it->first;
  ForwardBatch p = pad_decode_batch(b, padded, graph_max_blocks_, spare_block_, kv_.block_size);
  upload_batch(p, graph_scratch_);  // same buffers the graph was recorded with
  be_.replay(it->second);
  count_routing(b.num_seqs(), padded - b.num_seqs(), graph_scratch_);
  // The real sequences' rows come first: [n, V] of the graph's [padded, V] logits.
  return graph_scratch_.get<float>("final.logits_f32", size_t(padded) * model_->config.vocab_size);
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
