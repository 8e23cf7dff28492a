// The memory planner must count exactly the parameters the loader loads: for every fixture,
// count_weight_params(memory_plan_model(config)) equals the checkpoint's parameter count.
#include <filesystem>

#include <gtest/gtest.h>

#include "engine/io/safetensors.h"
#include "engine/model/memory_plan_model.h"
#include "engine/model/model.h"
#include "engine/model/weights.h"
#include "engine/backend/backend.h"
#include "tests/unit/forwarding_backend.h"

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

namespace {

// A CPU backend that calls itself a device with a chosen amount of free memory, so load_model
// takes its device path (plan before loading).
class SmallDevice final : public sy::test::ForwardingBackend {
 public:
  explicit SmallDevice(size_t free) : free_(free) {}
  std::string name() const override { return "small-device"; }
  bool host_accessible() const override { return false; }
  size_t free_memory() const override { return free_; }
  size_t total_memory() const override { return free_; }

 private:
  size_t free_;
};

TEST(LoadModel, DeviceBackendsArePlannedBeforeLoading) {
  const auto dir = std::filesystem::path(SY_TEST_DATA_DIR) / "models" / "qwen3moe-bf16";
  SmallDevice tiny(4096);
  try {
    sy::load_model(dir, tiny);
    FAIL() << "a 4 KiB device cannot hold the model";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("not enough device memory"), std::string::npos) << e.what();
  }
  SmallDevice roomy(size_t(1) << 30);
  auto model = sy::load_model(dir, roomy, {}, {.kv_share = 0.5, .max_tokens_per_step = 64, .block_size = 16});
  ASSERT_TRUE(model->memory_plan.has_value());
  EXPECT_GT(model->memory_plan->kv_blocks, 0);
  EXPECT_EQ(model->memory_plan->free_bytes, size_t(1) << 30);
  auto be = sy::make_cpu_backend();
  EXPECT_FALSE(sy::load_model(dir, *be)->memory_plan.has_value());  // host RAM is not planned
}

}  // namespace
