// CPU reference kernels, dense ops: linear, rms_norm, rope, glu, embedding, add, gated_add,
// convert — each against a naive loop written here (double for f32; the header's rounding
// points for bf16/f16).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>
#include <vector>

#include "kernels/activation.h"
#include "kernels/elementwise.h"
#include "kernels/linear.h"
#include "kernels/norm.h"
#include "kernels/rope.h"
#include "tests/unit/kernels_cpu_test_util.h"

namespace sy::test {
namespace {

// ---------------------------------------------------------------- linear

struct LinearCase {
  int64_t m, n, k;
  DType x_dtype, w_dtype, y_dtype;
  bool bias;
  int64_t ldx_pad = 0, ldy_pad = 0;
};

void check_linear(const LinearCase& c, uint32_t seed) {
  std::mt19937 rng(seed);
  const int64_t ldx = c.k + c.ldx_pad, ldy = c.n + c.ldy_pad;
  Tensor x = random_tensor(rng, c.x_dtype, c.m * ldx);
  Tensor w = random_tensor(rng, c.w_dtype, c.n * c.k);
  Tensor b = random_tensor(rng, c.w_dtype, c.n);
  Tensor y = random_tensor(rng, c.y_dtype, c.m * ldy, 5.0f, 6.0f);  // padding must survive
  const std::vector<float> y_before = y.values();

  LinearArgs a;
  a.x = x.data(); a.w = w.data(); a.bias = c.bias ? b.data() : nullptr; a.y = y.data();
  a.x_dtype = c.x_dtype; a.w_dtype = c.w_dtype; a.y_dtype = c.y_dtype;
  a.m = c.m; a.n = c.n; a.k = c.k;
  a.ldx = c.ldx_pad ? ldx : 0; a.ldy = c.ldy_pad ? ldy : 0;
  cpu::linear(a);

  std::vector<float> got;
  std::vector<double> want;
  for (int64_t i = 0; i < c.m; ++i) {
    for (int64_t j = 0; j < c.n; ++j) {
      double acc = 0;
      for (int64_t kk = 0; kk < c.k; ++kk) acc += double(x.at(i * ldx + kk)) * w.at(j * c.k + kk);
      if (c.bias) acc += b.at(j);
      got.push_back(y.at(i * ldy + j));
      want.push_back(rnd(c.y_dtype, acc));
    }
    for (int64_t j = c.n; j < ldy; ++j) EXPECT_EQ(y.at(i * ldy + j), y_before[size_t(i * ldy + j)]);
  }
  // Sums of k products of values in [-1, 1): absolute error scales with sqrt(k).
  expect_close(got, want, dtype_rtol(c.y_dtype), 1e-5 * std::sqrt(double(c.k)) + 1e-6,
               "linear m=" + std::to_string(c.m) + " n=" + std::to_string(c.n) + " k=" +
                   std::to_string(c.k) + " y " + name_of(c.y_dtype),
               exact_fraction(c.y_dtype));
}

TEST(CpuLinear, MatchesNaiveAcrossShapesAndDtypes) {
  const DType F32 = DType::kF32, BF16 = DType::kBF16, F16 = DType::kF16;
  const std::vector<LinearCase> cases = {
      {1, 1, 1, F32, F32, F32, false},      {1, 37, 19, F32, F32, F32, true},
      {3, 70, 130, F32, F32, F32, true},    {67, 33, 65, F32, F32, F32, false},
      {1, 129, 257, BF16, BF16, BF16, true}, {70, 31, 100, BF16, BF16, BF16, false},
      {5, 40, 77, F32, BF16, F32, true},    {9, 17, 24, F16, F16, F16, true},
      {2, 8, 16, BF16, BF16, F32, false},   {130, 65, 33, F32, F32, F32, true, 7, 5},
      {4, 10, 12, BF16, BF16, BF16, true, 3, 2},
  };
  uint32_t seed = 1;
  for (const auto& c : cases) check_linear(c, seed++);
}

TEST(CpuLinear, RandomOddShapes) {
  // Shapes straddling the 8-lane dot, the 32-column and 64-row tiles.
  std::mt19937 rng(3);
  std::uniform_int_distribution<int64_t> mdist(1, 140), ndist(1, 100), kdist(1, 200);
  const DType dts[] = {DType::kF32, DType::kBF16, DType::kF16};
  for (int i = 0; i < 24; ++i) {
    const DType t = dts[i % 3];
    const DType wt = i % 4 == 0 ? DType::kBF16 : t;  // mixed: bf16 weights, other activations
    check_linear({mdist(rng), ndist(rng), kdist(rng), t, wt, t, i % 2 == 0, i % 5 == 0 ? 3 : 0,
                  i % 7 == 0 ? 4 : 0},
                 100 + uint32_t(i));
  }
  check_linear({1, 1000, 300, DType::kBF16, DType::kBF16, DType::kBF16, false}, 130);  // decode
}

TEST(CpuLinear, EmptyShapesDoNothing) {
  LinearArgs a;
  a.m = 0; a.n = 4; a.k = 4;
  cpu::linear(a);  // null pointers are fine when there is no work
  a.m = 3; a.n = 0;
  cpu::linear(a);
}

// ---------------------------------------------------------------- rms_norm

// `groups` vectors of `dim` per row (per-head norms of a fused q|k|v row), rows ld_pad apart
// beyond them; the padding must come out as it went in.
void check_rms_norm(DType t, DType wt, RmsNormStyle style, int64_t rows, int64_t dim, bool in_place,
                    int64_t ld_pad, uint32_t seed, int64_t groups = 1) {
  std::mt19937 rng(seed);
  const int64_t ld = groups * dim + ld_pad;
  Tensor x = random_tensor(rng, t, rows * ld, -3.0f, 3.0f);
  Tensor w = random_tensor(rng, wt, dim, 0.5f, 1.5f);
  Tensor y = random_tensor(rng, t, rows * ld, -3.0f, 3.0f);
  const Tensor x0 = x, y0 = y;
  RmsNormArgs a;
  a.x = x.data(); a.w = w.data(); a.y = in_place ? x.data() : y.data();
  a.dtype = t; a.w_dtype = wt; a.rows = rows; a.dim = dim; a.ldx = ld; a.ldy = ld;
  a.eps = 1e-5f; a.style = style; a.groups = groups;
  cpu::rms_norm(a);
  const Tensor& out = in_place ? x : y;
  const Tensor& untouched = in_place ? x0 : y0;

  std::vector<float> got;
  std::vector<double> want;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t at = r * ld + g * dim;
      double ss = 0;
      for (int64_t i = 0; i < dim; ++i) ss += double(x0.at(at + i)) * x0.at(at + i);
      const double inv = 1.0 / std::sqrt(ss / double(dim) + 1e-5);
      for (int64_t i = 0; i < dim; ++i) {
        const double n = double(x0.at(at + i)) * inv;
        want.push_back(style == RmsNormStyle::kLlama ? rnd(t, w.at(i) * rnd(t, n)) : rnd(t, w.at(i) * n));
        got.push_back(out.at(at + i));
      }
    }
    for (int64_t i = groups * dim; i < ld; ++i)
      ASSERT_EQ(f32_to_bits(out.at(r * ld + i)), f32_to_bits(untouched.at(r * ld + i)))
          << "rms_norm wrote padding element " << i << " of row " << r;
  }
  expect_close(got, want, dtype_rtol(t), 1e-6, std::string("rms_norm ") + name_of(t), exact_fraction(t));
}

TEST(CpuRmsNorm, LlamaAndWeightF32Styles) {
  uint32_t seed = 10;
  for (DType t : {DType::kF32, DType::kBF16, DType::kF16})
    for (RmsNormStyle s : {RmsNormStyle::kLlama, RmsNormStyle::kWeightF32}) {
      check_rms_norm(t, t, s, 1, 1, false, 0, seed++);
      check_rms_norm(t, t, s, 7, 61, false, 0, seed++);
      check_rms_norm(t, DType::kF32, s, 5, 128, false, 0, seed++);
    }
}

TEST(CpuRmsNorm, InPlaceAndStrided) {
  check_rms_norm(DType::kBF16, DType::kBF16, RmsNormStyle::kLlama, 9, 100, true, 0, 20);
  check_rms_norm(DType::kF32, DType::kF32, RmsNormStyle::kLlama, 9, 33, true, 11, 21);
  check_rms_norm(DType::kF32, DType::kF32, RmsNormStyle::kWeightF32, 4, 64, false, 64, 22);
}

// Qwen3's per-head q norm on a fused q|k|v row: 4 heads of 32 normalised separately, the k and
// v heads after them (the row's padding here) left alone; in place and out of place.
TEST(CpuRmsNorm, GroupsNormaliseEachVectorOfARowOnItsOwn) {
  check_rms_norm(DType::kBF16, DType::kBF16, RmsNormStyle::kLlama, 5, 32, true, 64, 23, 4);
  check_rms_norm(DType::kF32, DType::kF32, RmsNormStyle::kLlama, 3, 33, false, 66, 24, 3);
  check_rms_norm(DType::kF16, DType::kF32, RmsNormStyle::kWeightF32, 1, 128, true, 0, 25, 8);
}

TEST(CpuRmsNorm, RejectsZeroGroupsAndARowShorterThanItsGroups) {
  std::vector<float> x(64, 1.0f), w(8, 1.0f);
  RmsNormArgs a;
  a.x = x.data(); a.w = w.data(); a.y = x.data(); a.rows = 2; a.dim = 8; a.groups = 0;
  EXPECT_THROW(cpu::rms_norm(a), std::invalid_argument);
  a.groups = 4;
  a.ldx = 24;  // < groups * dim
  EXPECT_THROW(cpu::rms_norm(a), std::invalid_argument);
}

TEST(CpuRmsNorm, ManyRowsInPlaceAndNot) {
  check_rms_norm(DType::kBF16, DType::kBF16, RmsNormStyle::kLlama, 300, 257, false, 0, 23);
  check_rms_norm(DType::kF32, DType::kF32, RmsNormStyle::kWeightF32, 300, 129, true, 0, 24);
}

// ---------------------------------------------------------------- rope

struct RopeCase {
  DType t;
  int64_t tokens;
  int q_heads, kv_heads, head_dim, rotary_dim;
  bool interleaved, with_k;
  int64_t stride_pad;
  float factor;
};

// Rotates one head of `vals` (already-loaded values) the way the header describes.
void naive_rotate(std::vector<double>& out, const Tensor& in, int64_t base, const RopeCase& c,
                  int pos, const std::vector<float>& inv_freq) {
  const int half = c.rotary_dim / 2;
  for (int d = 0; d < c.head_dim; ++d) out[size_t(base + d)] = in.at(base + d);
  for (int i = 0; i < half; ++i) {
    const float freq = float(pos) * inv_freq[size_t(i)];
    const double cs = rnd(c.t, double(std::cos(freq) * c.factor));
    const double sn = rnd(c.t, double(std::sin(freq) * c.factor));
    const int lo = c.interleaved ? 2 * i : i, hi = c.interleaved ? 2 * i + 1 : i + half;
    const double xl = in.at(base + lo), xh = in.at(base + hi);
    out[size_t(base + lo)] = rnd(c.t, rnd(c.t, xl * cs) - rnd(c.t, xh * sn));
    out[size_t(base + hi)] = rnd(c.t, rnd(c.t, xh * cs) + rnd(c.t, xl * sn));
  }
}

void check_rope(const RopeCase& c, uint32_t seed) {
  std::mt19937 rng(seed);
  const int64_t qs = int64_t(c.q_heads) * c.head_dim + c.stride_pad;
  const int64_t ks = int64_t(c.kv_heads) * c.head_dim + c.stride_pad;
  Tensor q = random_tensor(rng, c.t, c.tokens * qs, -2.0f, 2.0f);
  Tensor k = random_tensor(rng, c.t, c.tokens * ks, -2.0f, 2.0f);
  const Tensor q0 = q, k0 = k;
  std::vector<int32_t> pos(static_cast<size_t>(c.tokens));
  std::uniform_int_distribution<int> pd(0, 5000);
  for (auto& p : pos) p = pd(rng);
  std::vector<float> inv_freq(static_cast<size_t>(c.rotary_dim / 2));
  for (size_t i = 0; i < inv_freq.size(); ++i)
    inv_freq[i] = std::pow(10000.0f, -2.0f * float(i) / float(c.rotary_dim));

  RopeArgs a;
  a.q = q.data(); a.k = c.with_k ? k.data() : nullptr; a.positions = pos.data();
  a.inv_freq = inv_freq.data(); a.dtype = c.t; a.num_tokens = c.tokens;
  a.num_q_heads = c.q_heads; a.num_kv_heads = c.kv_heads; a.head_dim = c.head_dim;
  a.rotary_dim = c.rotary_dim; a.q_stride = c.stride_pad ? qs : 0; a.k_stride = c.stride_pad ? ks : 0;
  a.attention_factor = c.factor; a.interleaved = c.interleaved;
  cpu::rope(a);

  std::vector<double> want_q(static_cast<size_t>(q.size())), want_k(size_t(k.size()));
  for (int64_t i = 0; i < q.size(); ++i) want_q[size_t(i)] = q0.at(i);
  for (int64_t i = 0; i < k.size(); ++i) want_k[size_t(i)] = k0.at(i);
  for (int64_t t = 0; t < c.tokens; ++t) {
    for (int h = 0; h < c.q_heads; ++h) naive_rotate(want_q, q0, t * qs + h * c.head_dim, c, pos[size_t(t)], inv_freq);
    if (c.with_k)
      for (int h = 0; h < c.kv_heads; ++h) naive_rotate(want_k, k0, t * ks + h * c.head_dim, c, pos[size_t(t)], inv_freq);
  }
  // The same rounding points in the same order: only libm cos/sin vs the float overloads differ.
  const double rtol = c.t == DType::kF32 ? 1e-5 : dtype_rtol(c.t);
  expect_close(q.values(), want_q, rtol, 1e-5, "rope q", exact_fraction(c.t));
  expect_close(k.values(), want_k, rtol, 1e-5, "rope k", exact_fraction(c.t));
}

TEST(CpuRope, RotateHalfInterleavedPartialAndStrided) {
  const DType F32 = DType::kF32, BF16 = DType::kBF16;
  const std::vector<RopeCase> cases = {
      {F32, 1, 1, 1, 2, 2, false, true, 0, 1.0f},
      {F32, 5, 4, 2, 64, 64, false, true, 0, 1.0f},
      {BF16, 7, 6, 2, 64, 64, false, true, 0, 1.0f},
      {BF16, 3, 4, 1, 64, 64, true, true, 0, 1.2f},   // DeepSeek interleaved with yarn factor
      {F32, 4, 3, 3, 40, 16, false, true, 0, 1.0f},   // partial rotary
      {BF16, 4, 2, 2, 48, 12, true, true, 0, 1.0f},   // partial + interleaved
      {F32, 6, 4, 2, 32, 32, false, false, 0, 1.0f},  // no k
      {BF16, 6, 4, 2, 32, 32, false, true, 24, 1.0f}, // strided q/k (fused qkv layout)
      {F32, 200, 8, 1, 128, 128, false, true, 0, 1.0f},  // many tokens
      {DType::kF16, 9, 2, 2, 64, 32, true, true, 5, 0.9f},
      {BF16, 5, 16, 16, 192, 64, true, true, 0, 1.0f},  // DeepSeek: rope part of a wider head
  };
  uint32_t seed = 30;
  for (const auto& c : cases) check_rope(c, seed++);
}

// ---------------------------------------------------------------- glu

double naive_sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

void check_glu(DType t, GluKind kind, int64_t rows, int64_t inter, uint32_t seed) {
  std::mt19937 rng(seed);
  Tensor in = random_tensor(rng, t, rows * 2 * inter, -10.0f, 10.0f);
  Tensor out(t, rows * inter);
  GluArgs a;
  a.gate_up = in.data(); a.out = out.data(); a.dtype = t; a.rows = rows; a.inter = inter; a.kind = kind;
  cpu::glu(a);
  std::vector<double> want;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < inter; ++i) {
      const int64_t base = r * 2 * inter;
      if (kind == GluKind::kSiluMul) {
        const double g = in.at(base + i), u = in.at(base + inter + i);
        want.push_back(rnd(t, rnd(t, g * naive_sigmoid(g)) * u));
      } else {
        const double g = std::min<double>(in.at(base + 2 * i), 7.0);
        const double u = std::clamp<double>(in.at(base + 2 * i + 1), -7.0, 7.0);
        const double sig = rnd(t, naive_sigmoid(rnd(t, g * double(1.702f))));
        const double glu = rnd(t, g * sig);
        want.push_back(rnd(t, rnd(t, u + 1.0) * glu));
      }
    }
  expect_close(out.values(), want, t == DType::kF32 ? 1e-5 : dtype_rtol(t), 1e-6,
               std::string("glu ") + name_of(t), exact_fraction(t));
}

TEST(CpuGlu, SiluMulAndGptOssClamped) {
  uint32_t seed = 40;
  for (DType t : {DType::kF32, DType::kBF16, DType::kF16})
    for (GluKind kind : {GluKind::kSiluMul, GluKind::kGptOssClamped}) {
      check_glu(t, kind, 1, 1, seed++);
      check_glu(t, kind, 5, 37, seed++);
      check_glu(t, kind, 33, 128, seed++);
      check_glu(t, kind, 70, 1001, seed++);  // large enough for the parallel path
    }
}

// ---------------------------------------------------------------- elementwise

TEST(CpuEmbedding, GathersAndConverts) {
  std::mt19937 rng(50);
  const int64_t vocab = 11, dim = 13;
  for (DType tt : {DType::kF32, DType::kBF16})
    for (DType ot : {DType::kF32, DType::kBF16}) {
      Tensor table = random_tensor(rng, tt, vocab * dim);
      std::vector<int32_t> ids = {3, 0, 10, 3, 7};
      Tensor out(ot, int64_t(ids.size()) * dim);
      EmbeddingArgs a;
      a.ids = ids.data(); a.table = table.data(); a.out = out.data();
      a.table_dtype = tt; a.out_dtype = ot; a.num_tokens = int64_t(ids.size()); a.dim = dim;
      cpu::embedding(a);
      std::vector<double> want;
      for (int32_t id : ids)
        for (int64_t i = 0; i < dim; ++i) want.push_back(rnd(ot, table.at(id * dim + i)));
      expect_close(out.values(), want, 0, 0, "embedding");
    }
}

TEST(CpuEmbedding, LargeBatchTakesTheParallelPath) {
  std::mt19937 rng(54);
  const int64_t vocab = 100, dim = 1000, tokens = 150;
  Tensor table = random_tensor(rng, DType::kBF16, vocab * dim);
  std::vector<int32_t> ids(static_cast<size_t>(tokens));
  std::uniform_int_distribution<int32_t> d(0, int32_t(vocab) - 1);
  for (auto& id : ids) id = d(rng);
  Tensor out(DType::kF32, tokens * dim);
  EmbeddingArgs a;
  a.ids = ids.data(); a.table = table.data(); a.out = out.data();
  a.table_dtype = DType::kBF16; a.out_dtype = DType::kF32; a.num_tokens = tokens; a.dim = dim;
  cpu::embedding(a);
  std::vector<double> want;
  for (int32_t id : ids)
    for (int64_t i = 0; i < dim; ++i) want.push_back(table.at(id * dim + i));
  expect_close(out.values(), want, 0, 0, "embedding large");
}

TEST(CpuEmbedding, RejectsNegativeIds) {
  std::vector<int32_t> ids = {1, -3};
  std::vector<float> table(8), out(8);
  EmbeddingArgs a;
  a.ids = ids.data(); a.table = table.data(); a.out = out.data(); a.num_tokens = 2; a.dim = 4;
  EXPECT_THROW(cpu::embedding(a), std::invalid_argument);
}

TEST(CpuAdd, RoundsOnceAndAllowsAliasing) {
  std::mt19937 rng(51);
  for (DType t : {DType::kF32, DType::kBF16, DType::kF16})
   for (int64_t n : {int64_t(1), int64_t(1001), int64_t(100003)}) {
    Tensor x = random_tensor(rng, t, n), y = random_tensor(rng, t, n);
    std::vector<double> want;
    for (int64_t i = 0; i < n; ++i) want.push_back(rnd(t, double(x.at(i)) + y.at(i)));
    AddArgs a;
    a.a = x.data(); a.b = y.data(); a.y = x.data(); a.dtype = t; a.n = n;  // y aliases a
    cpu::add(a);
    expect_close(x.values(), want, 0, 0, std::string("add ") + name_of(t));
  }
}

TEST(CpuGatedAdd, SharedExpertGate) {
  std::mt19937 rng(52);
  for (DType t : {DType::kF32, DType::kBF16})
   for (int64_t rows : {int64_t(1), int64_t(6), int64_t(300)}) {
    const int64_t dim = 45 + rows;
    Tensor y = random_tensor(rng, t, rows * dim), x = random_tensor(rng, t, rows * dim);
    Tensor gate = random_tensor(rng, t, rows, -4.0f, 4.0f);
    std::vector<double> want;
    for (int64_t r = 0; r < rows; ++r) {
      const double g = rnd(t, naive_sigmoid(gate.at(r)));
      for (int64_t i = 0; i < dim; ++i)
        want.push_back(rnd(t, y.at(r * dim + i) + rnd(t, g * x.at(r * dim + i))));
    }
    GatedAddArgs a;
    a.y = y.data(); a.x = x.data(); a.gate = gate.data(); a.dtype = t; a.rows = rows; a.dim = dim;
    cpu::gated_add(a);
    expect_close(y.values(), want, t == DType::kF32 ? 1e-6 : dtype_rtol(t), 1e-6, "gated_add",
                 exact_fraction(t));
  }
}

TEST(CpuConvert, RoundTripsBetweenFloatTypes) {
  std::mt19937 rng(53);
  for (DType from : {DType::kF32, DType::kBF16, DType::kF16})
    for (DType to : {DType::kF32, DType::kBF16, DType::kF16}) {
     for (int64_t n : {int64_t(257), int64_t(70001)}) {
      Tensor x = random_tensor(rng, from, n, -100.0f, 100.0f);
      Tensor y(to, n);
      ConvertArgs a;
      a.x = x.data(); a.y = y.data(); a.x_dtype = from; a.y_dtype = to; a.n = n;
      cpu::convert(a);
      std::vector<double> want;
      for (int64_t i = 0; i < n; ++i) want.push_back(rnd(to, x.at(i)));
      expect_close(y.values(), want, 0, 0, "convert");
     }
    }
}

}  // namespace
}  // namespace sy::test
