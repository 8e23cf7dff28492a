// Parity with transformers: for every fixture model (tests/data/models, made by
// tools/make_fixtures.py with transformers 5.23), our CPU forward must reproduce transformers'
// logits, layer-0 router choices and 16-token greedy continuations.
//
// Tolerances (measured against float64 and f32 runs of transformers on the same weights):
//  - f32: |logit diff| <= 1e-3 for logits up to 100 in magnitude, scaled with the row's largest
//    |logit| above that (1e-5 relative). The fixtures have logits in the hundreds on purpose
//    (large top-1 margins keep bf16 greedy runs stable), and at that scale fp32 itself is the
//    limit: transformers' own f32 logits differ from a float64 run of the same model by up to
//    1.3e-3 (max |logit| 656-834), and ours by up to 1.6e-3 — the same noise floor. Each is
//    within ~1e-5 of the row maximum from float64, so their difference is within 2e-5.
//  - bf16: we reproduce transformers' bf16 rounding points, so most logits are bit-identical
//    (Qwen2/Qwen3/OLMoE prompts) and 99% are within 2 bf16 ulps of the row's largest |logit|.
//    A few rows differ more: one fp32 summation-order difference can flip a bf16 rounding or a
//    near-tied router choice, and the token's path then legitimately differs. For scale,
//    transformers' bf16 logits differ from its own f32 run on the same weights by up to 51% of
//    the row maximum. Seen: qwen3moe-bf16 prompt 2 position 4, where layer 2's router gives
//    experts 2 and 6 the identical bf16 logit 4.6875 for the third top-k slot. We require:
//    <= 1% of logits beyond 2 ulps, none beyond 25% of the row maximum, and argmax equality
//    wherever transformers' top-1/top-2 margin exceeds 4 ulps, but at one position per prompt
//    (or 3%, if more).
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/backend/backend.h"
#include "engine/model/model.h"
#include "engine/model/model_runner.h"
#include "engine/model/single_sequence.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const fs::path kModels = fs::path(SY_TEST_DATA_DIR) / "models";

struct Goldens {
  json j;
  fs::path dir;  // where logits_*.bin live
};

Goldens load_goldens(const std::string& model) {
  fs::path p = kModels / model / "goldens" / "goldens.json";
  if (!fs::exists(p)) p = kModels / model / "goldens.json";
  std::ifstream in(p);
  json j = json::parse(in);
  if (j.contains("goldens")) {  // a redirect: {"goldens": "../other/goldens/goldens.json"}
    p = (p.parent_path() / j["goldens"].get<std::string>()).lexically_normal();
    std::ifstream in2(p);
    j = json::parse(in2);
  }
  return {j, p.parent_path()};
}

std::vector<float> read_f32(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  in.seekg(0, std::ios::end);
  size_t n = static_cast<size_t>(in.tellg()) / sizeof(float);
  in.seekg(0);
  std::vector<float> v(n);
  in.read(reinterpret_cast<char*>(v.data()), n * sizeof(float));
  return v;
}

class ModelParity : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    backend_ = sy::make_cpu_backend();
    model_ = sy::load_model(kModels / GetParam(), *backend_);
    goldens_ = load_goldens(GetParam());
  }
  bool is_bf16() const { return model_->config.dtype == sy::DType::kBF16; }

  std::unique_ptr<sy::Backend> backend_;
  std::shared_ptr<sy::Model> model_;
  Goldens goldens_;
};

TEST_P(ModelParity, LogitsMatchTransformers) {
  const auto& prompts = goldens_.j["prompts"];
  const int V = model_->config.vocab_size;
  ASSERT_EQ(goldens_.j["vocab_size"].get<int>(), V);
  for (size_t p = 0; p < prompts.size(); ++p) {
    std::vector<int32_t> tokens = prompts[p].get<std::vector<int32_t>>();
    sy::ModelRunner runner(model_, sy::single_sequence_kv(static_cast<int>(tokens.size())));
    sy::SingleSequence seq(runner);
    std::vector<float> ours = seq.append(tokens, /*all_positions=*/true);
    std::vector<float> ref = read_f32(goldens_.dir / goldens_.j["logits_files"][p].get<std::string>());
    ASSERT_EQ(ours.size(), ref.size()) << "prompt " << p;
    double worst = 0;
    int64_t beyond_2ulp = 0, argmax_mismatches = 0;
    for (size_t r = 0; r < tokens.size(); ++r) {
      const float* o = &ours[r * V];
      const float* g = &ref[r * V];
      float row_max = 0;
      for (int v = 0; v < V; ++v) row_max = std::max(row_max, std::fabs(g[v]));
      const float ulp2 = row_max / 128.0f;  // 2 bf16 ulps at the row's largest magnitude
      const float tol = is_bf16() ? 0.25f * row_max : std::max(1e-3f, 2e-5f * row_max);
      for (int v = 0; v < V; ++v) {
        float d = std::fabs(o[v] - g[v]);
        worst = std::max(worst, double(d));
        beyond_2ulp += d > ulp2;
        ASSERT_LE(d, tol) << GetParam() << " prompt " << p << " position " << r << " token " << v << ": ours " << o[v]
                          << " transformers " << g[v];
      }
      // Argmax must agree unless transformers' own top-2 margin is within bf16 precision.
      int g_top = sy::argmax(g, V);
      float second = -INFINITY;
      for (int v = 0; v < V; ++v)
        if (v != g_top) second = std::max(second, g[v]);
      if (g[g_top] - second > 2 * ulp2 || !is_bf16()) {
        const bool same = sy::argmax(o, V) == g_top;
        if (!is_bf16()) EXPECT_TRUE(same) << GetParam() << " prompt " << p << " position " << r;
        argmax_mismatches += !same;
      }
    }
    EXPECT_LE(argmax_mismatches, std::max<int64_t>(1, int64_t(tokens.size()) * 3 / 100))
        << GetParam() << " prompt " << p << ": argmax differs at " << argmax_mismatches << " positions";
    if (is_bf16()) {
      EXPECT_LE(beyond_2ulp, int64_t(tokens.size()) * V / 100)
          << GetParam() << " prompt " << p << ": too many logits beyond 2 bf16 ulps";
    }
    RecordProperty("max_abs_logit_diff_prompt" + std::to_string(p), std::to_string(worst));
  }
}

TEST_P(ModelParity, LayerZeroTopKExpertsMatchTransformers) {
  const auto& prompts = goldens_.j["prompts"];
  const auto& expected = goldens_.j["layer0_topk"];
  const int K = model_->config.top_k;
  ASSERT_TRUE(model_->config.is_moe_layer(0));
  for (size_t p = 0; p < prompts.size(); ++p) {
    std::vector<int32_t> tokens = prompts[p].get<std::vector<int32_t>>();
    sy::ModelRunner runner(model_, sy::single_sequence_kv(static_cast<int>(tokens.size())));
    runner.set_capture_topk(true);
    sy::SingleSequence seq(runner);
    seq.append(tokens);
    const std::vector<int32_t>& ids = runner.captured_topk().at(0);
    ASSERT_EQ(ids.size(), tokens.size() * K);
    for (size_t t = 0; t < tokens.size(); ++t) {
      std::vector<int32_t> ours(ids.begin() + t * K, ids.begin() + (t + 1) * K);
      EXPECT_EQ(ours, expected[p][t].get<std::vector<int32_t>>()) << GetParam() << " prompt " << p << " token " << t;
    }
  }
}

TEST_P(ModelParity, GreedyContinuationMatchesTransformers) {
  const auto& prompts = goldens_.j["prompts"];
  // transformers generated with min_new_tokens=16, which masks the EOS logits at every step.
  std::vector<int32_t> suppressed = goldens_.j.value("suppressed_token_ids", std::vector<int32_t>{});
  const int V = model_->config.vocab_size;
  for (size_t p = 0; p < prompts.size(); ++p) {
    std::vector<int32_t> tokens = prompts[p].get<std::vector<int32_t>>();
    std::vector<int32_t> expected = goldens_.j["greedy"][p].get<std::vector<int32_t>>();
    sy::ModelRunner runner(model_, sy::single_sequence_kv(static_cast<int>(tokens.size() + expected.size())));
    sy::SingleSequence seq(runner);
    std::vector<float> logits = seq.append(tokens);
    std::vector<int32_t> ours;
    for (size_t i = 0; i < expected.size(); ++i) {
      for (int32_t s : suppressed) logits[s] = -INFINITY;
      int32_t next = sy::argmax(logits.data(), V);
      ours.push_back(next);
      if (i + 1 < expected.size()) logits = seq.append({next});
    }
    EXPECT_EQ(ours, expected) << GetParam() << " prompt " << p;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ModelParity,
                         ::testing::Values("mixtral-f32", "mixtral-bf16", "mixtral-f32-fused", "qwen2moe-f32",
                                           "qwen2moe-bf16", "qwen3moe-f32", "qwen3moe-bf16", "olmoe-f32",
                                           "olmoe-bf16"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

}  // namespace
