// BlockManager: block accounting, ref counts and growth (no model involved).
#include "engine/serving/block_manager.h"

#include <gtest/gtest.h>

#include <numeric>

namespace sy {
namespace {

Sequence make_seq(int64_t id, int32_t num_tokens, int32_t first_token = 0) {
  Sequence s;
  s.id = id;
  s.token_ids.resize(num_tokens);
  std::iota(s.token_ids.begin(), s.token_ids.end(), first_token);
  s.num_prompt_tokens = num_tokens;
  return s;
}

TEST(BlockManager, AllocateCoversAllTokensAndFreeReturnsThem) {
  BlockManager bm(10, 4);
  Sequence s = make_seq(1, 9);  // 3 blocks
  ASSERT_TRUE(bm.can_allocate(s));
  bm.allocate(s);
  EXPECT_EQ(s.block_table.size(), 3u);
  EXPECT_EQ(bm.num_free_blocks(), 7);
  EXPECT_EQ(s.num_computed_tokens, 0);
  for (int32_t b : s.block_table) EXPECT_EQ(bm.ref_count(b), 1);
  bm.free(s);
  EXPECT_TRUE(s.block_table.empty());
  EXPECT_EQ(bm.num_free_blocks(), 10);
}

TEST(BlockManager, CannotAllocateBeyondFreeBlocks) {
  BlockManager bm(4, 4);
  Sequence a = make_seq(1, 12);  // 3 blocks
  bm.allocate(a);
  Sequence b = make_seq(2, 5, 100);  // 2 blocks, 1 free
  EXPECT_FALSE(bm.can_allocate(b));
  Sequence c = make_seq(3, 4, 200);  // 1 block
  EXPECT_TRUE(bm.can_allocate(c));
}

TEST(BlockManager, AppendAddsABlockOnlyAtABlockBoundary) {
  BlockManager bm(3, 4);
  Sequence s = make_seq(1, 4);
  bm.allocate(s);
  EXPECT_EQ(s.block_table.size(), 1u);
  s.token_ids.push_back(7);  // 5 tokens: needs a second block
  ASSERT_TRUE(bm.can_append(s));
  bm.append(s);
  EXPECT_EQ(s.block_table.size(), 2u);
  s.token_ids.push_back(8);  // 6 tokens: still two blocks
  bm.append(s);
  EXPECT_EQ(s.block_table.size(), 2u);
  EXPECT_EQ(bm.num_free_blocks(), 1);
  for (int i = 0; i < 3; ++i) s.token_ids.push_back(9);  // 9 tokens: third block
  ASSERT_TRUE(bm.can_append(s));
  bm.append(s);
  for (int i = 0; i < 4; ++i) s.token_ids.push_back(9);  // 13 tokens: a fourth, none left
  EXPECT_FALSE(bm.can_append(s));
}

TEST(BlockManager, DoubleFreeIsALogicError) {
  BlockManager bm(2, 4);
  Sequence s = make_seq(1, 3);
  bm.allocate(s);
  std::vector<int32_t> table = s.block_table;
  bm.free(s);
  s.block_table = table;
  EXPECT_THROW(bm.free(s), std::logic_error);
}

TEST(BlockManager, RejectsNonPositiveSizes) {
  EXPECT_THROW(BlockManager(0, 16), std::invalid_argument);
  EXPECT_THROW(BlockManager(16, 0), std::invalid_argument);
}

// ---- Partitions (one per expert-parallel rank) ----

// Simulates the runner computing every token, then the post-step prefix caching.
void compute_all(BlockManager& bm, Sequence& s) {
  s.num_computed_tokens = s.num_tokens();
  bm.cache_full_blocks(s);
}

void expect_in_partition(const BlockManager& bm, const Sequence& s, int32_t partition) {
  for (int32_t b : s.block_table) EXPECT_EQ(bm.partition_of_block(b), partition) << "sequence " << s.id << " block " << b;
}

TEST(BlockManagerPartitions, IdSpaceIsContiguousPartitions) {
  BlockManager bm(12, 4, 3);
  EXPECT_EQ(bm.num_partitions(), 3);
  EXPECT_EQ(bm.blocks_per_partition(), 4);
  EXPECT_EQ(bm.partition_of_block(3), 0);
  EXPECT_EQ(bm.partition_of_block(4), 1);
  EXPECT_EQ(bm.partition_of_block(11), 2);
  for (int p = 0; p < 3; ++p) EXPECT_EQ(bm.num_free_blocks(p), 4);
  EXPECT_THROW(BlockManager(10, 4, 3), std::invalid_argument);  // not a multiple
  EXPECT_THROW(BlockManager(12, 4, 0), std::invalid_argument);
}

TEST(BlockManagerPartitions, NewSequencesGoWhereMostBlocksAreFree) {
  BlockManager bm(12, 4, 2);  // 6 blocks per partition
  Sequence a = make_seq(1, 9);  // 3 blocks
  bm.allocate(a);
  EXPECT_EQ(bm.partition_of(a), 0);  // a tie goes to the lowest partition
  expect_in_partition(bm, a, 0);
  Sequence b = make_seq(2, 4, 100);  // 1 block: partition 1 has 6 free, partition 0 has 3
  bm.allocate(b);
  EXPECT_EQ(bm.partition_of(b), 1);
  Sequence c = make_seq(3, 4, 200);  // 3 vs 5 free
  bm.allocate(c);
  EXPECT_EQ(bm.partition_of(c), 1);
  EXPECT_EQ(bm.num_free_blocks(0), 3);
  EXPECT_EQ(bm.num_free_blocks(1), 4);
  EXPECT_EQ(bm.num_free_blocks(), 7);
  EXPECT_EQ(bm.num_used_blocks(), 5);
}

TEST(BlockManagerPartitions, GrowthStaysInThePartition) {
  BlockManager bm(8, 4, 2);
  Sequence a = make_seq(1, 4);
  bm.allocate(a);  // partition 0
  Sequence filler = make_seq(2, 4, 50);
  bm.allocate(filler);  // partition 1 (more free)
  for (int i = 0; i < 9; ++i) a.token_ids.push_back(7);  // 13 tokens: 4 blocks
  ASSERT_TRUE(bm.can_append(a));
  bm.append(a);
  ASSERT_EQ(a.block_table.size(), 4u);
  expect_in_partition(bm, a, 0);
  EXPECT_EQ(bm.num_free_blocks(0), 0);
  EXPECT_EQ(bm.num_free_blocks(1), 3);
}

TEST(BlockManagerPartitions, AFullPartitionDoesNotBorrow) {
  BlockManager bm(8, 4, 2);
  Sequence a = make_seq(1, 16);  // all 4 blocks of partition 0
  bm.allocate(a);
  EXPECT_EQ(bm.partition_of(a), 0);
  a.token_ids.push_back(1);  // a fifth block: partition 1 has 4 free, partition 0 none
  EXPECT_EQ(bm.num_free_blocks(), 4);
  EXPECT_FALSE(bm.can_append(a));
  EXPECT_THROW(bm.append(a), std::logic_error);
  // Admission: a sequence needing more than one partition never fits, however much is free.
  Sequence big = make_seq(2, 17, 100);  // 5 blocks > 4 per partition
  EXPECT_FALSE(bm.can_allocate(big));
  Sequence fits = make_seq(3, 16, 200);  // 4 blocks: partition 1
  ASSERT_TRUE(bm.can_allocate(fits));
  bm.allocate(fits);
  EXPECT_EQ(bm.partition_of(fits), 1);
}

TEST(BlockManagerPartitions, PrefixHitsStayInTheirPartition) {
  BlockManager bm(16, 4, 2);
  std::vector<int32_t> prompt(10);
  std::iota(prompt.begin(), prompt.end(), 0);
  Sequence filler = make_seq(9, 12, 500);  // 3 blocks of partition 0
  bm.allocate(filler);
  Sequence a = make_seq(1, 10);  // partition 1 (more free)
  bm.allocate(a);
  ASSERT_EQ(bm.partition_of(a), 1);
  compute_all(bm, a);
  EXPECT_EQ(bm.num_cached_blocks(), 2);
  bm.free(filler);  // partition 0 now has more free blocks, but b's prefix lives in 1
  Sequence b = make_seq(2, 11);
  ASSERT_TRUE(bm.can_allocate(b));
  bm.allocate(b);
  EXPECT_EQ(bm.partition_of(b), 1);
  expect_in_partition(bm, b, 1);
  EXPECT_EQ(b.num_computed_tokens, 8);
  EXPECT_EQ(b.block_table[0], a.block_table[0]);
  EXPECT_EQ(bm.ref_count(a.block_table[0]), 2);
  EXPECT_EQ(bm.prefix_cache_stats().hit_tokens, 8u);
}

TEST(BlockManagerPartitions, NoHitIsTakenFromAPartitionTheSequenceCannotFitIn) {
  BlockManager bm(8, 4, 2);  // 4 blocks per partition
  Sequence a = make_seq(1, 9);  // 3 blocks, partition 0
  bm.allocate(a);
  compute_all(bm, a);
  // b shares a's first two blocks but needs 5 - 2 = 3 fresh ones: partition 0 has 1 free.
  Sequence b = make_seq(2, 16);
  for (int i = 0; i < 4; ++i) b.token_ids.push_back(99);  // 20 tokens = 5 blocks > 4: fits nowhere
  EXPECT_FALSE(bm.can_allocate(b));
  Sequence c = make_seq(3, 13);  // 4 blocks; hits 2 in partition 0 but needs 2 fresh, 1 free there
  ASSERT_TRUE(bm.can_allocate(c));
  bm.allocate(c);
  EXPECT_EQ(bm.partition_of(c), 1);  // recomputed where it fits
  EXPECT_EQ(c.num_computed_tokens, 0);
  expect_in_partition(bm, c, 1);
}

TEST(BlockManagerPartitions, FreeAndEvictionArePerPartition) {
  BlockManager bm(8, 4, 2);
  Sequence a = make_seq(1, 9);  // partition 0: 2 full blocks cached after compute
  bm.allocate(a);
  compute_all(bm, a);
  bm.free(a);
  EXPECT_EQ(bm.num_free_blocks(0), 4);
  EXPECT_EQ(bm.num_cached_blocks(), 2);
  // Partition 0's free queue: the unhashed blocks first, then the cached ones.
  Sequence b = make_seq(2, 8, 300);
  bm.allocate(b);  // 4 free in each partition: the lowest; takes the two unhashed blocks
  EXPECT_EQ(bm.partition_of(b), 0);
  EXPECT_EQ(bm.num_cached_blocks(), 2);
  Sequence c = make_seq(3, 16, 400);  // 4 blocks: only partition 1 has them
  bm.allocate(c);
  EXPECT_EQ(bm.partition_of(c), 1);
  EXPECT_EQ(bm.num_cached_blocks(), 2);  // partition 1 had nothing cached to evict
  Sequence d = make_seq(4, 4, 600);
  bm.allocate(d);  // partition 0, evicting its least recently freed cached block
  EXPECT_EQ(bm.partition_of(d), 0);
  EXPECT_EQ(bm.num_cached_blocks(), 1);
  bm.free(d);
  bm.free(b);
  bm.free(c);
  EXPECT_EQ(bm.num_free_blocks(), 8);
  EXPECT_EQ(bm.num_free_blocks(0), 4);
  EXPECT_EQ(bm.num_free_blocks(1), 4);
}

}  // namespace
}  // namespace sy
