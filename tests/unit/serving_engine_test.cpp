// Engine loop with a fake executor (no model): streaming, stop conditions, n > 1, seeds,
// cancel, deadline, admission limits, and batch invariance under prefix-cache hits and
// preemption.
#include "engine/serving/engine.h"

#include <gtest/gtest.h>

#include <numeric>

#include "fake_executor.h"
#include "request_collector.h"

namespace sy {
namespace {

using testing::FakeExecutor;
using Collector = testing::RequestCollector;
using namespace std::chrono_literals;

// Text of token t is the letter 'a' + t % 26; a stop string is found across tokens and
// held back while it may still match (what the real detokenizer does, in miniature).
class LetterStream : public TextStream {
 public:
  explicit LetterStream(std::vector<std::string> stop) : stop_(std::move(stop)) {}
  TextDelta push(int32_t id) override {
    held_ += static_cast<char>('a' + id % 26);
    for (const std::string& s : stop_) {
      const size_t at = held_.find(s);
      if (at != std::string::npos) return {held_.substr(0, at), true};
    }
    size_t keep = 0;  // longest suffix of held_ that is a prefix of a stop string
    for (const std::string& s : stop_)
      for (size_t k = std::min(s.size() - 1, held_.size()); k > keep; --k)
        if (held_.compare(held_.size() - k, k, s, 0, k) == 0) keep = k;
    TextDelta d{held_.substr(0, held_.size() - keep), false};
    held_.erase(0, held_.size() - keep);
    return d;
  }
  std::string finish() override { return std::exchange(held_, {}); }

 private:
  std::vector<std::string> stop_;
  std::string held_;
};

TextStreamFactory letter_streams() {
  return [](const SamplingParams& p) { return std::make_unique<LetterStream>(p.stop); };
}

struct Harness {
  std::shared_ptr<FakeExecutor> executor;
  std::unique_ptr<Engine> engine;

  explicit Harness(int32_t num_blocks = 256, int32_t block_size = 4, int32_t max_seqs = 64,
                   int32_t max_batched = 64, int32_t max_queued = 256,
                   std::chrono::microseconds step_delay = 0us,
                   TextStreamFactory text_streams = letter_streams()) {
    executor = std::make_shared<FakeExecutor>(num_blocks, block_size);
    executor->step_delay = step_delay;
    EngineConfig cfg;
    cfg.scheduler.max_num_seqs = max_seqs;
    cfg.scheduler.max_num_batched_tokens = max_batched;
    cfg.max_queued_requests = max_queued;
    cfg.eos_token_ids = {FakeExecutor::kEos};
    cfg.routing_sample_period = 0ms;
    engine = std::make_unique<Engine>(executor, std::move(text_streams), cfg);
    engine->start();
  }
  uint64_t submit(std::vector<int32_t> prompt, SamplingParams params, Collector& c,
                  Clock::time_point deadline = Clock::time_point::max()) {
    auto slot = engine->reserve_queue_slot();
    EXPECT_TRUE(slot.has_value());
    RequestSpec spec;
    spec.prompt_token_ids = std::move(prompt);
    spec.params = std::move(params);
    spec.deadline = deadline;
    auto r = engine->submit(std::move(spec), c.sink(), std::move(*slot));
    EXPECT_FALSE(r.error) << r.error->to_string();
    return r.request_id;
  }
  // Waits until the engine has processed everything and published its gauges.
  bool wait_idle(std::chrono::milliseconds timeout = 10s) {
    const auto until = Clock::now() + timeout;
    while (Clock::now() < until) {
      EngineMetrics m = engine->metrics();
      if (engine->num_active_requests() == 0 && m.seqs_running == 0 && m.seqs_waiting == 0 &&
          m.kv_blocks_used == 0)
        return true;
      std::this_thread::sleep_for(1ms);
    }
    return false;
  }
};

SamplingParams greedy(int32_t max_tokens) {
  SamplingParams p;
  p.temperature = 0;
  p.max_tokens = max_tokens;
  return p;
}

std::vector<int32_t> prompt_of(int32_t len, int32_t salt) {
  std::vector<int32_t> v(len);
  for (int32_t i = 0; i < len; ++i) v[i] = (i * 7 + salt * 13) % 60;
  return v;
}

TEST(ServingEngine, GreedyStreamsMaxTokensAndReportsUsage) {
  Harness h;
  Collector c;
  h.submit(prompt_of(10, 1), greedy(12), c);
  ASSERT_TRUE(c.wait());
  EXPECT_EQ(c.tokens().size(), 12u);
  EXPECT_EQ(c.finish(), FinishReason::kLength);
  EXPECT_EQ(c.usage().prompt_tokens, 10);
  EXPECT_EQ(c.usage().completion_tokens, 12);
  EXPECT_TRUE(h.wait_idle());
}

TEST(ServingEngine, StopTokenIdsAndEos) {
  Harness h;
  Collector first;
  h.submit(prompt_of(6, 2), greedy(8), first);
  ASSERT_TRUE(first.wait());
  const std::vector<int32_t> ref = first.tokens();
  ASSERT_EQ(ref.size(), 8u);

  Collector stopped;
  SamplingParams p = greedy(8);
  p.stop_token_ids = {ref[3]};
  h.submit(prompt_of(6, 2), p, stopped);
  ASSERT_TRUE(stopped.wait());
  const auto got = stopped.tokens();
  const size_t first_hit = std::find(ref.begin(), ref.end(), ref[3]) - ref.begin();
  EXPECT_EQ(got.size(), first_hit + 1);  // the stop token is reported, then nothing
  EXPECT_EQ(stopped.finish(), FinishReason::kStop);
}

TEST(ServingEngine, TextStreamsAndStopStringsAcrossTokens) {
  Harness h;
  Collector ref;
  h.submit(prompt_of(7, 14), greedy(12), ref);
  ASSERT_TRUE(ref.wait());
  const std::string full = ref.text();
  ASSERT_EQ(full.size(), 12u);  // held-back text is flushed when max_tokens ends it

  SamplingParams p = greedy(12);
  p.stop = {full.substr(5, 3)};  // spans tokens 5..7
  Collector c;
  h.submit(prompt_of(7, 14), p, c);
  ASSERT_TRUE(c.wait());
  EXPECT_EQ(c.finish(), FinishReason::kStop);
  EXPECT_EQ(c.text(), full.substr(0, full.find(p.stop[0])));
  EXPECT_LE(c.tokens().size(), 8u);
}

TEST(ServingEngine, TokenIdsOnlyWithoutTextStreams) {
  Harness h(256, 4, 64, 64, 256, 0us, nullptr);
  Collector c;
  h.submit(prompt_of(3, 15), greedy(3), c);
  ASSERT_TRUE(c.wait());
  EXPECT_EQ(c.tokens().size(), 3u);
  EXPECT_EQ(c.text(), "");
}

TEST(ServingEngine, EosStopsUnlessIgnored) {
  // The fake never prefers EOS; a repetition penalty < 1 on a prompt made of EOS boosts it.
  Harness h;
  SamplingParams p = greedy(5);
  p.repetition_penalty = 0.01f;  // EOS logit (< 1) divided... it is positive: x / 0.01
  Collector c;
  h.submit({FakeExecutor::kEos, FakeExecutor::kEos}, p, c);
  ASSERT_TRUE(c.wait());
  EXPECT_EQ(c.tokens(), std::vector<int32_t>{FakeExecutor::kEos});
  EXPECT_EQ(c.finish(), FinishReason::kStop);

  p.ignore_eos = true;
  Collector ignoring;
  h.submit({FakeExecutor::kEos, FakeExecutor::kEos}, p, ignoring);
  ASSERT_TRUE(ignoring.wait());
  EXPECT_EQ(ignoring.tokens().size(), 5u);
  EXPECT_EQ(ignoring.finish(), FinishReason::kLength);
}

TEST(ServingEngine, BatchInvarianceWithPrefixHitsAndPreemption) {
  // Reference: each probe alone on a roomy cache.
  std::vector<std::vector<int32_t>> probes = {prompt_of(9, 3), prompt_of(17, 4), prompt_of(30, 5)};
  std::vector<std::vector<int32_t>> alone;
  {
    Harness roomy(1024, 4);
    for (auto& p : probes) {
      Collector c;
      roomy.submit(p, greedy(24), c);
      EXPECT_TRUE(c.wait());
      alone.push_back(c.tokens());
    }
  }
  // Batched: each probe among 31 other requests of different lengths, some sharing its
  // prefix (prefix-cache hits), in a cache too small for all of them (preemption), with a
  // token budget that forces chunked prefill.
  Harness tight(64, 4, 32, 32);
  for (size_t k = 0; k < probes.size(); ++k) {
    std::vector<std::unique_ptr<Collector>> others;
    Collector probe;
    for (int i = 0; i < 31; ++i) {
      others.push_back(std::make_unique<Collector>());
      std::vector<int32_t> prompt = i % 3 == 0 ? probes[k] : prompt_of(3 + i % 20, 100 + i);
      if (i % 3 == 0) prompt.push_back(i % 50);  // shares all of the probe's full blocks
      tight.submit(prompt, greedy(8 + i % 17), *others.back());
      if (i == 15) tight.submit(probes[k], greedy(24), probe);
    }
    ASSERT_TRUE(probe.wait());
    for (auto& o : others) ASSERT_TRUE(o->wait());
    EXPECT_EQ(probe.tokens(), alone[k]) << "probe " << k;
  }
  EngineMetrics m = tight.engine->metrics();
  EXPECT_GT(m.preemptions, 0u);
  EXPECT_GT(m.prefix_cache_hit_tokens, 0u);
  EXPECT_TRUE(tight.wait_idle());
}

TEST(ServingEngine, SeededSamplingIsReproducibleAndIndependentOfTheBatch) {
  SamplingParams p;
  p.temperature = 3.0f;
  p.max_tokens = 16;
  p.seed = 77;
  Harness h;
  Collector alone;
  h.submit(prompt_of(5, 6), p, alone);
  ASSERT_TRUE(alone.wait());
  std::vector<std::unique_ptr<Collector>> others;
  Collector batched;
  for (int i = 0; i < 8; ++i) {
    others.push_back(std::make_unique<Collector>());
    SamplingParams q = p;
    q.seed = 1000 + i;
    h.submit(prompt_of(4 + i, 50 + i), q, *others.back());
    if (i == 3) h.submit(prompt_of(5, 6), p, batched);
  }
  ASSERT_TRUE(batched.wait());
  EXPECT_EQ(batched.tokens(), alone.tokens());
  for (auto& o : others) ASSERT_TRUE(o->wait());
  // Seeds do matter.
  int differing = 0;
  for (auto& o : others) differing += o->tokens() != alone.tokens();
  EXPECT_GT(differing, 0);
}

TEST(ServingEngine, NGreaterThanOneSharesThePromptBlocks) {
  Harness h(256, 4);
  SamplingParams p;
  p.n = 4;
  p.temperature = 3.0f;
  p.max_tokens = 10;
  p.seed = 5;
  Collector c;
  h.submit(prompt_of(21, 7), p, c);
  ASSERT_TRUE(c.wait());
  ASSERT_EQ(c.num_sequences(), 4u);
  int distinct = 0;
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(c.tokens(i).size(), 10u);
    distinct += c.tokens(i) != c.tokens(0);
  }
  EXPECT_GT(distinct, 0);
  EXPECT_EQ(c.usage().completion_tokens, 40);
  // Siblings 1..3 each reuse the 5 full prompt blocks (20 tokens).
  EXPECT_GE(h.engine->metrics().prefix_cache_hit_tokens, 3u * 20u);
  EXPECT_TRUE(h.wait_idle());
}

TEST(ServingEngine, LogprobsComeWithEachToken) {
  Harness h;
  SamplingParams p = greedy(4);
  p.logprobs = 3;
  Collector c;
  h.submit(prompt_of(5, 8), p, c);
  ASSERT_TRUE(c.wait());
  auto lps = c.logprobs();
  auto toks = c.tokens();
  ASSERT_EQ(lps.size(), 4u);
  for (size_t i = 0; i < lps.size(); ++i) {
    ASSERT_EQ(lps[i].top.size(), 3u);
    EXPECT_EQ(lps[i].top[0].first, toks[i]);  // greedy: the sampled token is the most likely
    EXPECT_FLOAT_EQ(lps[i].top[0].second, lps[i].logprob);
    EXPECT_LT(lps[i].logprob, 0.0f);
  }
}

TEST(ServingEngine, CancelFreesKvBlocks) {
  Harness h(256, 4, 8, 8, 256, 500us);  // small budget: the long prompt takes several steps
  Collector queued_or_prefill, decoding;
  h.submit(prompt_of(200, 9), greedy(40), queued_or_prefill);
  const uint64_t id = h.submit(prompt_of(8, 10), greedy(200), decoding);
  ASSERT_TRUE(decoding.wait_for_tokens(2));
  h.engine->cancel(id);
  ASSERT_TRUE(decoding.wait());
  EXPECT_EQ(decoding.finish(), FinishReason::kAbort);
  ASSERT_TRUE(queued_or_prefill.wait());
  EXPECT_TRUE(h.wait_idle());
  h.engine->cancel(id);  // cancelling a finished request is harmless
}

TEST(ServingEngine, DeadlinePassesMidGeneration) {
  Harness h(256, 4, 64, 64, 256, 1000us);
  Collector c;
  h.submit(prompt_of(4, 11), greedy(200), c, Clock::now() + 30ms);
  ASSERT_TRUE(c.wait());
  EXPECT_EQ(c.finish(), FinishReason::kDeadline);
  EXPECT_TRUE(h.wait_idle());
}

TEST(ServingEngine, RejectsWhatCanNeverFit) {
  Harness h(8, 4);  // 32 token slots
  auto slot = h.engine->reserve_queue_slot();
  RequestSpec spec;
  spec.prompt_token_ids = prompt_of(20, 1);
  spec.params = greedy(20);
  auto r = h.engine->submit(spec, [](RequestOutput&&) {}, std::move(*slot));
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->field, "max_tokens");
  spec.prompt_token_ids = prompt_of(300, 1);  // beyond max_model_len 256
  spec.params = greedy(0);
  slot = h.engine->reserve_queue_slot();
  r = h.engine->submit(spec, [](RequestOutput&&) {}, std::move(*slot));
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->field, "prompt");
  EXPECT_EQ(h.engine->metrics().requests_active, 0);
}

TEST(ServingEngine, QueueSlotsAreLimitedAndReleased) {
  Harness h(256, 4, 64, 64, 2);
  auto a = h.engine->reserve_queue_slot();
  auto b = h.engine->reserve_queue_slot();
  EXPECT_TRUE(a && b);
  EXPECT_FALSE(h.engine->reserve_queue_slot());
  a.reset();  // a client that failed validation gives its slot back
  EXPECT_TRUE(h.engine->reserve_queue_slot());
}

TEST(ServingEngine, StopAbortsWhatIsLeft) {
  Collector c;
  {
    Harness h(256, 4, 64, 64, 256, 1000us);
    h.submit(prompt_of(4, 12), greedy(200), c);
    ASSERT_TRUE(c.wait_for_tokens(1));
    h.engine->stop();
  }
  ASSERT_TRUE(c.wait(1s));
  EXPECT_EQ(c.finish(), FinishReason::kAbort);
}

TEST(ServingEngine, RoutingStatsAccumulate) {
  Harness h;
  Collector c;
  h.submit(prompt_of(12, 13), greedy(4), c);
  ASSERT_TRUE(c.wait());
  h.wait_idle();
  std::this_thread::sleep_for(5ms);
  RoutingStatsSnapshot s = h.engine->routing_stats();
  ASSERT_EQ(s.layers.size(), 2u);
  uint64_t total = 0;
  for (auto& l : s.layers)
    for (uint64_t v : l.total_counts) total += v;
  EXPECT_GE(total, 12u + 3u);  // 12 prompt tokens + 3 decode tokens (the 4th is not run)
}

}  // namespace
}  // namespace sy
