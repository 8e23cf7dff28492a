#include "engine/model/config.h"

#include <fstream>
#include <stdexcept>

namespace sy {
namespace {

using nlohmann::json;

struct ArchName {
  Architecture arch;
  const char* name;
  const char* model_type;
};
constexpr ArchName kArchitectures[] = {
    {Architecture::kMixtral, "MixtralForCausalLM", "mixtral"},
    {Architecture::kQwen2Moe, "Qwen2MoeForCausalLM", "qwen2_moe"},
    {Architecture::kQwen3Moe, "Qwen3MoeForCausalLM", "qwen3_moe"},
    {Architecture::kOlmoe, "OlmoeForCausalLM", "olmoe"},
};

[[noreturn]] void fail(const std::string& source, const std::string& msg) {
  throw std::runtime_error(source + ": " + msg);
}

// Reads an optional field, treating JSON null as absent; wrong types name the key.
template <typename T>
std::optional<T> opt(const json& j, const char* key, const std::string& source) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    fail(source, std::string("field '") + key + "' has the wrong type (" + it->type_name() + ")");
  }
}

template <typename T>
T req(const json& j, const char* key, const std::string& source) {
  auto v = opt<T>(j, key, source);
  if (!v) fail(source, std::string("missing required field '") + key + "'");
  return *v;
}

int positive(int v, const char* key, const std::string& source) {
  if (v <= 0) fail(source, std::string("field '") + key + "' must be positive, got " + std::to_string(v));
  return v;
}

DType parse_dtype(const std::string& s, const std::string& source) {
  if (s == "float32" || s == "fp32") return DType::kF32;
  if (s == "bfloat16" || s == "bf16") return DType::kBF16;
  if (s == "float16" || s == "fp16" || s == "half") return DType::kF16;
  fail(source, "unsupported dtype '" + s + "' (supported: float32, bfloat16, float16)");
}

// eos_token_id may be an int or a list of ints.
void add_eos(const json& j, std::vector<int>& out) {
  auto it = j.find("eos_token_id");
  if (it == j.end() || it->is_null()) return;
  auto add = [&](int v) {
    for (int e : out)
      if (e == v) return;
    out.push_back(v);
  };
  if (it->is_number_integer()) add(it->get<int>());
  if (it->is_array())
    for (const auto& v : *it)
      if (v.is_number_integer()) add(v.get<int>());
}

RopeConfig parse_rope(const json& j, const std::string& source) {
  RopeConfig r;
  // transformers v5 writes rope_parameters; hub checkpoints write rope_theta + rope_scaling.
  json params = json::object();
  if (auto it = j.find("rope_parameters"); it != j.end() && it->is_object()) params = *it;
  if (auto it = j.find("rope_scaling"); it != j.end() && it->is_object())
    for (auto& [k, v] : it->items()) params[k] = v;
  if (auto t = opt<float>(j, "rope_theta", source)) r.theta = *t;
  if (auto t = opt<float>(params, "rope_theta", source)) r.theta = *t;
  if (auto p = opt<float>(j, "partial_rotary_factor", source)) r.partial_rotary_factor = *p;
  if (auto p = opt<float>(params, "partial_rotary_factor", source)) r.partial_rotary_factor = *p;
  std::string type = "default";
  if (auto t = opt<std::string>(params, "type", source)) type = *t;
  if (auto t = opt<std::string>(params, "rope_type", source)) type = *t;
  if (type != "default" && type != "linear" && type != "yarn")
    fail(source, "rope scaling type '" + type + "' is not supported (supported: default, linear, yarn)");
  r.type = type;
  if (type == "default") return r;
  r.factor = req<float>(params, "factor", source + ": rope scaling");
  if (r.factor <= 0) fail(source, "rope scaling factor must be positive");
  if (type == "yarn") {
    if (auto v = opt<int>(params, "original_max_position_embeddings", source)) r.original_max_position = *v;
    if (auto v = opt<float>(params, "beta_fast", source)) r.beta_fast = *v;
    if (auto v = opt<float>(params, "beta_slow", source)) r.beta_slow = *v;
    if (auto v = opt<float>(params, "mscale", source)) r.mscale = *v;
    if (auto v = opt<float>(params, "mscale_all_dim", source)) r.mscale_all_dim = *v;
    if (auto v = opt<bool>(params, "truncate", source)) r.truncate = *v;
    r.attention_factor = opt<float>(params, "attention_factor", source);
  }
  return r;
}

}  // namespace

const char* architecture_name(Architecture a) {
  for (const auto& e : kArchitectures)
    if (e.arch == a) return e.name;
  return "?";
}

std::string supported_architectures() {
  std::string s;
  for (const auto& e : kArchitectures) {
    if (!s.empty()) s += ", ";
    s += e.name;
  }
  return s;
}

int ModelConfig::rotary_dim() const {
  int d = static_cast<int>(static_cast<float>(head_dim) * rope.partial_rotary_factor);
  return d - d % 2;
}

int ModelConfig::num_moe_layers() const {
  int n = 0;
  for (bool m : moe_layer) n += m;
  return n;
}

ModelConfig ModelConfig::from_json(const json& j, const std::string& source) {
  if (!j.is_object()) fail(source, "expected a JSON object");
  ModelConfig c;

  // Architecture: "architectures": ["XForCausalLM"], else model_type.
  std::optional<Architecture> arch;
  std::string seen;
  if (auto it = j.find("architectures"); it != j.end() && it->is_array() && !it->empty() && (*it)[0].is_string()) {
    seen = (*it)[0].get<std::string>();
    for (const auto& e : kArchitectures)
      if (seen == e.name) arch = e.arch;
  } else if (auto mt = opt<std::string>(j, "model_type", source)) {
    seen = "model_type " + *mt;
    for (const auto& e : kArchitectures)
      if (*mt == e.model_type) arch = e.arch;
  }
  if (!arch)
    fail(source, "architecture '" + (seen.empty() ? std::string("(none given)") : seen) +
                     "' is not supported; supported: " + supported_architectures());
  c.arch = *arch;
  c.model_type = opt<std::string>(j, "model_type", source).value_or("");

  auto dtype = opt<std::string>(j, "dtype", source);
  if (!dtype) dtype = opt<std::string>(j, "torch_dtype", source);
  if (dtype) {
    c.dtype = parse_dtype(*dtype, source);
    c.dtype_given = true;
  }

  c.vocab_size = positive(req<int>(j, "vocab_size", source), "vocab_size", source);
  c.hidden_size = positive(req<int>(j, "hidden_size", source), "hidden_size", source);
  c.num_layers = positive(req<int>(j, "num_hidden_layers", source), "num_hidden_layers", source);
  c.num_heads = positive(req<int>(j, "num_attention_heads", source), "num_attention_heads", source);
  c.num_kv_heads = positive(opt<int>(j, "num_key_value_heads", source).value_or(c.num_heads),
                            "num_key_value_heads", source);
  if (c.num_heads % c.num_kv_heads != 0)
    fail(source, "num_attention_heads (" + std::to_string(c.num_heads) + ") is not a multiple of num_key_value_heads (" +
                     std::to_string(c.num_kv_heads) + ")");
  c.head_dim = opt<int>(j, "head_dim", source).value_or(c.hidden_size / c.num_heads);
  positive(c.head_dim, "head_dim", source);
  c.max_position_embeddings = opt<int>(j, "max_position_embeddings", source).value_or(4096);
  c.rms_norm_eps = opt<float>(j, "rms_norm_eps", source).value_or(1e-6f);
  c.rope = parse_rope(j, source);
  c.tie_word_embeddings = opt<bool>(j, "tie_word_embeddings", source).value_or(false);
  c.bos_token_id = opt<int>(j, "bos_token_id", source);
  add_eos(j, c.eos_token_ids);

  const bool is_mixtral = c.arch == Architecture::kMixtral;
  c.num_experts = is_mixtral ? req<int>(j, "num_local_experts", source)
                             : opt<int>(j, "num_experts", source).value_or(opt<int>(j, "num_local_experts", source).value_or(0));
  c.top_k = req<int>(j, "num_experts_per_tok", source);
  if (c.num_experts > 0 && (c.top_k <= 0 || c.top_k > c.num_experts))
    fail(source, "num_experts_per_tok (" + std::to_string(c.top_k) + ") must be in [1, " + std::to_string(c.num_experts) + "]");
  c.intermediate_size = req<int>(j, "intermediate_size", source);

  std::vector<int> mlp_only;
  int sparse_step = 1;
  std::optional<int> window = opt<int>(j, "sliding_window", source);
  c.sliding_window_per_layer.assign(c.num_layers, 0);

  switch (c.arch) {
    case Architecture::kMixtral:
      // Mixtral's intermediate_size is the expert size; every layer is MoE; always renormalised.
      c.moe_intermediate_size = c.intermediate_size;
      c.norm_topk_prob = true;
      if (window && *window > 0) c.sliding_window_per_layer.assign(c.num_layers, *window);
      break;
    case Architecture::kQwen2Moe:
    case Architecture::kQwen3Moe: {
      c.moe_intermediate_size = req<int>(j, "moe_intermediate_size", source);
      c.norm_topk_prob = opt<bool>(j, "norm_topk_prob", source).value_or(false);
      mlp_only = opt<std::vector<int>>(j, "mlp_only_layers", source).value_or(std::vector<int>{});
      sparse_step = opt<int>(j, "decoder_sparse_step", source).value_or(1);
      if (sparse_step <= 0) fail(source, "decoder_sparse_step must be positive");
      if (c.arch == Architecture::kQwen2Moe) {
        c.qkv_bias = opt<bool>(j, "qkv_bias", source).value_or(true);
        c.shared_expert_intermediate_size = opt<int>(j, "shared_expert_intermediate_size", source).value_or(0);
        c.shared_expert_gate = c.shared_expert_intermediate_size > 0;
        // Sliding window per layer_types (v5) or the use_sliding_window/max_window_layers rule.
        bool use_sw = opt<bool>(j, "use_sliding_window", source).value_or(false);
        int max_window_layers = opt<int>(j, "max_window_layers", source).value_or(c.num_layers);
        auto layer_types = opt<std::vector<std::string>>(j, "layer_types", source);
        for (int i = 0; i < c.num_layers; ++i) {
          bool sliding = layer_types ? (i < static_cast<int>(layer_types->size()) && (*layer_types)[i] == "sliding_attention")
                                     : (use_sw && (i + 1) % 2 == 1 && i < max_window_layers);
          if (sliding && use_sw && window && *window > 0) c.sliding_window_per_layer[i] = *window;
        }
      } else {
        c.qkv_bias = opt<bool>(j, "attention_bias", source).value_or(false);
        c.qk_norm = QkNorm::kPerHead;
        if (window && *window > 0 && opt<bool>(j, "use_sliding_window", source).value_or(true))
          c.sliding_window_per_layer.assign(c.num_layers, *window);
      }
      break;
    }
    case Architecture::kOlmoe:
      c.moe_intermediate_size = c.intermediate_size;
      c.norm_topk_prob = opt<bool>(j, "norm_topk_prob", source).value_or(false);
      c.qkv_bias = opt<bool>(j, "attention_bias", source).value_or(false);
      c.qk_norm = QkNorm::kFull;
      c.clip_qkv = opt<float>(j, "clip_qkv", source);
      if (c.clip_qkv) fail(source, "clip_qkv is not supported (released OLMoE checkpoints set it to null)");
      break;
  }

  c.moe_layer.assign(c.num_layers, false);
  for (int i = 0; i < c.num_layers; ++i) {
    bool only_mlp = false;
    for (int l : mlp_only) only_mlp |= (l == i);
    c.moe_layer[i] = !only_mlp && c.num_experts > 0 && (i + 1) % sparse_step == 0;
  }
  if (c.num_moe_layers() > 0) {
    positive(c.moe_intermediate_size, "moe_intermediate_size", source);
  }
  return c;
}

ModelConfig ModelConfig::from_model_dir(const std::filesystem::path& dir) {
  auto read_json = [](const std::filesystem::path& p) {
    std::ifstream in(p);
    if (!in) throw std::runtime_error(p.string() + ": cannot open");
    try {
      return json::parse(in);
    } catch (const json::exception& e) {
      throw std::runtime_error(p.string() + ": invalid JSON: " + e.what());
    }
  };
  if (!std::filesystem::is_directory(dir)) throw std::runtime_error(dir.string() + ": not a model directory");
  auto path = dir / "config.json";
  ModelConfig c = from_json(read_json(path), path.string());
  auto gen = dir / "generation_config.json";
  if (std::filesystem::exists(gen)) {
    auto g = read_json(gen);
    add_eos(g, c.eos_token_ids);
    if (!c.bos_token_id) c.bos_token_id = opt<int>(g, "bos_token_id", gen.string());
  }
  return c;
}

}  // namespace sy
