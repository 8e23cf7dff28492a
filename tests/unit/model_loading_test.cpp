// Loading errors name what is wrong: unknown architectures list the supported ones, missing
// config fields and tensors are named, wrong shapes say expected vs found. Also: both rope
// spellings, the dense/MoE layer rule, and that the CLI's `info` facts are computed right.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/backend/backend.h"
#include "engine/io/safetensors.h"
#include "engine/io/safetensors_writer.h"
#include "engine/model/config.h"
#include "engine/model/model.h"
#include "engine/model/rope_table.h"
#include "engine/model/weights.h"

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;

namespace {

const fs::path kModels = fs::path(SY_TEST_DATA_DIR) / "models";

json read_json(const fs::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ModelConfig, UnknownArchitectureListsSupportedOnes) {
  json j = read_json(kModels / "mixtral-f32" / "config.json");
  j["architectures"] = {"LlamaForCausalLM"};
  std::string msg = error_of([&] { sy::ModelConfig::from_json(j, "x/config.json"); });
  EXPECT_THAT(msg, HasSubstr("x/config.json"));
  EXPECT_THAT(msg, HasSubstr("LlamaForCausalLM"));
  for (const char* name : {"MixtralForCausalLM", "Qwen2MoeForCausalLM", "Qwen3MoeForCausalLM", "OlmoeForCausalLM"})
    EXPECT_THAT(msg, HasSubstr(name));
}

TEST(ModelConfig, MissingAndMistypedFieldsAreNamed) {
  json j = read_json(kModels / "qwen3moe-f32" / "config.json");
  j.erase("hidden_size");
  EXPECT_THAT(error_of([&] { sy::ModelConfig::from_json(j); }), HasSubstr("'hidden_size'"));
  j = read_json(kModels / "qwen3moe-f32" / "config.json");
  j["num_attention_heads"] = "four";
  EXPECT_THAT(error_of([&] { sy::ModelConfig::from_json(j); }), HasSubstr("'num_attention_heads'"));
  j = read_json(kModels / "qwen3moe-f32" / "config.json");
  j["num_key_value_heads"] = 3;  // 4 heads are not a multiple of 3
  EXPECT_THAT(error_of([&] { sy::ModelConfig::from_json(j); }), HasSubstr("num_key_value_heads"));
}

TEST(ModelConfig, RopeScalingTypesAreParsedOrRefusedByName) {
  json j = read_json(kModels / "mixtral-f32" / "config.json");
  j.erase("rope_parameters");
  j["rope_theta"] = 5000.0;
  j["rope_scaling"] = {{"type", "linear"}, {"factor", 4.0}};
  sy::ModelConfig c = sy::ModelConfig::from_json(j);
  EXPECT_EQ(c.rope.type, "linear");
  EXPECT_FLOAT_EQ(c.rope.theta, 5000.0f);
  sy::RopeTable linear = sy::make_rope_table(c);
  j["rope_scaling"] = {{"type", "default"}};
  sy::RopeTable plain = sy::make_rope_table(sy::ModelConfig::from_json(j));
  for (size_t i = 0; i < plain.inv_freq.size(); ++i) EXPECT_FLOAT_EQ(linear.inv_freq[i], plain.inv_freq[i] / 4.0f);

  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 64}};
  sy::ModelConfig yarn = sy::ModelConfig::from_json(j);
  sy::RopeTable y = sy::make_rope_table(yarn);
  EXPECT_NEAR(y.attention_factor, 0.1 * std::log(4.0) + 1.0, 1e-6);
  EXPECT_FLOAT_EQ(y.inv_freq[0], plain.inv_freq[0]);  // highest frequency: extrapolated
  EXPECT_NEAR(y.inv_freq.back(), plain.inv_freq.back() / 4.0f, 1e-9);  // lowest: interpolated

  j["rope_scaling"] = {{"rope_type", "longrope"}, {"factor", 4.0}};
  std::string msg = error_of([&] { sy::ModelConfig::from_json(j); });
  EXPECT_THAT(msg, HasSubstr("longrope"));
  EXPECT_THAT(msg, HasSubstr("supported: default, linear, yarn"));
}

TEST(ModelConfig, DenseAndMoeLayersFollowMlpOnlyLayersAndSparseStep) {
  json j = read_json(kModels / "qwen3moe-f32" / "config.json");
  j["num_hidden_layers"] = 6;
  j["mlp_only_layers"] = {0};
  j["decoder_sparse_step"] = 2;
  sy::ModelConfig c = sy::ModelConfig::from_json(j);
  EXPECT_EQ(c.moe_layer, (std::vector<bool>{false, true, false, true, false, true}));
  EXPECT_EQ(c.num_moe_layers(), 3);
}

TEST(ModelConfig, EosIdsComeFromConfigAndGenerationConfig) {
  sy::ModelConfig c = sy::ModelConfig::from_model_dir(kModels / "qwen3moe-bf16");
  json g = read_json(kModels / "qwen3moe-bf16" / "generation_config.json");
  for (int id : g["eos_token_id"]) EXPECT_NE(std::find(c.eos_token_ids.begin(), c.eos_token_ids.end(), id), c.eos_token_ids.end());
}

class BrokenCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sy_broken_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    fs::copy_file(kModels / "olmoe-f32" / "config.json", dir_ / "config.json");
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Rewrites olmoe-f32's tensors into dir_, letting `edit` drop or reshape some.
  void write_tensors(const std::function<bool(sy::TensorToWrite&)>& edit) {
    source_ = std::make_unique<sy::Checkpoint>(sy::Checkpoint::open(kModels / "olmoe-f32"));
    std::vector<sy::TensorToWrite> out;
    for (const auto& name : source_->names()) {
      const sy::TensorInfo& t = source_->get(name);
      sy::TensorToWrite w{t.name, t.dtype, t.shape, t.data, t.nbytes};
      if (edit(w)) out.push_back(w);
    }
    sy::write_safetensors(dir_ / "model.safetensors", out);
  }

  fs::path dir_;
  std::unique_ptr<sy::Checkpoint> source_;
};

TEST_F(BrokenCheckpoint, MissingTensorIsNamed) {
  write_tensors([](sy::TensorToWrite& t) { return t.name != "model.layers.1.mlp.experts.4.up_proj.weight"; });
  auto be = sy::make_cpu_backend();
  std::string msg = error_of([&] { sy::load_model(dir_, *be); });
  EXPECT_THAT(msg, HasSubstr("model.layers.1.mlp.experts.4.up_proj.weight"));
  EXPECT_THAT(msg, HasSubstr("missing"));
}

TEST_F(BrokenCheckpoint, WrongShapeSaysExpectedAndFound) {
  write_tensors([](sy::TensorToWrite& t) {
    if (t.name == "model.layers.0.self_attn.k_proj.weight") {
      t.shape = {t.shape[1], t.shape[0]};  // [KV*hd, D] transposed: same bytes, wrong shape
    }
    return true;
  });
  auto be = sy::make_cpu_backend();
  std::string msg = error_of([&] { sy::load_model(dir_, *be); });
  EXPECT_THAT(msg, HasSubstr("model.layers.0.self_attn.k_proj.weight"));
  EXPECT_THAT(msg, HasSubstr("expected"));
}

TEST(WeightStats, ActiveParamsCountTopKOfTheRoutedExperts) {
  sy::ModelConfig c = sy::ModelConfig::from_model_dir(kModels / "mixtral-f32");
  sy::Checkpoint ck = sy::Checkpoint::open(kModels / "mixtral-f32");
  sy::WeightStats s = sy::weight_stats(c, ck);
  const int64_t per_expert = 3LL * c.moe_intermediate_size * c.hidden_size;
  const int64_t experts = per_expert * c.num_experts * c.num_layers;
  EXPECT_EQ(s.active_params, s.total_params - experts + per_expert * c.top_k * c.num_layers);
  EXPECT_EQ(s.bytes_by_dtype.at("F32"), s.total_params * 4);
  // The fused layout holds the same parameters.
  sy::Checkpoint fused = sy::Checkpoint::open(kModels / "mixtral-f32-fused");
  sy::WeightStats sf = sy::weight_stats(c, fused);
  EXPECT_EQ(sf.total_params, s.total_params);
  EXPECT_EQ(sf.active_params, s.active_params);
}

}  // namespace
