// Memory plan (engine/backend/memory_plan.h): parameter counts against published model sizes,
// the split of free memory, and the refusal messages. CPU only: the plan is pure arithmetic.
#include "engine/backend/memory_plan.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace sy {
namespace {

constexpr size_t kGiB = size_t(1) << 30;

MemoryPlanModel mixtral_8x7b() {
  MemoryPlanModel m;
  m.num_layers = m.num_moe_layers = 32;
  m.hidden = 4096;
  m.num_heads = 32;
  m.num_kv_heads = 8;
  m.head_dim = 128;
  m.num_experts = 8;
  m.top_k = 2;
  m.moe_intermediate = 14336;
  m.vocab = 32000;
  m.max_tokens_per_step = 8192;
  m.max_seqs_per_step = 256;  // the server's default --max-num-seqs
  return m;
}

MemoryPlanModel qwen3_30b_a3b() {
  MemoryPlanModel m;
  m.num_layers = m.num_moe_layers = 48;
  m.hidden = 2048;
  m.num_heads = 32;
  m.num_kv_heads = 4;
  m.head_dim = 128;
  m.num_experts = 128;
  m.top_k = 8;
  m.moe_intermediate = 768;
  m.vocab = 151936;
  m.max_tokens_per_step = 8192;
  m.max_seqs_per_step = 256;  // the server's default --max-num-seqs
  return m;
}

std::string message_of(const MemoryPlanModel& m, size_t free_bytes, double share) {
  try {
    plan_memory(m, free_bytes, share, 0);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

TEST(MemoryPlan, ParameterCountsMatchPublishedSizes) {
  // Mixtral-8x7B: 46.7B parameters; Qwen3-30B-A3B: 30.5B.
  EXPECT_NEAR(double(count_weight_params(mixtral_8x7b())) / 1e9, 46.7, 0.1);
  EXPECT_NEAR(double(count_weight_params(qwen3_30b_a3b())) / 1e9, 30.5, 0.1);
}

TEST(MemoryPlan, TiedEmbeddingsCountOnce) {
  MemoryPlanModel m = qwen3_30b_a3b();
  const int64_t untied = count_weight_params(m);
  m.tied_embeddings = true;
  EXPECT_EQ(untied - count_weight_params(m), m.vocab * m.hidden);
}

TEST(MemoryPlan, SplitsWhatRemainsByKvShare) {
  const MemoryPlanModel m = qwen3_30b_a3b();
  const size_t free_bytes = 80 * kGiB;
  const MemoryPlan plan = plan_memory(m, free_bytes, 0.9);
  EXPECT_EQ(plan.weight_bytes, size_t(count_weight_params(m)) * 2);
  // one block: 16 tokens x 48 layers x 4 kv heads x (128 + 128) x 2 bytes
  EXPECT_EQ(plan.kv_block_bytes, size_t(16) * 48 * 4 * 256 * 2);
  const size_t fixed = plan.weight_bytes + plan.activation_bytes + plan.workspace_bytes;
  ASSERT_LT(fixed, free_bytes);
  const int64_t expected_blocks = int64_t(double(free_bytes - fixed) * 0.9) / int64_t(plan.kv_block_bytes);
  EXPECT_EQ(plan.kv_blocks, expected_blocks);
  EXPECT_EQ(plan.kv_cache_bytes, size_t(plan.kv_blocks) * plan.kv_block_bytes);
  EXPECT_EQ(plan.kv_tokens(), plan.kv_blocks * 16);
  EXPECT_LE(fixed + plan.kv_cache_bytes, free_bytes);
  EXPECT_NE(plan.summary().find("blocks of 16 tokens"), std::string::npos);

  const MemoryPlan half = plan_memory(m, free_bytes, 0.45);
  EXPECT_NEAR(double(half.kv_blocks), double(plan.kv_blocks) / 2, 1.0);
}

TEST(MemoryPlan, ActivationsGrowWithTheStepBudget) {
  MemoryPlanModel m = mixtral_8x7b();
  m.max_tokens_per_step = 512;
  const size_t small = plan_memory(m, 200 * kGiB, 0.5).activation_bytes;
  m.max_tokens_per_step = 8192;
  const size_t large = plan_memory(m, 200 * kGiB, 0.5).activation_bytes;
  EXPECT_GT(large, 8 * small);
}

TEST(MemoryPlan, WorkspaceHoldsTheSamplersScratchForEveryRow) {
  // A non-greedy step sorts every row's vocabulary on the device: 24 bytes per (row, token).
  MemoryPlanModel m = qwen3_30b_a3b();
  m.max_seqs_per_step = 1;
  const size_t one = plan_memory(m, 200 * kGiB, 0.5).workspace_bytes;
  m.max_seqs_per_step = 257;
  const size_t many = plan_memory(m, 200 * kGiB, 0.5).workspace_bytes;
  EXPECT_EQ(many - one, size_t(256) * size_t(m.vocab) * 24);
}

TEST(MemoryPlan, RefusesWhenTheWeightsDoNotFit) {
  // Mixtral-8x7B in bf16 is ~87 GiB: a 24 GiB card cannot hold it.
  const std::string msg = message_of(mixtral_8x7b(), 24 * kGiB, 0.9);
  EXPECT_NE(msg.find("needs 86."), std::string::npos) << msg;
  EXPECT_NE(msg.find("GiB for weights"), std::string::npos) << msg;
  EXPECT_NE(msg.find("activations"), std::string::npos) << msg;
  EXPECT_NE(msg.find("device 0 has 24.00 GiB free"), std::string::npos) << msg;
}

TEST(MemoryPlan, RefusesWhenNoStepFitsInTheKvCache) {
  const MemoryPlanModel m = qwen3_30b_a3b();
  const MemoryPlan fits = plan_memory(m, 80 * kGiB, 1.0);
  const size_t fixed = fits.weight_bytes + fits.activation_bytes + fits.workspace_bytes;
  // Room for only a few blocks after the fixed part: less than one 8192-token step.
  const std::string msg = message_of(m, fixed + 3 * fits.kv_block_bytes, 1.0);
  EXPECT_NE(msg.find("KV cache"), std::string::npos) << msg;
  EXPECT_NE(msg.find("512 blocks"), std::string::npos) << msg;
}

TEST(MemoryPlan, RejectsImpossibleArguments) {
  MemoryPlanModel m = qwen3_30b_a3b();
  EXPECT_THROW(plan_memory(m, 80 * kGiB, 0.0), std::invalid_argument);
  EXPECT_THROW(plan_memory(m, 80 * kGiB, 1.5), std::invalid_argument);
  m.hidden = 0;
  EXPECT_THROW(plan_memory(m, 80 * kGiB, 0.5), std::invalid_argument);
}

}  // namespace
}  // namespace sy
