// The forward pass on shapes no fixture has: random f32 checkpoints of the Mixtral and
// Qwen3-MoE families with odd head counts, GQA ratios 1..8, top-k 1..8, expert counts that are
// not powers of two and head_dim != hidden/heads, compared with a naive per-token, per-expert
// reference written here in double precision. Also checks that prefill-then-decode through the
// paged KV cache equals one full prefill.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/backend/backend.h"
#include "engine/io/safetensors_writer.h"
#include "engine/model/model.h"
#include "engine/model/model_runner.h"
#include "engine/model/single_sequence.h"

namespace fs = std::filesystem;

namespace {

struct Shape {
  std::string family;  // "mixtral" | "qwen3_moe"
  int hidden, heads, kv_heads, head_dim, experts, top_k, inter, layers, vocab;
  bool norm_topk;
};

using Mat = std::vector<float>;  // row-major

struct RefModel {
  Shape s;
  Mat embed, final_norm, lm_head;
  struct Layer {
    Mat in_norm, post_norm, q, k, v, o, q_norm, k_norm, router;
    std::vector<Mat> gate, up, down;  // per expert: [I, D], [I, D], [D, I]
  };
  std::vector<Layer> layers;
};

Mat randn(std::mt19937& rng, size_t n, float scale, float mean = 0.0f) {
  std::normal_distribution<float> d(mean, scale);
  Mat m(n);
  for (float& x : m) x = d(rng);
  return m;
}

RefModel make_model(const Shape& s, uint32_t seed) {
  std::mt19937 rng(seed);
  RefModel m{s, {}, {}, {}, {}};
  const int D = s.hidden, H = s.heads, KV = s.kv_heads, hd = s.head_dim, I = s.inter;
  const float ws = 1.0f / std::sqrt(float(D));
  m.embed = randn(rng, size_t(s.vocab) * D, 1.0f);
  m.final_norm = randn(rng, D, 0.2f, 1.0f);
  m.lm_head = randn(rng, size_t(s.vocab) * D, 0.3f);
  for (int l = 0; l < s.layers; ++l) {
    RefModel::Layer L;
    L.in_norm = randn(rng, D, 0.2f, 1.0f);
    L.post_norm = randn(rng, D, 0.2f, 1.0f);
    L.q = randn(rng, size_t(H) * hd * D, ws);
    L.k = randn(rng, size_t(KV) * hd * D, ws);
    L.v = randn(rng, size_t(KV) * hd * D, ws);
    L.o = randn(rng, size_t(D) * H * hd, 1.0f / std::sqrt(float(H * hd)));
    if (s.family == "qwen3_moe") {
      L.q_norm = randn(rng, hd, 0.2f, 1.0f);
      L.k_norm = randn(rng, hd, 0.2f, 1.0f);
    }
    L.router = randn(rng, size_t(s.experts) * D, 1.0f);
    for (int e = 0; e < s.experts; ++e) {
      L.gate.push_back(randn(rng, size_t(I) * D, ws));
      L.up.push_back(randn(rng, size_t(I) * D, ws));
      L.down.push_back(randn(rng, size_t(D) * I, 1.0f / std::sqrt(float(I))));
    }
    m.layers.push_back(std::move(L));
  }
  return m;
}

void write_checkpoint(const RefModel& m, const fs::path& dir) {
  const Shape& s = m.s;
  fs::create_directories(dir);
  nlohmann::json cfg = {{"architectures", {s.family == "mixtral" ? "MixtralForCausalLM" : "Qwen3MoeForCausalLM"}},
                        {"model_type", s.family},
                        {"vocab_size", s.vocab},
                        {"hidden_size", s.hidden},
                        {"num_hidden_layers", s.layers},
                        {"num_attention_heads", s.heads},
                        {"num_key_value_heads", s.kv_heads},
                        {"head_dim", s.head_dim},
                        {"num_experts_per_tok", s.top_k},
                        {"intermediate_size", s.inter},
                        {"rms_norm_eps", 1e-6},
                        {"rope_theta", 10000.0},
                        {"max_position_embeddings", 128},
                        {"torch_dtype", "float32"},
                        {"tie_word_embeddings", false}};
  if (s.family == "mixtral") {
    cfg["num_local_experts"] = s.experts;
  } else {
    cfg["num_experts"] = s.experts;
    cfg["moe_intermediate_size"] = s.inter;
    cfg["norm_topk_prob"] = s.norm_topk;
  }
  std::ofstream(dir / "config.json") << cfg.dump(2);

  std::vector<sy::TensorToWrite> t;
  auto add = [&](std::string name, std::vector<int64_t> shape, const Mat& data) {
    t.push_back({std::move(name), sy::DType::kF32, std::move(shape), data.data(), data.size() * sizeof(float)});
  };
  const int64_t D = s.hidden, H = s.heads, KV = s.kv_heads, hd = s.head_dim, I = s.inter, E = s.experts;
  add("model.embed_tokens.weight", {s.vocab, D}, m.embed);
  add("model.norm.weight", {D}, m.final_norm);
  add("lm_head.weight", {s.vocab, D}, m.lm_head);
  for (int l = 0; l < s.layers; ++l) {
    const auto& L = m.layers[l];
    std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {D}, L.in_norm);
    add(p + "post_attention_layernorm.weight", {D}, L.post_norm);
    add(p + "self_attn.q_proj.weight", {H * hd, D}, L.q);
    add(p + "self_attn.k_proj.weight", {KV * hd, D}, L.k);
    add(p + "self_attn.v_proj.weight", {KV * hd, D}, L.v);
    add(p + "self_attn.o_proj.weight", {D, H * hd}, L.o);
    if (!L.q_norm.empty()) {
      add(p + "self_attn.q_norm.weight", {hd}, L.q_norm);
      add(p + "self_attn.k_norm.weight", {hd}, L.k_norm);
    }
    const bool mx = s.family == "mixtral";
    std::string moe = p + (mx ? "block_sparse_moe." : "mlp.");
    add(moe + "gate.weight", {E, D}, L.router);
    for (int e = 0; e < E; ++e) {
      std::string ep = moe + "experts." + std::to_string(e) + ".";
      add(ep + (mx ? "w1" : "gate_proj") + ".weight", {I, D}, L.gate[e]);
      add(ep + (mx ? "w3" : "up_proj") + ".weight", {I, D}, L.up[e]);
      add(ep + (mx ? "w2" : "down_proj") + ".weight", {D, I}, L.down[e]);
    }
  }
  sy::write_safetensors(dir / "model.safetensors", t);
}

// ---- naive reference, double precision ----
using Vec = std::vector<double>;

Vec matvec(const Mat& w, const Vec& x, int out, int in) {
  Vec y(out, 0.0);
  for (int o = 0; o < out; ++o)
    for (int i = 0; i < in; ++i) y[o] += double(w[size_t(o) * in + i]) * x[i];
  return y;
}

void rms_norm(Vec& x, size_t off, int n, const Mat& w, double eps) {
  double ss = 0;
  for (int i = 0; i < n; ++i) ss += x[off + i] * x[off + i];
  double r = 1.0 / std::sqrt(ss / n + eps);
  for (int i = 0; i < n; ++i) x[off + i] = x[off + i] * r * w[i];
}

void rope(Vec& x, size_t off, int hd, int pos, double theta) {
  int half = hd / 2;
  Vec out(hd);
  for (int i = 0; i < half; ++i) {
    double inv = 1.0 / std::pow(theta, 2.0 * i / hd);
    double c = std::cos(pos * inv), s = std::sin(pos * inv);
    out[i] = x[off + i] * c - x[off + i + half] * s;
    out[i + half] = x[off + i + half] * c + x[off + i] * s;
  }
  for (int i = 0; i < hd; ++i) x[off + i] = out[i];
}

std::vector<Vec> reference_logits(const RefModel& m, const std::vector<int32_t>& tokens) {
  const Shape& s = m.s;
  const int D = s.hidden, H = s.heads, KV = s.kv_heads, hd = s.head_dim, I = s.inter, E = s.experts;
  const int T = static_cast<int>(tokens.size());
  std::vector<Vec> h(T, Vec(D));
  for (int t = 0; t < T; ++t)
    for (int i = 0; i < D; ++i) h[t][i] = m.embed[size_t(tokens[t]) * D + i];
  for (const auto& L : m.layers) {
    std::vector<Vec> q(T), k(T), v(T);
    for (int t = 0; t < T; ++t) {
      Vec x = h[t];
      rms_norm(x, 0, D, L.in_norm, 1e-6);
      q[t] = matvec(L.q, x, H * hd, D);
      k[t] = matvec(L.k, x, KV * hd, D);
      v[t] = matvec(L.v, x, KV * hd, D);
      for (int hh = 0; hh < H; ++hh) {
        if (!L.q_norm.empty()) rms_norm(q[t], size_t(hh) * hd, hd, L.q_norm, 1e-6);
        rope(q[t], size_t(hh) * hd, hd, t, 10000.0);
      }
      for (int hh = 0; hh < KV; ++hh) {
        if (!L.k_norm.empty()) rms_norm(k[t], size_t(hh) * hd, hd, L.k_norm, 1e-6);
        rope(k[t], size_t(hh) * hd, hd, t, 10000.0);
      }
    }
    for (int t = 0; t < T; ++t) {
      Vec attn(size_t(H) * hd, 0.0);
      for (int hh = 0; hh < H; ++hh) {
        const int kvh = hh / (H / KV);
        std::vector<double> sc(t + 1);
        double mx = -1e300;
        for (int j = 0; j <= t; ++j) {
          double d = 0;
          for (int i = 0; i < hd; ++i) d += q[t][hh * hd + i] * k[j][kvh * hd + i];
          sc[j] = d / std::sqrt(double(hd));
          mx = std::max(mx, sc[j]);
        }
        double z = 0;
        for (double& x : sc) z += (x = std::exp(x - mx));
        for (int j = 0; j <= t; ++j)
          for (int i = 0; i < hd; ++i) attn[hh * hd + i] += sc[j] / z * v[j][kvh * hd + i];
      }
      Vec o = matvec(L.o, attn, D, H * hd);
      for (int i = 0; i < D; ++i) h[t][i] += o[i];
    }
    for (int t = 0; t < T; ++t) {
      Vec x = h[t];
      rms_norm(x, 0, D, L.post_norm, 1e-6);
      Vec logits = matvec(L.router, x, E, D);
      double mx = *std::max_element(logits.begin(), logits.end()), z = 0;
      Vec p(E);
      for (int e = 0; e < E; ++e) z += (p[e] = std::exp(logits[e] - mx));
      for (double& pe : p) pe /= z;
      std::vector<int> order(E);
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
      double wsum = 0;
      for (int j = 0; j < s.top_k; ++j) wsum += p[order[j]];
      const bool renorm = s.family == "mixtral" || s.norm_topk;
      for (int j = 0; j < s.top_k; ++j) {  // one expert at a time: the loop the engine must not have
        const int e = order[j];
        const double w = renorm ? p[e] / wsum : p[e];
        Vec g = matvec(L.gate[e], x, I, D), u = matvec(L.up[e], x, I, D);
        Vec a(I);
        for (int i = 0; i < I; ++i) a[i] = g[i] / (1.0 + std::exp(-g[i])) * u[i];
        Vec y = matvec(L.down[e], a, D, I);
        for (int i = 0; i < D; ++i) h[t][i] += w * y[i];
      }
    }
  }
  std::vector<Vec> out;
  for (int t = 0; t < T; ++t) {
    Vec x = h[t];
    rms_norm(x, 0, D, m.final_norm, 1e-6);
    out.push_back(matvec(m.lm_head, x, s.vocab, D));
  }
  return out;
}

class ModelShapes : public ::testing::TestWithParam<Shape> {};

TEST_P(ModelShapes, ForwardMatchesNaiveReference) {
  const Shape& s = GetParam();
  RefModel ref = make_model(s, 1234u + s.heads * 31 + s.experts * 7 + s.top_k);
  fs::path dir = fs::temp_directory_path() /
                 ("sy_shapes_" + std::to_string(::getpid()) + "_" + s.family + "_" + std::to_string(s.heads) + "_" +
                  std::to_string(s.kv_heads) + "_" + std::to_string(s.experts) + "_" + std::to_string(s.top_k));
  write_checkpoint(ref, dir);
  auto be = sy::make_cpu_backend();
  auto model = sy::load_model(dir, *be);
  std::vector<int32_t> tokens;
  std::mt19937 rng(7);
  for (int i = 0; i < 11; ++i) tokens.push_back(int32_t(rng() % s.vocab));
  const std::vector<Vec> expected = reference_logits(ref, tokens);

  auto check = [&](const std::vector<float>& ours, size_t first_row, const char* what) {
    for (size_t r = 0; r * s.vocab < ours.size(); ++r)
      for (int v = 0; v < s.vocab; ++v) {
        const double e = expected[first_row + r][v];
        ASSERT_NEAR(ours[r * s.vocab + v], e, 2e-4 * std::max(1.0, std::fabs(e)))
            << what << " row " << first_row + r << " token " << v;
      }
  };
  {  // one prefill over all tokens
    sy::ModelRunner runner(model, sy::single_sequence_kv(int(tokens.size()), 4));
    sy::SingleSequence seq(runner);
    check(seq.append(tokens, true), 0, "prefill");
  }
  {  // a prefill chunk, then one token at a time through the paged cache (block size 4)
    sy::ModelRunner runner(model, sy::single_sequence_kv(int(tokens.size()), 4));
    sy::SingleSequence seq(runner);
    std::vector<int32_t> head(tokens.begin(), tokens.begin() + 5);
    check(seq.append(head, true), 0, "chunk");
    for (size_t t = 5; t < tokens.size(); ++t) check(seq.append({tokens[t]}), t, "decode");
  }
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ModelShapes,
    ::testing::Values(
        // family, hidden, heads, kv, head_dim, experts, top_k, inter, layers, vocab, norm_topk
        Shape{"mixtral", 24, 3, 3, 8, 3, 1, 10, 2, 50, true},     // odd heads, MHA, k = 1
        Shape{"mixtral", 32, 8, 1, 4, 5, 2, 12, 1, 40, true},     // GQA 8:1, E = 5
        Shape{"qwen3_moe", 20, 6, 2, 12, 7, 3, 9, 2, 33, true},   // GQA 3:1, hd != D/H
        Shape{"qwen3_moe", 16, 4, 2, 6, 12, 8, 8, 1, 30, false},  // k = 8, no renorm
        Shape{"qwen3_moe", 24, 7, 7, 10, 9, 5, 6, 2, 29, true},   // 7 heads, k = 5
        Shape{"mixtral", 40, 8, 4, 16, 60, 4, 16, 1, 64, true},   // E = 60
        Shape{"qwen3_moe", 12, 5, 1, 8, 6, 6, 4, 1, 21, false}),  // GQA 5:1, k = E
    [](const auto& info) {
      const Shape& s = info.param;
      return s.family + "_h" + std::to_string(s.heads) + "_kv" + std::to_string(s.kv_heads) + "_e" +
             std::to_string(s.experts) + "_k" + std::to_string(s.top_k);
    });

}  // namespace
