// Automatic prefix caching in the BlockManager: hash-chained full blocks, sharing by ref
// count, reuse after free, LRU eviction of free cached blocks.
#include "engine/serving/block_manager.h"

#include <gtest/gtest.h>

#include <numeric>

namespace sy {
namespace {

Sequence make_seq(int64_t id, std::vector<int32_t> tokens) {
  Sequence s;
  s.id = id;
  s.num_prompt_tokens = static_cast<int32_t>(tokens.size());
  s.token_ids = std::move(tokens);
  return s;
}

std::vector<int32_t> range(int32_t first, int32_t n) {
  std::vector<int32_t> v(n);
  std::iota(v.begin(), v.end(), first);
  return v;
}

// Simulates the runner computing every token of the sequence, then the post-step caching.
void compute_all(BlockManager& bm, Sequence& s) {
  s.num_computed_tokens = s.num_tokens();
  bm.cache_full_blocks(s);
}

TEST(PrefixCache, SecondSequenceReusesComputedFullBlocks) {
  BlockManager bm(16, 4);
  Sequence a = make_seq(1, range(0, 10));  // blocks: [0..3] [4..7] [8,9]
  bm.allocate(a);
  compute_all(bm, a);
  EXPECT_EQ(bm.num_cached_blocks(), 2);

  Sequence b = make_seq(2, range(0, 11));  // same first two blocks
  bm.allocate(b);
  EXPECT_EQ(b.num_computed_tokens, 8);
  EXPECT_EQ(b.block_table[0], a.block_table[0]);
  EXPECT_EQ(b.block_table[1], a.block_table[1]);
  EXPECT_NE(b.block_table[2], a.block_table[2]);
  EXPECT_EQ(bm.ref_count(a.block_table[0]), 2);
  EXPECT_EQ(bm.num_used_blocks(), 4);  // 3 of a + 1 fresh of b
  EXPECT_EQ(bm.prefix_cache_stats().hit_tokens, 8u);
}

TEST(PrefixCache, LastTokenIsAlwaysRecomputed) {
  BlockManager bm(16, 4);
  Sequence a = make_seq(1, range(0, 8));  // exactly two full blocks
  bm.allocate(a);
  compute_all(bm, a);
  Sequence b = make_seq(2, range(0, 8));
  bm.allocate(b);
  // Both blocks are cached, but the last token's logits are needed: only block 0 is a hit.
  EXPECT_EQ(b.num_computed_tokens, 4);
  EXPECT_EQ(b.block_table.size(), 2u);
  EXPECT_EQ(b.block_table[0], a.block_table[0]);
  EXPECT_NE(b.block_table[1], a.block_table[1]);
}

TEST(PrefixCache, HashesAreChainedOverThePrefix) {
  BlockManager bm(16, 4);
  Sequence a = make_seq(1, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  bm.allocate(a);
  compute_all(bm, a);
  // Same second block, different first block: no hit at all.
  Sequence b = make_seq(2, {0, 2, 3, 4, 5, 6, 7, 8, 9});
  bm.allocate(b);
  EXPECT_EQ(b.num_computed_tokens, 0);
}

TEST(PrefixCache, UncomputedBlocksAreNotCached) {
  BlockManager bm(16, 4);
  Sequence a = make_seq(1, range(0, 12));
  bm.allocate(a);
  a.num_computed_tokens = 6;  // a prefill chunk covered block 0 and half of block 1
  bm.cache_full_blocks(a);
  EXPECT_EQ(bm.num_cached_blocks(), 1);
  Sequence b = make_seq(2, range(0, 12));
  bm.allocate(b);
  EXPECT_EQ(b.num_computed_tokens, 4);
}

TEST(PrefixCache, FreedBlocksStayReusableUntilEvicted) {
  BlockManager bm(4, 4);
  Sequence a = make_seq(1, range(0, 9));  // 3 blocks, 2 cacheable
  bm.allocate(a);
  compute_all(bm, a);
  bm.free(a);
  EXPECT_EQ(bm.num_free_blocks(), 4);
  EXPECT_EQ(bm.num_cached_blocks(), 2);

  // One unrelated block: taken from the uncached free blocks, the cache survives.
  Sequence c = make_seq(3, range(1000, 3));
  bm.allocate(c);
  EXPECT_EQ(bm.num_cached_blocks(), 2);
  bm.free(c);

  Sequence b = make_seq(2, range(0, 9));
  ASSERT_TRUE(bm.can_allocate(b));
  bm.allocate(b);
  EXPECT_EQ(b.num_computed_tokens, 8);
  bm.free(b);

  // Four unrelated blocks: every cached block must be evicted.
  Sequence d = make_seq(4, range(2000, 16));
  ASSERT_TRUE(bm.can_allocate(d));
  bm.allocate(d);
  EXPECT_EQ(bm.num_cached_blocks(), 0);
  bm.free(d);
  Sequence e = make_seq(5, range(0, 9));
  bm.allocate(e);
  EXPECT_EQ(e.num_computed_tokens, 0);
}

TEST(PrefixCache, EvictsLeastRecentlyFreedFirst) {
  BlockManager bm(4, 4);
  Sequence old_seq = make_seq(1, range(0, 5));       // 1 cacheable block + 1 partial
  Sequence new_seq = make_seq(2, range(500, 5));
  bm.allocate(old_seq);
  compute_all(bm, old_seq);
  bm.allocate(new_seq);
  compute_all(bm, new_seq);
  bm.free(old_seq);
  bm.free(new_seq);
  ASSERT_EQ(bm.num_cached_blocks(), 2);
  // Three fresh blocks: two uncached ones, then the least recently freed cached block.
  Sequence filler = make_seq(3, range(9000, 12));
  bm.allocate(filler);
  EXPECT_EQ(bm.num_cached_blocks(), 1);
  bm.free(filler);
  Sequence again_new = make_seq(4, range(500, 5));
  bm.allocate(again_new);
  EXPECT_EQ(again_new.num_computed_tokens, 4);
  Sequence again_old = make_seq(5, range(0, 5));
  bm.allocate(again_old);
  EXPECT_EQ(again_old.num_computed_tokens, 0);
}

TEST(PrefixCache, CanAllocateCountsFreeHitsOnce) {
  BlockManager bm(3, 4);
  Sequence a = make_seq(1, range(0, 9));  // 3 blocks, 2 cached
  bm.allocate(a);
  compute_all(bm, a);
  bm.free(a);
  // Needs 3 blocks: 2 hits (both in the free queue) + 1 fresh = all 3 free blocks.
  Sequence b = make_seq(2, range(0, 12));
  EXPECT_TRUE(bm.can_allocate(b));
  // Needs 4 blocks: impossible even with hits.
  Sequence c = make_seq(3, range(0, 13));
  EXPECT_FALSE(bm.can_allocate(c));
}

TEST(PrefixCache, SiblingsShareThePromptBlocks) {
  // n > 1: the first sequence prefills, its siblings then map the same full blocks.
  BlockManager bm(32, 4);
  std::vector<int32_t> prompt = range(7, 14);
  Sequence parent = make_seq(1, prompt);
  bm.allocate(parent);
  compute_all(bm, parent);
  std::vector<Sequence> siblings;
  for (int i = 0; i < 3; ++i) siblings.push_back(make_seq(2 + i, prompt));
  for (Sequence& s : siblings) {
    bm.allocate(s);
    EXPECT_EQ(s.num_computed_tokens, 12);
  }
  for (int b = 0; b < 3; ++b) EXPECT_EQ(bm.ref_count(parent.block_table[b]), 4);
  EXPECT_EQ(bm.num_used_blocks(), 4 + 3);
  for (Sequence& s : siblings) bm.free(s);
  bm.free(parent);
  EXPECT_EQ(bm.num_used_blocks(), 0);
}

}  // namespace
}  // namespace sy
