// Scheduler policy on CPU with no model: the capacity step (KV growth, preemption, admission),
// the micro-batch step (token budget, chunked prefill, decode first) and whole runs driven by a
// fake "model" that appends a token whenever a sequence samples.
#include "engine/serving/scheduler.h"

#include <gtest/gtest.h>

#include <memory>
#include <numeric>
#include <random>

namespace sy {
namespace {

std::unique_ptr<Sequence> make_seq(int64_t id, int32_t prompt_len, int32_t first_token = 0) {
  auto s = std::make_unique<Sequence>();
  s->id = id;
  s->arrival = static_cast<uint64_t>(id);
  s->token_ids.resize(prompt_len);
  std::iota(s->token_ids.begin(), s->token_ids.end(), first_token);
  s->num_prompt_tokens = prompt_len;
  return s;
}

SchedulerConfig config(int32_t max_seqs, int32_t max_tokens, int32_t max_len = 1024) {
  SchedulerConfig c;
  c.max_num_seqs = max_seqs;
  c.max_num_batched_tokens = max_tokens;
  c.max_model_len = max_len;
  return c;
}

// ---- capacity step ----

TEST(CapacityScheduler, AdmitsInOrderWhileBlocksLast) {
  BlockManager bm(4, 4);
  CapacityScheduler cap(config(8, 64), bm);
  auto a = make_seq(1, 8, 0), b = make_seq(2, 8, 100), c = make_seq(3, 1, 200);
  std::deque<Sequence*> waiting{a.get(), b.get(), c.get()};
  std::vector<Sequence*> running;
  CapacityResult r = cap.schedule(waiting, running);
  EXPECT_EQ(r.admitted.size(), 2u);
  EXPECT_EQ(running.size(), 2u);
  EXPECT_EQ(waiting.size(), 1u);
  EXPECT_EQ(a->status, SequenceStatus::kRunning);
  EXPECT_EQ(c->status, SequenceStatus::kWaiting);
}

TEST(CapacityScheduler, HeadOfLineBlocksSmallerRequestsBehindIt) {
  BlockManager bm(4, 4);
  CapacityScheduler cap(config(8, 64), bm);
  auto a = make_seq(1, 12, 0), big = make_seq(2, 8, 100), small = make_seq(3, 1, 200);
  std::deque<Sequence*> waiting{a.get(), big.get(), small.get()};
  std::vector<Sequence*> running;
  cap.schedule(waiting, running);
  // 1 block left: `big` needs 2 and stops admission; `small` would fit but must wait (FCFS).
  EXPECT_EQ(running.size(), 1u);
  EXPECT_EQ(waiting.front(), big.get());
}

TEST(CapacityScheduler, RespectsMaxNumSeqs) {
  BlockManager bm(100, 4);
  CapacityScheduler cap(config(2, 64), bm);
  auto a = make_seq(1, 2), b = make_seq(2, 2, 10), c = make_seq(3, 2, 20);
  std::deque<Sequence*> waiting{a.get(), b.get(), c.get()};
  std::vector<Sequence*> running;
  cap.schedule(waiting, running);
  EXPECT_EQ(running.size(), 2u);
}

TEST(CapacityScheduler, PreemptsTheYoungestWhenADecodeNeedsABlock) {
  BlockManager bm(3, 4);
  CapacityScheduler cap(config(8, 64), bm);
  auto old_seq = make_seq(1, 4, 0), young = make_seq(2, 8, 100);
  std::deque<Sequence*> waiting{old_seq.get(), young.get()};
  std::vector<Sequence*> running;
  cap.schedule(waiting, running);
  ASSERT_EQ(running.size(), 2u);
  ASSERT_EQ(bm.num_free_blocks(), 0);
  old_seq->num_computed_tokens = 4;
  old_seq->token_ids.push_back(42);  // sampled a 5th token: needs a second block
  CapacityResult r = cap.schedule(waiting, running);
  ASSERT_EQ(r.preempted.size(), 1u);
  EXPECT_EQ(r.preempted[0], young.get());
  EXPECT_TRUE(r.admitted.empty());  // no admission in a step that preempted
  EXPECT_EQ(young->status, SequenceStatus::kWaiting);
  EXPECT_EQ(young->num_computed_tokens, 0);
  EXPECT_EQ(young->num_preemptions, 1);
  EXPECT_EQ(waiting.front(), young.get());
  EXPECT_EQ(old_seq->block_table.size(), 2u);
}

TEST(CapacityScheduler, TheYoungestPreemptsItselfRatherThanAnOlderSequence) {
  BlockManager bm(2, 4);
  CapacityScheduler cap(config(8, 64), bm);
  auto old_seq = make_seq(1, 4, 0), young = make_seq(2, 4, 100);
  std::deque<Sequence*> waiting{old_seq.get(), young.get()};
  std::vector<Sequence*> running;
  cap.schedule(waiting, running);
  young->num_computed_tokens = 4;
  young->token_ids.push_back(1);
  CapacityResult r = cap.schedule(waiting, running);
  ASSERT_EQ(r.preempted.size(), 1u);
  EXPECT_EQ(r.preempted[0], young.get());
  ASSERT_EQ(running.size(), 1u);
  EXPECT_EQ(running[0], old_seq.get());
}

TEST(CapacityScheduler, ReadmittedSequenceKeepsItsSeniority) {
  BlockManager bm(8, 4);
  CapacityScheduler cap(config(8, 64), bm);
  auto a = make_seq(1, 4, 0), b = make_seq(3, 4, 100);
  auto preempted = make_seq(2, 4, 200);
  std::deque<Sequence*> waiting{preempted.get()};
  std::vector<Sequence*> running{a.get(), b.get()};
  bm.allocate(*a);
  bm.allocate(*b);
  cap.schedule(waiting, running);
  ASSERT_EQ(running.size(), 3u);
  EXPECT_EQ(running[1], preempted.get());
}

TEST(CapacityScheduler, PreemptionFreesBlocksInThePartitionThatNeedsThem) {
  BlockManager bm(4, 4, 2);  // two partitions (ranks) of 2 blocks
  CapacityScheduler cap(config(8, 64), bm);
  auto s1 = make_seq(1, 4, 0), s2 = make_seq(2, 4, 100), s3 = make_seq(3, 4, 200), s4 = make_seq(4, 4, 300);
  std::deque<Sequence*> waiting{s1.get(), s2.get(), s3.get(), s4.get()};
  std::vector<Sequence*> running;
  cap.schedule(waiting, running);
  ASSERT_EQ(running.size(), 4u);
  // Placed where most blocks were free: 1 and 3 on partition 0, 2 and 4 on partition 1.
  ASSERT_EQ(bm.partition_of(*s1), 0);
  ASSERT_EQ(bm.partition_of(*s2), 1);
  ASSERT_EQ(bm.partition_of(*s3), 0);
  ASSERT_EQ(bm.partition_of(*s4), 1);
  s1->num_computed_tokens = 4;
  s1->token_ids.push_back(42);  // needs a block of partition 0
  CapacityResult r = cap.schedule(waiting, running);
  // The youngest overall (4) lives on the other rank: preempting it would not help.
  ASSERT_EQ(r.preempted.size(), 1u);
  EXPECT_EQ(r.preempted[0], s3.get());
  EXPECT_EQ(running, (std::vector<Sequence*>{s1.get(), s2.get(), s4.get()}));
  EXPECT_EQ(s1->block_table.size(), 2u);
  EXPECT_EQ(bm.partition_of_block(s1->block_table[1]), 0);
  EXPECT_EQ(waiting.front(), s3.get());
}

TEST(CapacityScheduler, EachPartitionsYoungestYieldsAndPreemptedRequeueOldestFirst) {
  BlockManager bm(4, 4, 2);
  CapacityScheduler cap(config(8, 64), bm);
  auto s1 = make_seq(1, 4, 0), s2 = make_seq(2, 4, 100), s3 = make_seq(3, 4, 200), s4 = make_seq(4, 4, 300);
  std::deque<Sequence*> waiting{s1.get(), s2.get(), s3.get(), s4.get()};
  std::vector<Sequence*> running;
  cap.schedule(waiting, running);
  // The two youngest, one per partition, both need a block: each yields itself.
  for (Sequence* s : {s3.get(), s4.get()}) {
    s->num_computed_tokens = 4;
    s->token_ids.push_back(1);
  }
  CapacityResult r = cap.schedule(waiting, running);
  EXPECT_EQ(r.preempted, (std::vector<Sequence*>{s3.get(), s4.get()}));
  EXPECT_EQ(running, (std::vector<Sequence*>{s1.get(), s2.get()}));
  ASSERT_EQ(waiting.size(), 2u);
  EXPECT_EQ(waiting[0], s3.get());
  EXPECT_EQ(waiting[1], s4.get());
}

// ---- micro-batch step ----

TEST(MicroBatchScheduler, DecodesFirstThenPrefillChunksUnderTheBudget) {
  MicroBatchScheduler mb(config(8, 10));
  auto prefill = make_seq(1, 30), decode1 = make_seq(2, 5), decode2 = make_seq(3, 7);
  decode1->num_computed_tokens = 4;
  decode2->num_computed_tokens = 6;
  std::vector<Sequence*> running{prefill.get(), decode1.get(), decode2.get()};
  auto batch = mb.schedule(running);
  ASSERT_EQ(batch.size(), 3u);
  EXPECT_EQ(batch[0].seq, decode1.get());
  EXPECT_EQ(batch[1].seq, decode2.get());
  EXPECT_EQ(batch[2].seq, prefill.get());
  EXPECT_EQ(batch[2].num_new_tokens, 8);
  EXPECT_FALSE(batch[2].samples());
  EXPECT_TRUE(batch[0].samples());
}

TEST(MicroBatchScheduler, LastChunkSamples) {
  MicroBatchScheduler mb(config(8, 16));
  auto s = make_seq(1, 20);
  s->num_computed_tokens = 8;  // earlier chunks
  std::vector<Sequence*> running{s.get()};
  auto batch = mb.schedule(running);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0].num_new_tokens, 12);
  EXPECT_TRUE(batch[0].samples());
}

TEST(MicroBatchScheduler, BudgetSplitsPrefillsOldestFirst) {
  MicroBatchScheduler mb(config(4, 6));
  auto a = make_seq(1, 4), b = make_seq(2, 4), c = make_seq(3, 4);
  std::vector<Sequence*> running{a.get(), b.get(), c.get()};
  auto batch = mb.schedule(running);
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch[0].num_new_tokens, 4);
  EXPECT_EQ(batch[1].num_new_tokens, 2);
}

// ---- whole scheduler ----

TEST(Scheduler, ChecksWhatCanNeverFit) {
  Scheduler s(config(4, 64, 100), 10, 4);
  EXPECT_EQ(s.check_fits(20, 20), "");
  EXPECT_NE(s.check_fits(90, 20).find("max_model_len"), std::string::npos);
  EXPECT_NE(s.check_fits(30, 20).find("KV blocks"), std::string::npos);
}

TEST(Scheduler, ASequenceMustFitInOnePartition) {
  SchedulerConfig c = config(4, 64, 100);
  c.kv_partitions = 2;
  Scheduler s(c, 10, 4);  // 5 blocks per rank
  EXPECT_EQ(s.check_fits(10, 10), "");
  const std::string why = s.check_fits(12, 10);  // 6 blocks: more than a partition, less than the cache
  EXPECT_NE(why.find("5 per rank"), std::string::npos) << why;
  c.kv_partitions = 3;
  EXPECT_THROW(Scheduler(c, 10, 4), std::invalid_argument);
}

TEST(Scheduler, RejectsInconsistentConfig) {
  EXPECT_THROW(Scheduler(config(8, 4), 10, 4), std::invalid_argument);
}

struct RunStats {
  int steps = 0;
  uint64_t preemptions = 0;
  bool budget_respected = true;
  bool seqs_respected = true;
  bool partitions_respected = true;
};

// Drives the scheduler with a fake model until every sequence produced max_new tokens.
RunStats run_to_completion(Scheduler& sched, std::vector<std::unique_ptr<Sequence>>& seqs,
                           const std::vector<int>& max_new, int step_limit) {
  for (auto& s : seqs) sched.add(s.get());
  RunStats st;
  while (sched.has_work() && st.steps < step_limit) {
    SchedulerOutput out = sched.schedule();
    st.budget_respected &= out.num_tokens() <= sched.config().max_num_batched_tokens;
    st.seqs_respected &= static_cast<int32_t>(sched.num_running()) <= sched.config().max_num_seqs;
    std::vector<Sequence*> sampled;
    for (const auto& s : out.scheduled)
      if (s.samples()) sampled.push_back(s.seq);
    // A sequence's blocks never span KV partitions (ranks).
    const BlockManager& bm = sched.block_manager();
    for (const auto& s : out.scheduled)
      for (int32_t b : s.seq->block_table) st.partitions_respected &= bm.partition_of_block(b) == bm.partition_of(*s.seq);
    sched.commit(out.scheduled);
    for (Sequence* seq : sampled) {
      seq->token_ids.push_back(7000 + seq->num_output_tokens());
      const size_t i = static_cast<size_t>(seq->id);
      if (seq->num_output_tokens() >= max_new[i]) sched.finish(seq);
    }
    ++st.steps;
  }
  st.preemptions = sched.num_preemptions();
  return st;
}

TEST(Scheduler, EverySequenceFinishesUnderMemoryPressure) {
  // 40 blocks of 4 tokens for 24 sequences of up to 40 tokens: preemption is unavoidable.
  Scheduler sched(config(16, 32, 64), 40, 4);
  std::mt19937 rng(123);
  std::vector<std::unique_ptr<Sequence>> seqs;
  std::vector<int> max_new;
  for (int i = 0; i < 24; ++i) {
    const int prompt = 1 + static_cast<int>(rng() % 24);
    const int out = 1 + static_cast<int>(rng() % 16);
    ASSERT_EQ(sched.check_fits(prompt, out), "");
    auto s = make_seq(i, prompt, static_cast<int32_t>(rng() % 3) * 1000);  // shared prefixes
    s->arrival = static_cast<uint64_t>(i);
    seqs.push_back(std::move(s));
    max_new.push_back(out);
  }
  RunStats st = run_to_completion(sched, seqs, max_new, 10000);
  EXPECT_FALSE(sched.has_work()) << "livelock: work left after " << st.steps << " steps";
  EXPECT_GT(st.preemptions, 0u);
  EXPECT_TRUE(st.budget_respected);
  EXPECT_TRUE(st.seqs_respected);
  for (size_t i = 0; i < seqs.size(); ++i)
    EXPECT_EQ(seqs[i]->num_output_tokens(), max_new[i]) << "sequence " << i;
  EXPECT_EQ(sched.block_manager().num_used_blocks(), 0);
}

TEST(Scheduler, EverySequenceFinishesUnderMemoryPressureWithFourPartitions) {
  // The same load over 4 ranks of 10 blocks each: preemption and prefix sharing per partition.
  SchedulerConfig c = config(16, 32, 40);
  c.kv_partitions = 4;
  Scheduler sched(c, 40, 4);
  std::mt19937 rng(321);
  std::vector<std::unique_ptr<Sequence>> seqs;
  std::vector<int> max_new;
  for (int i = 0; i < 24; ++i) {
    const int prompt = 1 + static_cast<int>(rng() % 24);
    const int out = 1 + static_cast<int>(rng() % 16);
    ASSERT_EQ(sched.check_fits(prompt, out), "");
    auto s = make_seq(i, prompt, static_cast<int32_t>(rng() % 3) * 1000);
    s->arrival = static_cast<uint64_t>(i);
    seqs.push_back(std::move(s));
    max_new.push_back(out);
  }
  RunStats st = run_to_completion(sched, seqs, max_new, 10000);
  EXPECT_FALSE(sched.has_work()) << "livelock: work left after " << st.steps << " steps";
  EXPECT_GT(st.preemptions, 0u);
  EXPECT_TRUE(st.partitions_respected);
  EXPECT_TRUE(st.budget_respected);
  for (size_t i = 0; i < seqs.size(); ++i)
    EXPECT_EQ(seqs[i]->num_output_tokens(), max_new[i]) << "sequence " << i;
  EXPECT_EQ(sched.block_manager().num_used_blocks(), 0);
  EXPECT_GT(sched.block_manager().prefix_cache_stats().hit_tokens, 0u);
}

TEST(Scheduler, ASequenceNeedingTheWholeCacheStillCompletes) {
  Scheduler sched(config(4, 8, 64), 8, 4);  // 32 slots
  std::vector<std::unique_ptr<Sequence>> seqs;
  std::vector<int> max_new = {30, 10, 10, 10};
  seqs.push_back(make_seq(0, 2, 0));
  for (int i = 1; i < 4; ++i) seqs.push_back(make_seq(i, 6, 100 * i));
  ASSERT_EQ(sched.check_fits(2, 30), "");
  RunStats st = run_to_completion(sched, seqs, max_new, 10000);
  EXPECT_FALSE(sched.has_work());
  for (size_t i = 0; i < seqs.size(); ++i) EXPECT_EQ(seqs[i]->num_output_tokens(), max_new[i]);
  EXPECT_EQ(sched.block_manager().num_used_blocks(), 0);
}

TEST(Scheduler, FinishFreesWaitingAndRunningSequences) {
  Scheduler sched(config(1, 8), 8, 4);
  auto a = make_seq(0, 5), b = make_seq(1, 5, 50);
  sched.add(a.get());
  sched.add(b.get());
  sched.schedule();
  ASSERT_EQ(a->status, SequenceStatus::kRunning);
  ASSERT_EQ(b->status, SequenceStatus::kWaiting);
  sched.finish(b.get());
  sched.finish(a.get());
  EXPECT_FALSE(sched.has_work());
  EXPECT_EQ(sched.block_manager().num_used_blocks(), 0);
}

}  // namespace
}  // namespace sy
