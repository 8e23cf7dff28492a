#include "engine/model/weights.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "engine/io/safetensors.h"
#include "kernels/cpu/pack.h"

namespace sy {
namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// Reads tensors by name from the checkpoint, validates them and places them on the backend.
class Loader {
 public:
  Loader(const ModelConfig& c, const Checkpoint& ck, Backend& be, const ExpertSelector& experts, WeightFormat format)
      : c_(c), ck_(ck), be_(be), experts_(experts), format_(format) {
    check_weight_format(format, be);
  }

  const TensorInfo& tensor(const std::string& name, const std::vector<int64_t>& shape) const {
    const TensorInfo* t = ck_.find(name);
    if (!t)
      throw std::runtime_error(ck_.dir().string() + ": missing tensor '" + name + "' (expected shape " +
                               shape_str(shape) + ")");
    check(*t, shape);
    return *t;
  }

  void check(const TensorInfo& t, const std::vector<int64_t>& shape) const {
    if (t.shape != shape)
      throw std::runtime_error(t.file + ": tensor '" + t.name + "' has shape " + shape_str(t.shape) + ", expected " +
                               shape_str(shape));
    if (!is_float_dtype(t.dtype))
      throw std::runtime_error(t.file + ": tensor '" + t.name + "' has dtype " + std::string(dtype_name(t.dtype)) +
                               "; weights must be F32, BF16 or F16");
  }

  const TensorInfo* find(const std::string& name) const { return ck_.find(name); }

  Weight load(const std::string& name, const std::vector<int64_t>& shape) const {
    return upload({&tensor(name, shape)}, shape);
  }

  Weight load_optional(const std::string& name, const std::vector<int64_t>& shape) const {
    return ck_.contains(name) ? load(name, shape) : Weight{};
  }

  // A weight some matmul multiplies by: as loaded, or quantised to int8 (WeightFormat).
  Weight matmul(const std::vector<const TensorInfo*>& parts, const std::vector<int64_t>& shape) const {
    return format_ == WeightFormat::kInt8 ? quantize(parts, shape) : upload(parts, shape);
  }
  Weight load_matmul(const std::string& name, const std::vector<int64_t>& shape) const {
    return matmul({&tensor(name, shape)}, shape);
  }

  // Concatenates the parts' bytes in order (stacking along the first dimension) into one weight.
  Weight upload(const std::vector<const TensorInfo*>& parts, const std::vector<int64_t>& shape) const {
    Weight w;
    w.dtype = parts.front()->dtype;
    w.shape = shape;
    const size_t total = fused_bytes(parts, w);
    w.buffer = DeviceBuffer(&be_, total);
    size_t off = 0;
    for (const TensorInfo* p : parts) {
      be_.copy_from_host(static_cast<char*>(w.buffer.get()) + off, p->data, p->nbytes);
      off += p->nbytes;
    }
    return w;
  }

  // The parts stacked along the first dimension ([S, n, k] or [n, k]) quantised to int8 per
  // output row, read straight from the checkpoint mapping: no float copy is made.
  Weight quantize(const std::vector<const TensorInfo*>& parts, const std::vector<int64_t>& shape) const {
    Weight w;
    w.dtype = parts.front()->dtype;
    w.shape = shape;
    fused_bytes(parts, w);
    cpu::WeightSource src;
    src.dtype = w.dtype;
    src.num_experts = shape.size() == 3 ? int(shape[0]) : 1;
    src.n = shape[shape.size() - 2];
    src.k = shape.back();
    const size_t row_bytes = size_t(src.k) * dtype_size(w.dtype);
    // first_row[i]: the stacked row where part i starts.
    std::vector<int64_t> first_row{0};
    for (const TensorInfo* p : parts) first_row.push_back(first_row.back() + int64_t(p->nbytes / row_bytes));
    const int64_t n = src.n;
    src.row = [parts, first_row, row_bytes, n](int e, int64_t r) -> const void* {
      const int64_t g = int64_t(e) * n + r;
      const size_t i = size_t(std::upper_bound(first_row.begin(), first_row.end(), g) - first_row.begin()) - 1;
      return static_cast<const char*>(parts[i]->data) + size_t(g - first_row[i]) * row_bytes;
    };
    w.int8 = std::make_shared<const cpu::PackedWeights>(cpu::quantize_weights_int8(src));
    return w;
  }

  // Total bytes of parts fused into `w`; they must share w's dtype and make up its shape.
  static size_t fused_bytes(const std::vector<const TensorInfo*>& parts, const Weight& w) {
    size_t total = 0;
    for (const TensorInfo* p : parts) {
      if (p->dtype != w.dtype)
        throw std::runtime_error(p->file + ": tensor '" + p->name + "' has dtype " + std::string(dtype_name(p->dtype)) +
                                 " but '" + parts.front()->name + "' has " + std::string(dtype_name(w.dtype)) +
                                 "; tensors fused into one weight must share a dtype");
      total += p->nbytes;
    }
    if (static_cast<int64_t>(total) != w.numel() * static_cast<int64_t>(dtype_size(w.dtype)))
      throw std::runtime_error("internal: fused weight '" + parts.front()->name + "' byte count mismatch");
    return total;
  }

  // gate [I, D] and up [I, D] -> gate_up [2I, D]
  MlpWeights load_mlp(const std::string& prefix, int64_t inter) const {
    const int64_t D = c_.hidden_size;
    MlpWeights m;
    m.intermediate = inter;
    m.gate_up = matmul({&tensor(prefix + "gate_proj.weight", {inter, D}), &tensor(prefix + "up_proj.weight", {inter, D})},
                       {2 * inter, D});
    m.down = load_matmul(prefix + "down_proj.weight", {D, inter});
    return m;
  }

  MoeWeights load_moe(int layer) const {
    const int64_t D = c_.hidden_size, E = c_.num_experts, I = c_.moe_intermediate_size;
    const std::string p = "model.layers." + std::to_string(layer) + ".";
    MoeWeights m;
    // The experts to stack (all, or the ones this rank holds under expert parallelism).
    std::vector<int32_t> ids;
    if (experts_) {
      ids = experts_(layer);
      for (size_t i = 0; i < ids.size(); ++i)
        if (ids[i] < 0 || ids[i] >= E || (i > 0 && ids[i] <= ids[i - 1]))
          throw std::invalid_argument("layer " + std::to_string(layer) +
                                      ": expert selection must be ascending ids in [0, " + std::to_string(E) + ")");
      m.expert_ids = ids;
    } else {
      for (int32_t e = 0; e < E; ++e) ids.push_back(e);
    }
    const int64_t S = int64_t(ids.size());
    // Router: "mlp.gate" (Qwen, OLMoE, transformers v5) or "block_sparse_moe.gate" (Mixtral hub).
    std::string moe = ck_.contains(p + "block_sparse_moe.gate.weight") ? p + "block_sparse_moe." : p + "mlp.";
    m.router = load(moe + "gate.weight", {E, D});

    if (const TensorInfo* fused = find_first({moe + "experts.gate_up_proj", moe + "experts.gate_up_proj.weight"})) {
      // Fused v5 layout: gate_up_proj [E, 2I, D] (gate rows first), down_proj [E, D, I].
      check(*fused, {E, 2 * I, D});
      const TensorInfo* down = find_first({moe + "experts.down_proj", moe + "experts.down_proj.weight"});
      if (!down) throw std::runtime_error(ck_.dir().string() + ": missing tensor '" + moe + "experts.down_proj' (expected shape " +
                                          shape_str({E, D, I}) + ")");
      check(*down, {E, D, I});
      std::vector<TensorInfo> gu = expert_slices(*fused, ids, E), dn = expert_slices(*down, ids, E);
      m.gate_up = matmul(pointers(gu), {S, 2 * I, D});
      m.down = matmul(pointers(dn), {S, D, I});
    } else {
      // Hub layout: one tensor per expert. Mixtral names them w1 (gate), w3 (up), w2 (down).
      const bool mixtral_names = ck_.contains(moe + "experts.0.w1.weight");
      const char* gate = mixtral_names ? "w1" : "gate_proj";
      const char* up = mixtral_names ? "w3" : "up_proj";
      const char* down = mixtral_names ? "w2" : "down_proj";
      std::vector<const TensorInfo*> gu, dn;
      for (int32_t e : ids) {
        std::string ep = moe + "experts." + std::to_string(e) + ".";
        gu.push_back(&tensor(ep + gate + ".weight", {I, D}));
        gu.push_back(&tensor(ep + up + ".weight", {I, D}));
        dn.push_back(&tensor(ep + down + ".weight", {D, I}));
      }
      m.gate_up = matmul(gu, {S, 2 * I, D});
      m.down = matmul(dn, {S, D, I});
    }
    if (c_.shared_expert_intermediate_size > 0) {
      m.shared = load_mlp(p + "mlp.shared_expert.", c_.shared_expert_intermediate_size);
      if (c_.shared_expert_gate) m.shared_gate = load(p + "mlp.shared_expert_gate.weight", {1, D});
    }
    return m;
  }

  AttentionWeights load_attention(int layer) const {
    const int64_t D = c_.hidden_size, H = c_.num_heads, KV = c_.num_kv_heads, hd = c_.head_dim;
    const std::string p = "model.layers." + std::to_string(layer) + ".self_attn.";
    AttentionWeights a;
    a.qkv = matmul({&tensor(p + "q_proj.weight", {H * hd, D}), &tensor(p + "k_proj.weight", {KV * hd, D}),
                    &tensor(p + "v_proj.weight", {KV * hd, D})},
                   {(H + 2 * KV) * hd, D});
    a.o = load_matmul(p + "o_proj.weight", {D, H * hd});
    if (c_.qkv_bias)
      a.qkv_bias = upload({&tensor(p + "q_proj.bias", {H * hd}), &tensor(p + "k_proj.bias", {KV * hd}),
                           &tensor(p + "v_proj.bias", {KV * hd})},
                          {(H + 2 * KV) * hd});
    if (c_.qk_norm == QkNorm::kPerHead) {
      a.q_norm = load(p + "q_norm.weight", {hd});
      a.k_norm = load(p + "k_norm.weight", {hd});
    } else if (c_.qk_norm == QkNorm::kFull) {
      a.q_norm = load(p + "q_norm.weight", {H * hd});
      a.k_norm = load(p + "k_norm.weight", {KV * hd});
    }
    return a;
  }

 private:
  // Expert `ids[i]`'s block of a stacked [E, ...] tensor, as a view into the mapping.
  static std::vector<TensorInfo> expert_slices(const TensorInfo& t, const std::vector<int32_t>& ids, int64_t E) {
    const size_t per_expert = t.nbytes / size_t(E);
    std::vector<TensorInfo> out;
    for (int32_t e : ids) {
      TensorInfo s = t;
      s.data = static_cast<const char*>(t.data) + size_t(e) * per_expert;
      s.nbytes = per_expert;
      out.push_back(std::move(s));
    }
    return out;
  }
  static std::vector<const TensorInfo*> pointers(const std::vector<TensorInfo>& v) {
    std::vector<const TensorInfo*> out;
    for (const TensorInfo& t : v) out.push_back(&t);
    return out;
  }

  const TensorInfo* find_first(std::initializer_list<std::string> names) const {
    for (const auto& n : names)
      if (const TensorInfo* t = ck_.find(n)) return t;
    return nullptr;
  }

  const ModelConfig& c_;
  const Checkpoint& ck_;
  Backend& be_;
  const ExpertSelector& experts_;
  WeightFormat format_;
};

}  // namespace

const char* weight_format_name(WeightFormat f) { return f == WeightFormat::kInt8 ? "int8" : "as-loaded"; }

WeightFormat parse_weight_format(const std::string& value, const std::string& flag) {
  if (value == "as-loaded") return WeightFormat::kAsLoaded;
  if (value == "int8") return WeightFormat::kInt8;
  throw std::invalid_argument(flag + ": '" + value + "' is not a weight dtype (expected as-loaded or int8)");
}

void check_weight_format(WeightFormat format, const Backend& backend) {
  if (format == WeightFormat::kInt8 && !backend.host_accessible())
    throw std::invalid_argument("--weight-dtype int8 runs on the CPU backend only (--device cpu); backend '" +
                                backend.name() + "' needs --weight-dtype as-loaded");
}

int64_t Weight::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

size_t Weight::bytes() const {
  if (int8) return int8->bytes();
  return buffer.get() ? size_t(numel()) * dtype_size(dtype) : 0;
}

size_t ModelWeights::bytes() const {
  size_t total = embed.bytes() + final_norm.bytes() + lm_head.bytes();
  auto mlp = [](const MlpWeights& m) { return m.gate_up.bytes() + m.down.bytes(); };
  for (const LayerWeights& l : layers) {
    const AttentionWeights& a = l.attn;
    total += l.input_norm.bytes() + l.post_attention_norm.bytes();
    for (const Weight* x : {&a.qkv, &a.o, &a.qkv_bias, &a.q_norm, &a.k_norm})
      total += x->bytes();
    if (l.is_moe)
      total += l.moe.router.bytes() + l.moe.gate_up.bytes() + l.moe.down.bytes() + mlp(l.moe.shared) +
               l.moe.shared_gate.bytes();
    else
      total += mlp(l.mlp);
  }
  return total;
}

ModelWeights load_weights(const ModelConfig& c, const Checkpoint& ck, Backend& be, const ExpertSelector& experts,
                          WeightFormat format) {
  Loader ld(c, ck, be, experts, format);
  const int64_t D = c.hidden_size, V = c.vocab_size;
  ModelWeights w;
  w.format = format;
  w.embed = ld.load("model.embed_tokens.weight", {V, D});
  w.layers.resize(c.num_layers);
  for (int l = 0; l < c.num_layers; ++l) {
    LayerWeights& L = w.layers[l];
    const std::string p = "model.layers." + std::to_string(l) + ".";
    L.input_norm = ld.load(p + "input_layernorm.weight", {D});
    L.post_attention_norm = ld.load(p + "post_attention_layernorm.weight", {D});
    L.attn = ld.load_attention(l);
    L.is_moe = c.is_moe_layer(l);
    if (L.is_moe) L.moe = ld.load_moe(l);
    else L.mlp = ld.load_mlp(p + "mlp.", c.intermediate_size);
  }
  w.final_norm = ld.load("model.norm.weight", {D});
  if (!c.tie_word_embeddings) w.lm_head = ld.load_matmul("lm_head.weight", {V, D});
  // Tied: the lookup keeps the float embedding; the output projection streams an int8 copy.
  else if (format == WeightFormat::kInt8) w.lm_head = ld.load_matmul("model.embed_tokens.weight", {V, D});
  return w;
}

MoeWeights load_moe_layer(const ModelConfig& c, const Checkpoint& ck, Backend& be, int layer,
                          const std::vector<int32_t>& experts, WeightFormat format) {
  if (layer < 0 || layer >= c.num_layers || !c.is_moe_layer(layer))
    throw std::invalid_argument("load_moe_layer: layer " + std::to_string(layer) + " is not a MoE layer");
  const ExpertSelector select = [&](int) { return experts; };
  return Loader(c, ck, be, select, format).load_moe(layer);
}

WeightStats weight_stats(const ModelConfig& c, const Checkpoint& ck) {
  WeightStats s;
  int64_t expert_params = 0;
  for (const auto& name : ck.names()) {
    const TensorInfo& t = ck.get(name);
    s.total_params += t.numel();
    s.bytes_by_dtype[std::string(dtype_name(t.dtype))] += static_cast<int64_t>(t.nbytes);
    // Routed-expert tensors: "...experts.<e>..." (hub) or "...experts.gate_up_proj/down_proj" (fused).
    if (name.find(".experts.") != std::string::npos) expert_params += t.numel();
  }
  // Per token only top_k of num_experts routed experts run.
  int64_t active_experts = c.num_experts > 0 ? expert_params / c.num_experts * c.top_k : 0;
  s.active_params = s.total_params - expert_params + active_experts;
  return s;
}

}  // namespace sy
