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

}  // namespace
}  // namespace sy
