// The SIMD paths of the small CPU ops (kernels/cpu/{norm,rope,attention,router,elementwise}_*
// over *_simd.h) against the reference kernels sy::cpu::ref, on every ISA path this CPU has
// (scalar, avx2, avx512 via set_active_isa), with adversarial shapes: dims that are not a
// multiple of any vector width, head_dim 64/80/128/256, GQA groups 1..8, contexts crossing KV
// block boundaries, one-token prefill, prefill on a cached prefix, sliding windows and sinks,
// router ties, strided and in-place rows, and calls large enough to take the threaded path.
//
// Every op but glu performs the reference's operations in the reference's order, so results
// must be bit-identical (routing: the same expert ids and the same weights). glu's sigmoid
// uses a vector exp within a few fp32 ulp of std::exp: a bf16/f16 result may then differ by
// one ulp of the dtype where the fp32 value sits on a rounding boundary (rare: at least 99% of
// the elements stay bit-exact), and an f32 result by a few fp32 ulp (most of them do).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "kernels/activation.h"
#include "kernels/attention.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/ref.h"
#include "kernels/elementwise.h"
#include "kernels/moe/dispatch.h"
#include "kernels/moe/router.h"
#include "kernels/norm.h"
#include "kernels/rope.h"
#include "tests/unit/kernels_cpu_test_util.h"

namespace sy {
namespace {

using cpu::Isa;
using test::Tensor;

constexpr DType kF32 = DType::kF32, kBF16 = DType::kBF16, kF16 = DType::kF16;
const DType kFloatTypes[] = {kF32, kBF16, kF16};

class SmallOpPaths : public test::IsaPathTest {};

INSTANTIATE_TEST_SUITE_P(Isa, SmallOpPaths, ::testing::Values(Isa::kScalar, Isa::kAvx2, Isa::kAvx512),
                         [](const auto& info) { return std::string(cpu::isa_name(info.param)); });

void expect_bit_equal(const Tensor& y, const Tensor& y_ref, const std::string& what) {
  ASSERT_EQ(y.bytes.size(), y_ref.bytes.size()) << what;
  int reported = 0;
  for (int64_t i = 0; i < y.size(); ++i) {
    const float a = y.at(i), r = y_ref.at(i);
    if (f32_to_bits(a) != f32_to_bits(r) && reported++ < 5)
      ADD_FAILURE() << what << ": element " << i << " is " << a << ", reference " << r;
  }
}

void expect_bit_equal(const std::vector<float>& y, const std::vector<float>& y_ref, const std::string& what) {
  ASSERT_EQ(y.size(), y_ref.size()) << what;
  int reported = 0;
  for (size_t i = 0; i < y.size(); ++i)
    if (f32_to_bits(y[i]) != f32_to_bits(y_ref[i]) && reported++ < 5)
      ADD_FAILURE() << what << ": element " << i << " is " << y[i] << ", reference " << y_ref[i];
}

// ---- RMSNorm ----

TEST_P(SmallOpPaths, RmsNormMatchesReference) {
  std::mt19937 rng(11);
  // dims below/at/above the vector widths; 160 × 2048 takes the threaded path.
  // groups > 1: per-head norms inside a fused q|k|v row (5 tokens × 16 heads of 128 takes the
  // threaded path too).
  struct Shape {
    int64_t rows, dim, groups = 1;
  };
  const Shape shapes[] = {{1, 1},    {3, 7},       {2, 64},  {5, 80},     {32, 128},     {4, 130},
                          {1, 2048}, {160, 2048}, {2, 4099}, {3, 128, 4}, {5, 128, 16}, {2, 7, 3}};
  for (const auto& [rows, dim, groups] : shapes)
    for (DType t : kFloatTypes)
      for (DType wt : {kF32, kBF16})
        for (RmsNormStyle style : {RmsNormStyle::kLlama, RmsNormStyle::kWeightF32})
          for (int layout = 0; layout < 3; ++layout) {  // 0: contiguous, 1: strided, 2: in place
            SCOPED_TRACE("rows=" + std::to_string(rows) + " dim=" + std::to_string(dim) +
                         " groups=" + std::to_string(groups) + " t=" + test::name_of(t) +
                         " w=" + test::name_of(wt) + " style=" + std::to_string(int(style)) +
                         " layout=" + std::to_string(layout));
            const int64_t row = groups * dim, ldx = layout == 1 ? row + 3 : row, ldy = layout == 1 ? row + 5 : row;
            Tensor x = test::random_tensor(rng, t, rows * ldx, -3.0f, 3.0f);
            Tensor w = test::random_tensor(rng, wt, dim, 0.5f, 1.5f);
            Tensor y(t, rows * ldy), y_ref(t, rows * ldy);
            RmsNormArgs a;
            a.w = w.data();
            a.dtype = t;
            a.w_dtype = wt;
            a.rows = rows;
            a.dim = dim;
            a.groups = groups;
            a.ldx = ldx;
            a.ldy = ldy;
            a.eps = 1e-6f;
            a.style = style;
            if (layout == 2) {
              y_ref = x;
              y = x;
              a.x = a.y = y_ref.data();
              cpu::ref::rms_norm(a);
              a.x = a.y = y.data();
              cpu::rms_norm(a);
            } else {
              a.x = x.data();
              a.y = y_ref.data();
              cpu::ref::rms_norm(a);
              a.y = y.data();
              cpu::rms_norm(a);
            }
            expect_bit_equal(y, y_ref, "rms_norm");
          }
}

TEST_P(SmallOpPaths, RmsNormRejectsWhatTheReferenceRejects) {
  std::vector<float> x(8, 1.0f), w(8, 1.0f);
  RmsNormArgs a;
  a.x = x.data();
  a.w = w.data();
  a.y = x.data();
  a.rows = 1;
  a.dim = 8;
  a.ldx = 4;  // < dim
  EXPECT_THROW(cpu::rms_norm(a), std::invalid_argument);
  a.ldx = 0;
  a.w = nullptr;
  EXPECT_THROW(cpu::rms_norm(a), std::invalid_argument);
}

// ---- RoPE ----

TEST_P(SmallOpPaths, RopeMatchesReference) {
  std::mt19937 rng(12);
  struct Shape {
    int64_t tokens;
    int q_heads, kv_heads, head_dim, rotary_dim;
    bool with_k, strided, interleaved;
  };
  const Shape shapes[] = {{1, 32, 4, 128, 128, true, false, false},  {3, 4, 2, 64, 64, true, true, false},
                          {5, 2, 1, 80, 80, true, false, false},     {2, 3, 3, 256, 64, false, false, false},
                          {7, 2, 2, 80, 40, true, true, false},      {1, 1, 1, 6, 6, true, false, false},
                          {300, 8, 2, 128, 128, true, false, false}, {4, 2, 1, 64, 64, true, false, true},
                          {3, 4, 2, 128, 80, true, true, true},      {2, 1, 1, 6, 6, true, false, true},
                          {200, 16, 2, 64, 64, true, false, true}};
  for (const Shape& s : shapes)
    for (DType t : kFloatTypes) {
      SCOPED_TRACE("tokens=" + std::to_string(s.tokens) + " head_dim=" + std::to_string(s.head_dim) +
                   " rotary=" + std::to_string(s.rotary_dim) + " t=" + test::name_of(t) +
                   (s.interleaved ? " interleaved" : ""));
      const int64_t q_stride = int64_t(s.q_heads) * s.head_dim + (s.strided ? 9 : 0);
      const int64_t k_stride = int64_t(s.kv_heads) * s.head_dim + (s.strided ? 5 : 0);
      Tensor q = test::random_tensor(rng, t, s.tokens * q_stride, -2.0f, 2.0f);
      Tensor k = test::random_tensor(rng, t, s.tokens * k_stride, -2.0f, 2.0f);
      std::vector<int32_t> positions(static_cast<size_t>(s.tokens));
      for (auto& p : positions) p = int32_t(rng() % 5000);
      std::vector<float> inv_freq(static_cast<size_t>(s.rotary_dim / 2));
      for (size_t i = 0; i < inv_freq.size(); ++i) inv_freq[i] = std::pow(10000.0f, -2.0f * float(i) / float(s.rotary_dim));
      Tensor q_ref = q, k_ref = k;
      RopeArgs a;
      a.positions = positions.data();
      a.inv_freq = inv_freq.data();
      a.dtype = t;
      a.num_tokens = s.tokens;
      a.num_q_heads = s.q_heads;
      a.num_kv_heads = s.kv_heads;
      a.head_dim = s.head_dim;
      a.rotary_dim = s.rotary_dim;
      a.q_stride = s.strided ? q_stride : 0;
      a.k_stride = s.strided ? k_stride : 0;
      a.attention_factor = 1.25f;
      a.interleaved = s.interleaved;
      a.q = q_ref.data();
      a.k = s.with_k ? k_ref.data() : nullptr;
      cpu::ref::rope(a);
      a.q = q.data();
      a.k = s.with_k ? k.data() : nullptr;
      cpu::rope(a);
      expect_bit_equal(q, q_ref, "rope q");
      expect_bit_equal(k, k_ref, "rope k");
    }
}

// ---- Paged attention ----

struct AttentionCase {
  std::vector<int32_t> seq_lens, new_tokens;
  int heads, kv_heads, head_dim, head_dim_v, block_size;
  int sliding_window = 0;
  bool sinks = false;
  int64_t q_pad = 0;
};

std::string describe(const AttentionCase& c) {
  std::string s = "heads=" + std::to_string(c.heads) + "/" + std::to_string(c.kv_heads) + " hd=" +
                  std::to_string(c.head_dim) + "/" + std::to_string(c.head_dim_v) + " block=" +
                  std::to_string(c.block_size) + " window=" + std::to_string(c.sliding_window) +
                  (c.sinks ? " sinks" : "") + " seqs:";
  for (size_t i = 0; i < c.seq_lens.size(); ++i)
    s += " " + std::to_string(c.new_tokens[i]) + "/" + std::to_string(c.seq_lens[i]);
  return s;
}

void check_attention(const AttentionCase& c, DType t, std::mt19937& rng) {
  SCOPED_TRACE(describe(c) + " t=" + test::name_of(t));
  const int num_seqs = int(c.seq_lens.size());
  int max_blocks = 0, total_blocks = 0;
  for (int32_t len : c.seq_lens) {
    max_blocks = std::max(max_blocks, (len + c.block_size - 1) / c.block_size);
    total_blocks += (len + c.block_size - 1) / c.block_size;
  }
  // Blocks in shuffled order, with spares nobody reads; unused table entries stay -1.
  std::vector<int32_t> block_ids(static_cast<size_t>(total_blocks + 2));
  std::iota(block_ids.begin(), block_ids.end(), 0);
  std::shuffle(block_ids.begin(), block_ids.end(), rng);
  std::vector<int32_t> tables(static_cast<size_t>(num_seqs * max_blocks), -1);
  size_t next = 0;
  for (int s = 0; s < num_seqs; ++s)
    for (int b = 0; b < (c.seq_lens[size_t(s)] + c.block_size - 1) / c.block_size; ++b)
      tables[size_t(s * max_blocks + b)] = block_ids[next++];
  const int64_t slots = int64_t(block_ids.size()) * c.block_size;
  Tensor k_cache = test::random_tensor(rng, t, slots * c.kv_heads * c.head_dim, -1.5f, 1.5f);
  Tensor v_cache = test::random_tensor(rng, t, slots * c.kv_heads * c.head_dim_v);
  std::vector<int32_t> query_start{0};
  for (int32_t n : c.new_tokens) query_start.push_back(query_start.back() + n);
  const int64_t tokens = query_start.back();
  const int64_t q_stride = int64_t(c.heads) * c.head_dim + c.q_pad;
  Tensor q = test::random_tensor(rng, t, tokens * q_stride, -1.5f, 1.5f);
  const std::vector<float> sinks = test::random_tensor(rng, kF32, c.heads, -1.0f, 3.0f).values();
  Tensor out(t, tokens * c.heads * c.head_dim_v), out_ref(t, tokens * c.heads * c.head_dim_v);

  PagedAttentionArgs a;
  a.q = q.data();
  a.k_cache = k_cache.data();
  a.v_cache = v_cache.data();
  a.block_tables = tables.data();
  a.seq_lens = c.seq_lens.data();
  a.query_start = query_start.data();
  a.sinks = c.sinks ? sinks.data() : nullptr;
  a.dtype = t;
  a.num_seqs = num_seqs;
  a.num_tokens = tokens;
  a.num_heads = c.heads;
  a.num_kv_heads = c.kv_heads;
  a.head_dim = c.head_dim;
  a.head_dim_v = c.head_dim_v;
  a.block_size = c.block_size;
  a.max_blocks_per_seq = max_blocks;
  a.q_stride = c.q_pad ? q_stride : 0;
  a.scale = 1.0f / std::sqrt(float(c.head_dim));
  a.sliding_window = c.sliding_window;
  a.out = out_ref.data();
  cpu::ref::paged_attention(a);
  a.out = out.data();
  cpu::paged_attention(a);
  expect_bit_equal(out, out_ref, "paged_attention");
}

TEST_P(SmallOpPaths, AttentionDecodeMatchesReference) {
  std::mt19937 rng(13);
  // One query token per sequence; contexts at and across block boundaries; GQA 1..8.
  for (int hd : {64, 80, 128, 256})
    for (int group : {1, 2, 3, 8}) {
      AttentionCase c{{1, 15, 16, 17, 33}, {1, 1, 1, 1, 1}, 2 * group, 2, hd, hd, 16};
      for (DType t : kFloatTypes) check_attention(c, t, rng);
    }
  // Long single-sequence decode (threaded: rows · keys · dims exceeds the fork threshold).
  for (DType t : kFloatTypes) check_attention({{700}, {1}, 32, 4, 128, 128, 16}, t, rng);
  // Batch of eight decode sequences with Qwen3-MoE's head shape.
  check_attention({{20, 21, 5, 64, 100, 3, 16, 47}, {1, 1, 1, 1, 1, 1, 1, 1}, 32, 4, 128, 128, 16}, kBF16, rng);
}

TEST_P(SmallOpPaths, AttentionPrefillMatchesReference) {
  std::mt19937 rng(14);
  for (DType t : kFloatTypes) {
    check_attention({{1}, {1}, 4, 4, 64, 64, 16}, t, rng);                    // one-token prefill
    check_attention({{33}, {33}, 8, 2, 80, 80, 16}, t, rng);                  // no cached prefix
    check_attention({{110}, {40}, 8, 1, 128, 128, 16}, t, rng);               // cached prefix of 70
    check_attention({{70, 1, 35}, {70, 1, 3}, 6, 3, 64, 96, 5}, t, rng);     // mixed, head_dim_v != head_dim
    check_attention({{21, 19}, {3, 1}, 4, 2, 40, 72, 16}, t, rng);           // head dims not a multiple of 16
    check_attention({{90}, {90}, 4, 2, 64, 64, 16, 17, true}, t, rng);        // sliding window + sinks
    check_attention({{40, 9}, {1, 9}, 4, 1, 256, 256, 8, 0, true, 7}, t, rng);  // sinks, strided q
  }
  // Several query blocks per sequence (blocks of 32 tokens), threaded.
  check_attention({{200}, {200}, 16, 2, 128, 128, 16}, kBF16, rng);
  check_attention({{300, 150}, {260, 150}, 8, 8, 64, 64, 16, 100}, kBF16, rng);
}

TEST_P(SmallOpPaths, AttentionRejectsWhatTheReferenceRejects) {
  std::vector<float> q(8), out(8), cache(64);
  std::vector<int32_t> tables{0}, lens{2}, starts{0, 1};
  PagedAttentionArgs a;
  a.q = q.data();
  a.out = out.data();
  a.k_cache = a.v_cache = cache.data();
  a.block_tables = tables.data();
  a.seq_lens = lens.data();
  a.query_start = starts.data();
  a.num_seqs = 1;
  a.num_tokens = 1;
  a.num_heads = 3;
  a.num_kv_heads = 2;  // 3 is not a multiple of 2
  a.head_dim = a.head_dim_v = 2;
  a.block_size = 4;
  a.max_blocks_per_seq = 1;
  EXPECT_THROW(cpu::paged_attention(a), std::invalid_argument);
  a.num_heads = 2;
  lens[0] = 9;  // more than one block of 4 holds
  EXPECT_THROW(cpu::paged_attention(a), std::invalid_argument);
}

// ---- Router ----

struct RouterCase {
  RouterScoring scoring;
  int experts, top_k;
  bool renormalize, bias;
  float scale;
  int n_group = 1, topk_group = 1;  // DeepSeek-V3 group-limited selection when n_group > 1
};

void check_route(const RouterCase& c, DType t, const Tensor& logits, int64_t tokens, const std::vector<float>& bias) {
  std::vector<int32_t> ids(size_t(tokens * c.top_k)), ids_ref(ids.size());
  std::vector<float> w(ids.size()), w_ref(ids.size());
  RouterArgs a;
  a.logits = logits.data();
  a.correction_bias = c.bias ? bias.data() : nullptr;
  a.logits_dtype = t;
  a.num_tokens = tokens;
  a.num_experts = c.experts;
  a.top_k = c.top_k;
  a.scoring = c.scoring;
  a.renormalize = c.renormalize;
  a.routed_scaling_factor = c.scale;
  a.n_group = c.n_group;
  a.topk_group = c.topk_group;
  a.topk_ids = ids_ref.data();
  a.topk_weights = w_ref.data();
  cpu::ref::route(a);
  a.topk_ids = ids.data();
  a.topk_weights = w.data();
  cpu::route(a);
  EXPECT_EQ(ids, ids_ref) << "routing decisions differ";
  expect_bit_equal(w, w_ref, "route weights");
}

TEST_P(SmallOpPaths, RouterMatchesReferenceIncludingTies) {
  std::mt19937 rng(15);
  const RouterCase cases[] = {
      {RouterScoring::kSoftmax, 64, 8, true, false, 1.0f},     {RouterScoring::kSoftmax, 60, 4, false, false, 1.0f},
      {RouterScoring::kSoftmax, 8, 2, false, false, 1.0f},     {RouterScoring::kSoftmax, 130, 1, true, false, 1.0f},
      {RouterScoring::kSigmoid, 64, 8, true, true, 2.5f},      {RouterScoring::kSigmoid, 37, 6, false, false, 1.0f},
      {RouterScoring::kSoftmaxTopk, 32, 4, false, false, 1.0f}, {RouterScoring::kSoftmaxTopk, 128, 8, false, false, 1.0f},
      {RouterScoring::kSoftmax, 5, 5, true, false, 1.0f},
      {RouterScoring::kSigmoid, 64, 8, true, true, 2.5f, 8, 4},  // DeepSeek-V3's group limit, scaled down
      {RouterScoring::kSigmoid, 8, 3, true, true, 1.0f, 8, 3},   // groups of one expert
      {RouterScoring::kSigmoid, 48, 6, false, true, 1.0f, 4, 1}};
  for (const RouterCase& c : cases)
    for (DType t : kFloatTypes)
      for (int64_t tokens : {int64_t(1), int64_t(7), int64_t(300)}) {
        SCOPED_TRACE("scoring=" + std::to_string(int(c.scoring)) + " E=" + std::to_string(c.experts) + " k=" +
                     std::to_string(c.top_k) + " groups=" + std::to_string(c.topk_group) + "/" +
                     std::to_string(c.n_group) + " t=" + test::name_of(t) + " tokens=" + std::to_string(tokens));
        const std::vector<float> bias = test::random_tensor(rng, kF32, c.experts, -0.5f, 0.5f).values();
        check_route(c, t, test::random_tensor(rng, t, tokens * c.experts, -4.0f, 4.0f), tokens, bias);
        // Ties: logits drawn from four values, so most choices are between equal scores, and
        // one token whose logits are all equal.
        Tensor ties(t, tokens * c.experts);
        for (int64_t i = 0; i < ties.size(); ++i) ties.set(i, float(int(rng() % 4)) * 0.5f);
        for (int e = 0; e < c.experts; ++e) ties.set(e, 1.0f);
        check_route(c, t, ties, tokens, bias);
      }
}

// ---- Elementwise ----

TEST_P(SmallOpPaths, AddAndConvertMatchReference) {
  std::mt19937 rng(16);
  // The last size takes the threaded path.
  for (int64_t n : {int64_t(1), int64_t(17), int64_t(2048), int64_t(300007)})
    for (DType t : kFloatTypes) {
      SCOPED_TRACE("n=" + std::to_string(n) + " t=" + test::name_of(t));
      Tensor x = test::random_tensor(rng, t, n, -8.0f, 8.0f), y = test::random_tensor(rng, t, n);
      Tensor out(t, n), out_ref(t, n);
      AddArgs a;
      a.a = x.data();
      a.b = y.data();
      a.dtype = t;
      a.n = n;
      a.y = out_ref.data();
      cpu::ref::add(a);
      a.y = out.data();
      cpu::add(a);
      expect_bit_equal(out, out_ref, "add");
      // In place, as the residual stream is updated.
      Tensor h = x, h_ref = x;
      a.a = a.y = h_ref.data();
      cpu::ref::add(a);
      a.a = a.y = h.data();
      cpu::add(a);
      expect_bit_equal(h, h_ref, "add in place");

      for (DType to : kFloatTypes) {
        Tensor c(to, n), c_ref(to, n);
        ConvertArgs v;
        v.x = x.data();
        v.x_dtype = t;
        v.y_dtype = to;
        v.n = n;
        v.y = c_ref.data();
        cpu::ref::convert(v);
        v.y = c.data();
        cpu::convert(v);
        expect_bit_equal(c, c_ref, std::string("convert to ") + test::name_of(to));
      }
    }
}

TEST_P(SmallOpPaths, EmbeddingAndGatedAddMatchReference) {
  std::mt19937 rng(17);
  // The last shape takes the threaded path.
  for (const auto& [rows, dim] : std::vector<std::pair<int64_t, int64_t>>{{1, 2048}, {5, 13}, {160, 2048}})
    for (DType t : kFloatTypes) {
      SCOPED_TRACE("rows=" + std::to_string(rows) + " dim=" + std::to_string(dim) + " t=" + test::name_of(t));
      const int vocab = 50;
      Tensor table = test::random_tensor(rng, t, vocab * dim);
      std::vector<int32_t> ids(static_cast<size_t>(rows));
      for (auto& id : ids) id = int32_t(rng() % vocab);
      for (DType to : kFloatTypes) {
        Tensor e(to, rows * dim), e_ref(to, rows * dim);
        EmbeddingArgs a;
        a.ids = ids.data();
        a.table = table.data();
        a.table_dtype = t;
        a.out_dtype = to;
        a.num_tokens = rows;
        a.dim = dim;
        a.out = e_ref.data();
        cpu::ref::embedding(a);
        a.out = e.data();
        cpu::embedding(a);
        expect_bit_equal(e, e_ref, std::string("embedding to ") + test::name_of(to));
      }

      Tensor y = test::random_tensor(rng, t, rows * dim, -4.0f, 4.0f), x = test::random_tensor(rng, t, rows * dim);
      Tensor gate = test::random_tensor(rng, t, rows, -6.0f, 6.0f);
      Tensor y_ref = y;
      GatedAddArgs g;
      g.x = x.data();
      g.gate = gate.data();
      g.dtype = t;
      g.rows = rows;
      g.dim = dim;
      g.y = y_ref.data();
      cpu::ref::gated_add(g);
      g.y = y.data();
      cpu::gated_add(g);
      expect_bit_equal(y, y_ref, "gated_add");
    }
  std::vector<int32_t> bad{-1};
  std::vector<float> table(4), out(4);
  EmbeddingArgs a;
  a.ids = bad.data();
  a.table = table.data();
  a.out = out.data();
  a.num_tokens = 1;
  a.dim = 4;
  EXPECT_THROW(cpu::embedding(a), std::invalid_argument);
}

TEST_P(SmallOpPaths, MoeCombineMatchesReference) {
  std::mt19937 rng(18);
  for (int k : {1, 2, 8})
    for (const auto& [tokens, hidden] : std::vector<std::pair<int64_t, int64_t>>{{1, 2048}, {3, 13}, {40, 2048}})
      for (DType t : kFloatTypes)
        for (bool round_weights : {true, false}) {
          SCOPED_TRACE("k=" + std::to_string(k) + " tokens=" + std::to_string(tokens) + " hidden=" +
                       std::to_string(hidden) + " t=" + test::name_of(t) + (round_weights ? " rounded" : ""));
          const int experts = 16;
          const int64_t pairs = tokens * k;
          std::vector<int32_t> ids(static_cast<size_t>(pairs));
          for (int64_t tok = 0; tok < tokens; ++tok) {  // k distinct experts per token, in random order
            std::vector<int32_t> e(experts);
            std::iota(e.begin(), e.end(), 0);
            std::shuffle(e.begin(), e.end(), rng);
            std::copy_n(e.begin(), k, ids.begin() + tok * k);
          }
          std::vector<int32_t> pair_to_row(static_cast<size_t>(pairs));
          std::iota(pair_to_row.begin(), pair_to_row.end(), 0);
          std::shuffle(pair_to_row.begin(), pair_to_row.end(), rng);
          const std::vector<float> w = test::random_tensor(rng, kF32, pairs, 0.0f, 1.0f).values();
          Tensor y_sorted = test::random_tensor(rng, t, pairs * hidden, -3.0f, 3.0f);
          Tensor out(t, tokens * hidden), out_ref(t, tokens * hidden);
          CombineArgs a;
          a.y_sorted = y_sorted.data();
          a.pair_to_row = pair_to_row.data();
          a.topk_ids = ids.data();
          a.topk_weights = w.data();
          a.dtype = t;
          a.num_tokens = tokens;
          a.hidden = hidden;
          a.top_k = k;
          a.round_weights = round_weights;
          a.out = out_ref.data();
          cpu::ref::moe_combine(a);
          a.out = out.data();
          cpu::moe_combine(a);
          expect_bit_equal(out, out_ref, "moe_combine");
        }
}

// glu on a vector-exp path: see the file comment for the bound.
void expect_glu_close(const Tensor& y, const Tensor& y_ref, bool exact_path, const std::string& what) {
  if (exact_path) return expect_bit_equal(y, y_ref, what);
  int64_t exact = 0;
  int reported = 0;
  for (int64_t i = 0; i < y.size(); ++i) {
    const float a = y.at(i), r = y_ref.at(i);
    if (f32_to_bits(a) == f32_to_bits(r)) {
      ++exact;
      continue;
    }
    // One ulp of the dtype at the reference value (bf16: 8 significant bits, f16: 11), or a
    // few fp32 ulp for f32 results.
    const int mant = y.dtype == kBF16 ? 8 : y.dtype == kF16 ? 11 : 22;
    const double ulp = std::ldexp(1.0, std::ilogb(std::max(std::fabs(double(r)), 1e-30)) - mant + 1);
    const double tiny = y.dtype == kF16 ? std::ldexp(1.0, -24) : 1e-37;  // f16 subnormal step
    if (!(std::fabs(double(a) - double(r)) <= std::max(ulp, tiny)) && reported++ < 5)
      ADD_FAILURE() << what << ": element " << i << " is " << a << ", reference " << r;
  }
  if (y.dtype != kF32)
    EXPECT_GE(double(exact) / double(y.size()), 0.99) << what << ": " << exact << " of " << y.size() << " bit-exact";
}

TEST_P(SmallOpPaths, GluMatchesReferenceWithinAnUlp) {
  std::mt19937 rng(19);
  const bool exact_path = GetParam() == Isa::kScalar;
  for (GluKind kind : {GluKind::kSiluMul, GluKind::kGptOssClamped})
    // The last shape takes the threaded path.
    for (const auto& [rows, inter] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {8, 768}, {3, 13}, {128, 768}})
      for (DType t : kFloatTypes) {
        SCOPED_TRACE("kind=" + std::to_string(int(kind)) + " rows=" + std::to_string(rows) + " inter=" +
                     std::to_string(inter) + " t=" + test::name_of(t));
        // Wide range: saturating sigmoid on both sides and, for GPT-OSS, values beyond the limit.
        Tensor gate_up = test::random_tensor(rng, t, rows * 2 * inter, -12.0f, 12.0f);
        if (gate_up.size() > 4) {
          gate_up.set(0, t == kF16 ? -60000.0f : -200.0f);
          gate_up.set(1, t == kF16 ? 60000.0f : 200.0f);
          gate_up.set(2, 0.0f);
          gate_up.set(3, -0.0f);
        }
        Tensor out(t, rows * inter), out_ref(t, rows * inter);
        GluArgs a;
        a.gate_up = gate_up.data();
        a.dtype = t;
        a.rows = rows;
        a.inter = inter;
        a.kind = kind;
        a.out = out_ref.data();
        cpu::ref::glu(a);
        a.out = out.data();
        cpu::glu(a);
        expect_glu_close(out, out_ref, exact_path, "glu");
      }
}

}  // namespace
}  // namespace sy
