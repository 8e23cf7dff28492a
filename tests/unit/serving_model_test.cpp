// Engine + the real ModelRunner on the bundled tiny model (tests/data/models/qwen3moe-bf16):
// streamed greedy tokens equal transformers' goldens, alone and batched with 31 other requests
// under chunked prefill, prefix-cache hits and preemption; text and stop strings through the
// model's tokenizer.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "engine/backend/backend.h"
#include "engine/model/model.h"
#include "engine/model/model_runner.h"
#include "engine/serving/detokenizer_stream.h"
#include "engine/serving/engine.h"
#include "engine/tokenizer/tokenizer.h"
#include "request_collector.h"

namespace sy {
namespace {

using namespace std::chrono_literals;
const std::string kModelDir = SY_TEST_DATA_DIR "/models/qwen3moe-bf16";

using Stream = testing::RequestCollector;

class ServingModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    backend_ = make_cpu_backend().release();
    model_ = load_model(kModelDir, *backend_);
    tokenizer_ = Tokenizer::from_model_dir(kModelDir);
    std::ifstream in(kModelDir + "/goldens/goldens.json");
    goldens_ = nlohmann::json::parse(in);
  }
  static void TearDownTestSuite() {
    model_.reset();
    delete backend_;
  }

  std::unique_ptr<Engine> make_engine(int32_t num_blocks, int32_t block_size, int32_t budget) {
    runner_ = std::make_shared<ModelRunner>(model_, KvCacheGeometry{num_blocks, block_size});
    EngineConfig cfg;
    cfg.scheduler.max_num_seqs = 32;
    cfg.scheduler.max_num_batched_tokens = budget;
    cfg.eos_token_ids.assign(model_->config.eos_token_ids.begin(), model_->config.eos_token_ids.end());
    auto e = std::make_unique<Engine>(runner_, make_detokenizer_stream_factory(tokenizer_), cfg);
    e->start();
    return e;
  }
  static void submit(Engine& e, std::vector<int32_t> prompt, SamplingParams p, Stream& s) {
    RequestSpec spec;
    spec.prompt_token_ids = std::move(prompt);
    spec.params = std::move(p);
    auto slot = e.reserve_queue_slot();
    ASSERT_TRUE(slot);
    auto r = e.submit(std::move(spec), s.sink(), std::move(*slot));
    ASSERT_FALSE(r.error) << r.error->to_string();
  }
  // The goldens' decoding: greedy, 16 tokens, EOS masked throughout (min_new_tokens=16).
  static SamplingParams golden_params() {
    SamplingParams p;
    p.temperature = 0;
    p.max_tokens = 16;
    p.min_tokens = 16;
    return p;
  }
  std::vector<int32_t> prompt(size_t i) { return goldens_["prompts"][i].get<std::vector<int32_t>>(); }
  std::vector<int32_t> golden(size_t i) { return goldens_["greedy"][i].get<std::vector<int32_t>>(); }

  static Backend* backend_;
  static std::shared_ptr<Model> model_;
  static std::shared_ptr<const Tokenizer> tokenizer_;
  static nlohmann::json goldens_;
  std::shared_ptr<ModelRunner> runner_;
};
Backend* ServingModel::backend_ = nullptr;
std::shared_ptr<Model> ServingModel::model_;
std::shared_ptr<const Tokenizer> ServingModel::tokenizer_;
nlohmann::json ServingModel::goldens_;

TEST_F(ServingModel, GreedyStreamsEqualTheGoldens) {
  auto engine = make_engine(256, 16, 256);
  for (size_t i = 0; i < goldens_["prompts"].size(); ++i) {
    Stream s;
    submit(*engine, prompt(i), golden_params(), s);
    ASSERT_TRUE(s.wait(60s)) << "prompt " << i;
    EXPECT_EQ(s.tokens(), golden(i)) << "prompt " << i;
    EXPECT_EQ(s.finish(), FinishReason::kLength);
    EXPECT_EQ(s.text(), tokenizer_->decode(golden(i), true));
  }
}

TEST_F(ServingModel, BatchedWith31OthersUnderPreemptionAndPrefixHits) {
  // 40 blocks of 4 tokens for 32 requests of up to ~60 tokens: preemption is certain; a budget
  // of 32 tokens per step chunks every prompt longer than that.
  auto engine = make_engine(40, 4, 32);
  const size_t probe_index = 2;  // the 33-token prompt
  std::vector<std::unique_ptr<Stream>> others;
  Stream probe;
  for (int i = 0; i < 31; ++i) {
    std::vector<int32_t> p = prompt(probe_index);
    if (i % 4 == 0) {
      p.resize(static_cast<size_t>(8 + i));  // a prefix of the probe: prefix-cache hits
    } else {
      p.resize(static_cast<size_t>(1 + (i * 7) % 40));
      for (size_t k = 0; k < p.size(); ++k) p[k] = static_cast<int32_t>((k * 31 + i * 17) % 300);
    }
    SamplingParams sp;
    sp.temperature = 0;
    sp.max_tokens = 4 + i % 13;
    sp.ignore_eos = true;
    others.push_back(std::make_unique<Stream>());
    submit(*engine, p, sp, *others.back());
    if (i == 12) submit(*engine, prompt(probe_index), golden_params(), probe);
  }
  ASSERT_TRUE(probe.wait(60s));
  for (auto& o : others) ASSERT_TRUE(o->wait(60s));
  EXPECT_EQ(probe.tokens(), golden(probe_index));
  const EngineMetrics m = engine->metrics();
  EXPECT_GT(m.preemptions, 0u);
  EXPECT_GT(m.prefix_cache_hit_tokens, 0u);
}

TEST_F(ServingModel, StopStringEndsTheTextBeforeIt) {
  auto engine = make_engine(256, 16, 256);
  Stream full;
  submit(*engine, prompt(1), golden_params(), full);
  ASSERT_TRUE(full.wait(60s));
  const std::string full_text = full.text();
  ASSERT_GE(full_text.size(), 6u);
  SamplingParams p = golden_params();
  p.min_tokens = 0;
  p.ignore_eos = true;
  p.stop = {full_text.substr(full_text.size() / 2, 3)};
  Stream stopped;
  submit(*engine, prompt(1), p, stopped);
  ASSERT_TRUE(stopped.wait(60s));
  EXPECT_EQ(stopped.finish(), FinishReason::kStop);
  EXPECT_EQ(stopped.text(), full_text.substr(0, full_text.find(p.stop[0])));
}

}  // namespace
}  // namespace sy
