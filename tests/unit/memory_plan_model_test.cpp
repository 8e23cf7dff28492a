// The memory planner must count exactly the parameters the loader loads: for every fixture,
// count_weight_params(memory_plan_model(config)) equals the checkpoint's parameter count.
#include <filesystem>

#include <gtest/gtest.h>

#include "engine/io/safetensors.h"
#include "engine/model/memory_plan_model.h"
#include "engine/model/weights.h"

namespace {

TEST(MemoryPlanModel, CountsTheParametersOfEveryFixture) {
  const auto root = std::filesystem::path(SY_TEST_DATA_DIR) / "models";
  for (const char* name : {"mixtral-f32", "qwen2moe-bf16", "qwen3moe-f32", "olmoe-bf16"}) {
    sy::ModelConfig c = sy::ModelConfig::from_model_dir(root / name);
    sy::Checkpoint ck = sy::Checkpoint::open(root / name);
    sy::MemoryPlanModel m = sy::memory_plan_model(c, c.dtype, {});
    EXPECT_EQ(sy::count_weight_params(m), sy::weight_stats(c, ck).total_params) << name;
    EXPECT_EQ(m.weight_bytes, int(sy::dtype_size(c.dtype))) << name;
  }
}

TEST(MemoryPlanModel, RefusesWhenTheWeightsDoNotFit) {
  sy::ModelConfig c =
      sy::ModelConfig::from_model_dir(std::filesystem::path(SY_TEST_DATA_DIR) / "models" / "qwen3moe-bf16");
  sy::MemoryPlanModel m = sy::memory_plan_model(c, sy::DType::kBF16, {.max_tokens_per_step = 64});
  EXPECT_THROW(sy::plan_memory(m, 1000, 0.9), std::runtime_error);
  sy::MemoryPlan plan = sy::plan_memory(m, size_t(1) << 30, 0.9);
  EXPECT_GT(plan.kv_blocks, 0);
}

}  // namespace
