// CPU reference kernels, attention: kv_cache_write and paged_attention against a naive
// attention over each sequence's contiguous K/V (GQA, sliding window, sinks, head_dim_v !=
// head_dim, strided q, mixed prefill chunks and decode tokens).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/attention.h"
#include "tests/unit/kernels_cpu_test_util.h"

namespace sy::test {
namespace {

struct AttnCase {
  DType t = DType::kF32;
  std::vector<int32_t> seq_lens;   // context length per sequence, new tokens included
  std::vector<int32_t> new_tokens; // new (query) tokens per sequence: the last ones
  int heads = 4, kv_heads = 2, head_dim = 16, head_dim_v = 16, block_size = 4;
  int sliding_window = 0;
  bool sinks = false;
  int64_t q_pad = 0;  // extra elements per q token (q read from a fused qkv buffer)
};

// A case's inputs: per-sequence contiguous K/V and the queries; and a paged cache filled
// from them through kv_cache_write with the given block assignment.
struct AttnSetup {
  AttnCase c;
  std::vector<Tensor> k, v;  // per sequence [seq_len, kv_heads, head_dim(_v)]
  Tensor q;                  // [num_tokens, q_stride]
  std::vector<float> sinks;  // [heads]
  std::vector<int32_t> query_start;
  int64_t num_tokens = 0, q_stride = 0;
  int max_blocks = 0;
};

AttnSetup make_setup(const AttnCase& c, uint32_t seed) {
  std::mt19937 rng(seed);
  AttnSetup s;
  s.c = c;
  s.query_start = {0};
  for (size_t i = 0; i < c.seq_lens.size(); ++i) {
    s.k.push_back(random_tensor(rng, c.t, int64_t(c.seq_lens[i]) * c.kv_heads * c.head_dim));
    s.v.push_back(random_tensor(rng, c.t, int64_t(c.seq_lens[i]) * c.kv_heads * c.head_dim_v));
    s.query_start.push_back(s.query_start.back() + c.new_tokens[i]);
    s.max_blocks = std::max(s.max_blocks, (c.seq_lens[i] + c.block_size - 1) / c.block_size);
  }
  s.num_tokens = s.query_start.back();
  s.q_stride = int64_t(c.heads) * c.head_dim + c.q_pad;
  s.q = random_tensor(rng, c.t, s.num_tokens * s.q_stride, -2.0f, 2.0f);
  s.sinks = random_tensor(rng, DType::kF32, c.heads, -1.0f, 3.0f).values();
  return s;
}

// Runs kv_cache_write (all context tokens, with a few "do not store" slots mixed in) and
// paged_attention with the block order given by `block_ids` (a permutation of the blocks).
std::vector<float> run_paged(const AttnSetup& s, const std::vector<int32_t>& block_ids) {
  const AttnCase& c = s.c;
  const int num_seqs = int(c.seq_lens.size());
  const int64_t num_blocks = int64_t(block_ids.size());
  Tensor k_cache(c.t, num_blocks * c.block_size * c.kv_heads * c.head_dim);
  Tensor v_cache(c.t, num_blocks * c.block_size * c.kv_heads * c.head_dim_v);
  std::vector<int32_t> tables(size_t(num_seqs) * size_t(s.max_blocks), -1);
  size_t next = 0;
  for (int sq = 0; sq < num_seqs; ++sq) {
    const int nb = (c.seq_lens[size_t(sq)] + c.block_size - 1) / c.block_size;
    for (int b = 0; b < nb; ++b) tables[size_t(sq * s.max_blocks + b)] = block_ids[next++];
    std::vector<int64_t> slots(size_t(c.seq_lens[size_t(sq)]) + 1);
    for (int32_t p = 0; p < c.seq_lens[size_t(sq)]; ++p)
      slots[size_t(p)] = int64_t(tables[size_t(sq * s.max_blocks + p / c.block_size)]) * c.block_size + p % c.block_size;
    slots.back() = -1;  // one extra token that must not be stored
    // k/v rows: the sequence's tokens plus one garbage row for the skipped slot.
    Tensor k_rows = s.k[size_t(sq)], v_rows = s.v[size_t(sq)];
    k_rows.bytes.resize(k_rows.bytes.size() + size_t(c.kv_heads * c.head_dim) * dtype_size(c.t), 0x7f);
    v_rows.bytes.resize(v_rows.bytes.size() + size_t(c.kv_heads * c.head_dim_v) * dtype_size(c.t), 0x7f);
    KvCacheWriteArgs w;
    w.k = k_rows.data(); w.v = v_rows.data(); w.k_cache = k_cache.data(); w.v_cache = v_cache.data();
    w.slot_mapping = slots.data(); w.dtype = c.t; w.num_tokens = int64_t(slots.size());
    w.num_kv_heads = c.kv_heads; w.head_dim = c.head_dim; w.head_dim_v = c.head_dim_v;
    cpu::kv_cache_write(w);
  }
  Tensor out(c.t, s.num_tokens * c.heads * c.head_dim_v);
  PagedAttentionArgs a;
  a.q = s.q.data(); a.out = out.data(); a.k_cache = k_cache.data(); a.v_cache = v_cache.data();
  a.block_tables = tables.data(); a.seq_lens = c.seq_lens.data(); a.query_start = s.query_start.data();
  a.sinks = c.sinks ? s.sinks.data() : nullptr; a.dtype = c.t; a.num_seqs = num_seqs;
  a.num_tokens = s.num_tokens; a.num_heads = c.heads; a.num_kv_heads = c.kv_heads;
  a.head_dim = c.head_dim; a.head_dim_v = c.head_dim_v; a.block_size = c.block_size;
  a.max_blocks_per_seq = s.max_blocks; a.q_stride = c.q_pad ? s.q_stride : 0;
  a.scale = 1.0f / std::sqrt(float(c.head_dim)); a.sliding_window = c.sliding_window;
  cpu::paged_attention(a);
  return out.values();
}

// Eager attention per (token, head) over the sequence's contiguous K/V.
std::vector<double> naive_attention(const AttnSetup& s) {
  const AttnCase& c = s.c;
  const DType t = c.t;
  const double scale = double(1.0f / std::sqrt(float(c.head_dim)));
  std::vector<double> out;
  for (size_t sq = 0; sq < c.seq_lens.size(); ++sq)
    for (int i = 0; i < c.new_tokens[sq]; ++i) {
      const int64_t tok = s.query_start[sq] + i;
      const int q_pos = c.seq_lens[sq] - c.new_tokens[sq] + i;
      for (int h = 0; h < c.heads; ++h) {
        const int kvh = h / (c.heads / c.kv_heads);
        std::vector<int> visible;
        std::vector<double> score;
        for (int p = 0; p <= q_pos; ++p) {
          if (c.sliding_window > 0 && p <= q_pos - c.sliding_window) continue;
          double dot = 0;
          for (int d = 0; d < c.head_dim; ++d)
            dot += double(s.q.at(tok * s.q_stride + h * c.head_dim + d)) *
                   s.k[sq].at((int64_t(p) * c.kv_heads + kvh) * c.head_dim + d);
          visible.push_back(p);
          score.push_back(rnd(t, rnd(t, dot) * scale));
        }
        double mx = c.sinks ? s.sinks[size_t(h)] : -INFINITY;
        for (double x : score) mx = std::max(mx, x);
        double denom = c.sinks ? std::exp(s.sinks[size_t(h)] - mx) : 0.0;
        for (double x : score) denom += std::exp(x - mx);
        for (int d = 0; d < c.head_dim_v; ++d) {
          double acc = 0;
          for (size_t j = 0; j < visible.size(); ++j)
            acc += rnd(t, std::exp(score[j] - mx) / denom) *
                   s.v[sq].at((int64_t(visible[j]) * c.kv_heads + kvh) * c.head_dim_v + d);
          out.push_back(rnd(t, acc));
        }
      }
    }
  return out;
}

std::vector<int32_t> total_blocks(const AttnSetup& s) {
  int32_t n = 0;
  for (int32_t len : s.c.seq_lens) n += (len + s.c.block_size - 1) / s.c.block_size;
  std::vector<int32_t> ids(size_t(n) + 3);  // a few spare blocks nobody uses
  std::iota(ids.begin(), ids.end(), 0);
  return ids;
}

void check_attention(const AttnCase& c, uint32_t seed, const std::string& what) {
  const AttnSetup s = make_setup(c, seed);
  std::vector<int32_t> blocks = total_blocks(s);
  std::mt19937 rng(seed + 1000);
  std::shuffle(blocks.begin(), blocks.end(), rng);
  // bf16: a score or probability on a rounding boundary may land one ulp apart.
  expect_close(run_paged(s, blocks), naive_attention(s), c.t == DType::kF32 ? 1e-5 : 2.5e-2, 1e-4, what,
               exact_fraction(c.t));
}

TEST(CpuPagedAttention, DecodeAndPrefillMixedBatch) {
  AttnCase c;
  c.seq_lens = {1, 9, 17, 5};
  c.new_tokens = {1, 9, 1, 3};  // fresh prefill of 1, full prefill, decode, chunked prefill
  for (DType t : {DType::kF32, DType::kBF16}) {
    c.t = t;
    check_attention(c, 100, std::string("mixed batch ") + name_of(t));
  }
}

TEST(CpuPagedAttention, GqaRatiosOneToEight) {
  uint32_t seed = 110;
  for (int ratio = 1; ratio <= 8; ++ratio) {
    AttnCase c;
    c.kv_heads = 2; c.heads = 2 * ratio; c.head_dim = 24; c.head_dim_v = 24;
    c.seq_lens = {13, 6}; c.new_tokens = {2, 6};
    check_attention(c, seed++, "gqa ratio " + std::to_string(ratio));
  }
}

TEST(CpuPagedAttention, HeadDimVDiffersAndStridedQ) {
  AttnCase c;
  c.heads = 4; c.kv_heads = 1; c.head_dim = 40; c.head_dim_v = 24; c.q_pad = 9;  // MLA-like
  c.seq_lens = {11, 3}; c.new_tokens = {4, 1}; c.block_size = 8;
  for (DType t : {DType::kF32, DType::kBF16}) {
    c.t = t;
    check_attention(c, 120, std::string("head_dim_v ") + name_of(t));
  }
}

TEST(CpuPagedAttention, SlidingWindowAndSinks) {
  uint32_t seed = 130;
  for (int window : {0, 1, 3, 8})
    for (bool sinks : {false, true})
      for (DType t : {DType::kF32, DType::kBF16}) {
        AttnCase c;
        c.t = t; c.sliding_window = window; c.sinks = sinks; c.heads = 8; c.kv_heads = 2;
        c.seq_lens = {21, 7, 2}; c.new_tokens = {5, 1, 2}; c.block_size = 16;
        check_attention(c, seed++, "window " + std::to_string(window) + (sinks ? " sinks " : " ") + name_of(t));
      }
}

TEST(CpuPagedAttention, LongContextDecodeAndDominantSink) {
  AttnCase c;
  c.heads = 8; c.kv_heads = 1; c.head_dim = 64; c.head_dim_v = 64; c.block_size = 16;
  c.seq_lens = {300, 1, 77}; c.new_tokens = {1, 1, 77};
  for (DType t : {DType::kF32, DType::kBF16}) {
    c.t = t;
    c.sinks = false;
    check_attention(c, 150, std::string("long context ") + name_of(t));
    c.sinks = true;  // random sinks in [-1, 3): often larger than every score
    check_attention(c, 151, std::string("long context sinks ") + name_of(t));
  }
}

TEST(CpuKvCacheWrite, StridedInputsAndSkippedSlots) {
  // k and v read out of a fused [tokens, q | k | v] buffer; slots scattered, one skipped.
  const int kv_heads = 2, hd = 8, hdv = 6;
  const int64_t tokens = 5, q_width = 16, row = q_width + kv_heads * (hd + hdv);
  std::mt19937 rng(160);
  Tensor qkv = random_tensor(rng, DType::kBF16, tokens * row);
  const int64_t num_slots = 12;
  Tensor k_cache(DType::kBF16, num_slots * kv_heads * hd), v_cache(DType::kBF16, num_slots * kv_heads * hdv);
  std::vector<int64_t> slots = {7, -1, 0, 11, 3};
  KvCacheWriteArgs a;
  a.k = static_cast<const char*>(qkv.data()) + q_width * 2;
  a.v = static_cast<const char*>(qkv.data()) + (q_width + kv_heads * hd) * 2;
  a.k_cache = k_cache.data(); a.v_cache = v_cache.data(); a.slot_mapping = slots.data();
  a.dtype = DType::kBF16; a.num_tokens = tokens; a.num_kv_heads = kv_heads; a.head_dim = hd;
  a.head_dim_v = hdv; a.k_stride = row; a.v_stride = row;
  cpu::kv_cache_write(a);
  std::vector<double> want_k(size_t(k_cache.size()), 0.0), want_v(size_t(v_cache.size()), 0.0);
  for (int64_t t = 0; t < tokens; ++t) {
    if (slots[size_t(t)] < 0) continue;
    for (int i = 0; i < kv_heads * hd; ++i)
      want_k[size_t(slots[size_t(t)] * kv_heads * hd + i)] = qkv.at(t * row + q_width + i);
    for (int i = 0; i < kv_heads * hdv; ++i)
      want_v[size_t(slots[size_t(t)] * kv_heads * hdv + i)] = qkv.at(t * row + q_width + kv_heads * hd + i);
  }
  expect_close(k_cache.values(), want_k, 0, 0, "k_cache");
  expect_close(v_cache.values(), want_v, 0, 0, "v_cache");
}

TEST(CpuPagedAttention, ShuffledBlocksEqualContiguousCache) {
  AttnCase c;
  c.t = DType::kBF16; c.heads = 6; c.kv_heads = 3; c.head_dim = 32; c.head_dim_v = 32; c.block_size = 4;
  c.seq_lens = {30, 9, 14}; c.new_tokens = {3, 9, 1}; c.sliding_window = 10; c.sinks = true;
  const AttnSetup s = make_setup(c, 140);
  std::vector<int32_t> contiguous = total_blocks(s);
  std::vector<int32_t> shuffled = contiguous;
  std::mt19937 rng(141);
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  ASSERT_NE(shuffled, contiguous);
  EXPECT_EQ(run_paged(s, shuffled), run_paged(s, contiguous));  // bit-identical
}

TEST(CpuPagedAttention, RejectsHeadsNotAMultipleOfKvHeads) {
  PagedAttentionArgs a;
  a.num_tokens = 1; a.num_heads = 6; a.num_kv_heads = 4; a.head_dim = 8; a.head_dim_v = 8; a.block_size = 4;
  EXPECT_THROW(cpu::paged_attention(a), std::invalid_argument);
}

}  // namespace
}  // namespace sy::test
