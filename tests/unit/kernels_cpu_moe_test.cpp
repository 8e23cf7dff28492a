// CPU reference kernels, MoE ops: route, moe_align, moe_permute, moe_combine, grouped_gemm —
// each against a naive version written here.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <stdexcept>
#include <vector>

#include "kernels/moe/dispatch.h"
#include "kernels/moe/grouped_gemm.h"
#include "kernels/moe/router.h"
#include "tests/unit/kernels_cpu_test_util.h"

namespace sy::test {
namespace {

// ---------------------------------------------------------------- route

struct RouteResult {
  std::vector<int32_t> ids;
  std::vector<double> weights;
};

// Experts ordered by key descending, ties to the lower id (a stable sort of 0..E-1).
std::vector<int32_t> order_by(const std::vector<double>& key) {
  std::vector<int32_t> ids(key.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::stable_sort(ids.begin(), ids.end(), [&](int32_t x, int32_t y) { return key[size_t(x)] > key[size_t(y)]; });
  return ids;
}

RouteResult naive_route(const RouterArgs& a, const Tensor& logits) {
  RouteResult r;
  const int E = a.num_experts, k = a.top_k;
  for (int64_t t = 0; t < a.num_tokens; ++t) {
    std::vector<double> x(static_cast<size_t>(E)), weight_src(x), key(x);
    for (int e = 0; e < E; ++e) x[size_t(e)] = logits.at(t * E + e);
    std::vector<double> w(static_cast<size_t>(k));
    std::vector<int32_t> chosen;
    if (a.scoring == RouterScoring::kSoftmaxTopk) {
      const auto ord = order_by(x);
      chosen.assign(ord.begin(), ord.begin() + k);
      double mx = x[size_t(chosen[0])], sum = 0;
      for (int j = 0; j < k; ++j) sum += std::exp(x[size_t(chosen[size_t(j)])] - mx);
      for (int j = 0; j < k; ++j) w[size_t(j)] = std::exp(x[size_t(chosen[size_t(j)])] - mx) / sum;
    } else {
      if (a.scoring == RouterScoring::kSoftmax) {
        const double mx = *std::max_element(x.begin(), x.end());
        double sum = 0;
        for (double v : x) sum += std::exp(v - mx);
        for (int e = 0; e < E; ++e) weight_src[size_t(e)] = key[size_t(e)] = std::exp(x[size_t(e)] - mx) / sum;
      } else {
        for (int e = 0; e < E; ++e) {
          weight_src[size_t(e)] = 1.0 / (1.0 + std::exp(-x[size_t(e)]));
          key[size_t(e)] = weight_src[size_t(e)] + (a.correction_bias ? a.correction_bias[e] : 0.0);
        }
        if (a.n_group > 1) {
          const int gs = E / a.n_group;
          std::vector<double> gscore(static_cast<size_t>(a.n_group));
          for (int g = 0; g < a.n_group; ++g) {
            std::vector<double> members(key.begin() + g * gs, key.begin() + (g + 1) * gs);
            std::sort(members.rbegin(), members.rend());
            gscore[size_t(g)] = members[0] + (gs > 1 ? members[1] : 0.0);
          }
          const auto gord = order_by(gscore);
          std::vector<bool> keep(size_t(a.n_group), false);
          for (int i = 0; i < a.topk_group; ++i) keep[size_t(gord[size_t(i)])] = true;
          for (int e = 0; e < E; ++e)
            if (!keep[size_t(e / gs)]) key[size_t(e)] = -INFINITY;
        }
      }
      const auto ord = order_by(key);
      chosen.assign(ord.begin(), ord.begin() + k);
      double sum = 0;
      for (int j = 0; j < k; ++j) sum += (w[size_t(j)] = weight_src[size_t(chosen[size_t(j)])]);
      if (a.renormalize)
        for (auto& v : w) v /= a.scoring == RouterScoring::kSigmoid ? sum + 1e-20 : sum;
    }
    for (int j = 0; j < k; ++j) {
      r.ids.push_back(chosen[size_t(j)]);
      r.weights.push_back(w[size_t(j)] * a.routed_scaling_factor);
    }
  }
  return r;
}

void check_route(RouterArgs a, const Tensor& logits, const std::vector<float>* bias, const std::string& what) {
  std::vector<int32_t> ids(size_t(a.num_tokens * a.top_k), -1);
  std::vector<float> w(ids.size(), -1.0f);
  a.logits = logits.data(); a.logits_dtype = logits.dtype;
  a.correction_bias = bias ? bias->data() : nullptr;
  a.topk_ids = ids.data(); a.topk_weights = w.data();
  cpu::route(a);
  const RouteResult want = naive_route(a, logits);
  EXPECT_EQ(ids, want.ids) << what;
  expect_close(w, want.weights, 1e-5, 1e-7, what + " weights");
}

TEST(CpuRoute, SoftmaxTopkRenormalisedOrNot) {
  std::mt19937 rng(60);
  for (int E : {1, 3, 8, 60, 256})
    for (int k = 1; k <= 8; ++k) {
      if (k > E) continue;
      for (bool renorm : {false, true}) {
        RouterArgs a;
        a.num_tokens = 9; a.num_experts = E; a.top_k = k; a.renormalize = renorm;
        a.scoring = RouterScoring::kSoftmax;
        check_route(a, random_tensor(rng, DType::kF32, 9 * E, -4.0f, 4.0f), nullptr,
                    "softmax E=" + std::to_string(E) + " k=" + std::to_string(k));
        a.scoring = RouterScoring::kSoftmaxTopk;
        check_route(a, random_tensor(rng, DType::kBF16, 9 * E, -4.0f, 4.0f), nullptr,
                    "softmax-after-topk E=" + std::to_string(E) + " k=" + std::to_string(k));
      }
    }
}

TEST(CpuRoute, DeepSeekGroupedSigmoidWithBias) {
  std::mt19937 rng(61);
  struct G { int E, n_group, topk_group, k; };
  for (const G g : {G{256, 8, 4, 8}, G{64, 8, 3, 6}, G{16, 4, 1, 2}, G{8, 1, 1, 3}, G{60, 1, 1, 4}}) {
    RouterArgs a;
    a.num_tokens = 13; a.num_experts = g.E; a.top_k = g.k; a.scoring = RouterScoring::kSigmoid;
    a.renormalize = true; a.routed_scaling_factor = 2.5f; a.n_group = g.n_group; a.topk_group = g.topk_group;
    std::vector<float> bias = random_tensor(rng, DType::kF32, g.E, -0.5f, 0.5f).values();
    check_route(a, random_tensor(rng, DType::kF32, 13 * g.E, -3.0f, 3.0f), &bias,
                "sigmoid E=" + std::to_string(g.E) + " groups=" + std::to_string(g.n_group));
    a.renormalize = false;
    check_route(a, random_tensor(rng, DType::kBF16, 13 * g.E, -3.0f, 3.0f), nullptr,
                "sigmoid no bias E=" + std::to_string(g.E));
  }
}

TEST(CpuRoute, ManyTokensTakeTheParallelPath) {
  std::mt19937 rng(62);
  RouterArgs a;
  a.num_tokens = 300; a.num_experts = 128; a.top_k = 8; a.renormalize = true;
  a.scoring = RouterScoring::kSoftmax;
  check_route(a, random_tensor(rng, DType::kBF16, 300 * 128, -4.0f, 4.0f), nullptr, "softmax 300 tokens");
  a.scoring = RouterScoring::kSigmoid; a.n_group = 8; a.topk_group = 4; a.routed_scaling_factor = 2.5f;
  std::vector<float> bias = random_tensor(rng, DType::kF32, 128, -0.1f, 0.1f).values();
  check_route(a, random_tensor(rng, DType::kF32, 300 * 128, -4.0f, 4.0f), &bias, "sigmoid 300 tokens");
}

TEST(CpuRoute, MaskedGroupsAreExcludedEvenWithNegativeBiasedScores) {
  // 4 groups of 2. Every biased score is negative; group 2 holds the best pair. Experts of
  // dropped groups must not be chosen even though a masked 0.0 would outrank every kept score.
  const int E = 8;
  std::vector<float> logits = {0, 0, 0, 0, 2, 2, 0, 0};
  std::vector<float> bias(E, -5.0f);
  std::vector<int32_t> ids(2);
  std::vector<float> w(2);
  Tensor lt(DType::kF32, logits);
  RouterArgs a;
  a.logits = lt.data(); a.correction_bias = bias.data(); a.topk_ids = ids.data(); a.topk_weights = w.data();
  a.num_tokens = 1; a.num_experts = E; a.top_k = 2; a.scoring = RouterScoring::kSigmoid;
  a.n_group = 4; a.topk_group = 1; a.renormalize = true;
  cpu::route(a);
  EXPECT_EQ(ids, (std::vector<int32_t>{4, 5}));
  EXPECT_FLOAT_EQ(w[0], 0.5f);
  EXPECT_FLOAT_EQ(w[1], 0.5f);
}

TEST(CpuRoute, TiedGroupsGoToTheLowerGroupId) {
  // 4 groups of 2, all experts equal: groups 0 and 1 are kept, so experts 0..3 are candidates.
  const int E = 8;
  std::vector<float> logits(E, 1.0f);
  std::vector<int32_t> ids(3);
  std::vector<float> w(3);
  Tensor lt(DType::kF32, logits);
  RouterArgs a;
  a.logits = lt.data(); a.topk_ids = ids.data(); a.topk_weights = w.data();
  a.num_tokens = 1; a.num_experts = E; a.top_k = 3; a.scoring = RouterScoring::kSigmoid;
  a.n_group = 4; a.topk_group = 2;
  cpu::route(a);
  EXPECT_EQ(ids, (std::vector<int32_t>{0, 1, 2}));
}

TEST(CpuRoute, TiesGoToTheLowerExpertId) {
  // Token 0: all equal. Token 1: experts 5 and 2 tie for first, 7 and 1 for third.
  const int E = 8;
  std::vector<float> logits(2 * E, 0.0f);
  logits[E + 5] = logits[E + 2] = 3.0f;
  logits[E + 7] = logits[E + 1] = 1.0f;
  for (RouterScoring s : {RouterScoring::kSoftmax, RouterScoring::kSigmoid, RouterScoring::kSoftmaxTopk}) {
    std::vector<int32_t> ids(8);
    std::vector<float> w(8);
    RouterArgs a;
    Tensor lt(DType::kF32, logits);
    a.logits = lt.data(); a.topk_ids = ids.data(); a.topk_weights = w.data();
    a.num_tokens = 2; a.num_experts = E; a.top_k = 4; a.scoring = s;
    cpu::route(a);
    EXPECT_EQ(ids, (std::vector<int32_t>{0, 1, 2, 3, 2, 5, 1, 7})) << int(s);
  }
}

TEST(CpuRoute, RejectsImpossibleConfigurations) {
  std::vector<float> logits(8);
  std::vector<int32_t> ids(8);
  std::vector<float> w(8);
  RouterArgs a;
  a.logits = logits.data(); a.topk_ids = ids.data(); a.topk_weights = w.data();
  a.num_tokens = 1; a.num_experts = 8; a.top_k = 9;
  EXPECT_THROW(cpu::route(a), std::invalid_argument);
  a.top_k = 2; a.scoring = RouterScoring::kSigmoid; a.n_group = 3;
  EXPECT_THROW(cpu::route(a), std::invalid_argument);
}

// ---------------------------------------------------------------- align / permute / combine

TEST(CpuMoeAlign, StableCountingSortAndInverse) {
  std::mt19937 rng(70);
  for (int E : {1, 3, 8, 60, 256})
    for (int k : {1, 2, 8}) {
      if (k > E) continue;
      const int64_t tokens = 37, pairs = tokens * k;
      std::vector<int32_t> ids(static_cast<size_t>(pairs));
      std::uniform_int_distribution<int> d(0, E - 1);
      for (auto& id : ids) id = d(rng);
      std::vector<int32_t> off(static_cast<size_t>(E + 1)), sorted(ids.size()), inv(ids.size());
      MoeAlignArgs a;
      a.topk_ids = ids.data(); a.expert_offsets = off.data(); a.sorted_pairs = sorted.data();
      a.pair_to_row = inv.data(); a.num_pairs = pairs; a.num_experts = E;
      cpu::moe_align(a);
      // Naive: stable sort of pair indices by expert id.
      std::vector<int32_t> want(ids.size());
      std::iota(want.begin(), want.end(), 0);
      std::stable_sort(want.begin(), want.end(), [&](int32_t x, int32_t y) { return ids[size_t(x)] < ids[size_t(y)]; });
      EXPECT_EQ(sorted, want);
      for (int e = 0; e <= E; ++e)
        EXPECT_EQ(off[size_t(e)], std::count_if(ids.begin(), ids.end(), [&](int32_t v) { return v < e; }));
      for (int64_t r = 0; r < pairs; ++r) EXPECT_EQ(inv[size_t(sorted[size_t(r)])], r);
    }
}

TEST(CpuMoeAlign, RejectsOutOfRangeExpertIdNamingIt) {
  std::vector<int32_t> ids = {0, 2, 5, 1};
  std::vector<int32_t> off(5), sorted(4), inv(4);
  MoeAlignArgs a;
  a.topk_ids = ids.data(); a.expert_offsets = off.data(); a.sorted_pairs = sorted.data();
  a.pair_to_row = inv.data(); a.num_pairs = 4; a.num_experts = 4;
  try {
    cpu::moe_align(a);
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("expert id 5"), std::string::npos) << e.what();
  }
  ids[2] = -1;
  EXPECT_THROW(cpu::moe_align(a), std::invalid_argument);
}

// align -> permute -> (fake expert: scale rows by expert id + 1) -> combine, against a direct
// per-token loop with the combine's rounding points.
void check_dispatch_round_trip(DType t, int E, int k, int64_t tokens, int64_t hidden, bool round_weights,
                               uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> ids(static_cast<size_t>(tokens * k));
  for (int64_t tok = 0; tok < tokens; ++tok) {  // k distinct experts per token, random order
    std::vector<int32_t> all(static_cast<size_t>(E));
    std::iota(all.begin(), all.end(), 0);
    std::shuffle(all.begin(), all.end(), rng);
    std::copy(all.begin(), all.begin() + k, ids.begin() + tok * k);
  }
  std::vector<float> w = random_tensor(rng, DType::kF32, tokens * k, 0.0f, 1.0f).values();
  Tensor x = random_tensor(rng, t, tokens * hidden);

  std::vector<int32_t> off(static_cast<size_t>(E + 1)), sorted(ids.size()), inv(ids.size());
  MoeAlignArgs al;
  al.topk_ids = ids.data(); al.expert_offsets = off.data(); al.sorted_pairs = sorted.data();
  al.pair_to_row = inv.data(); al.num_pairs = int64_t(ids.size()); al.num_experts = E;
  cpu::moe_align(al);

  Tensor xs(t, int64_t(ids.size()) * hidden);
  PermuteArgs pa;
  pa.x = x.data(); pa.x_sorted = xs.data(); pa.sorted_pairs = sorted.data(); pa.dtype = t;
  pa.num_rows = int64_t(ids.size()); pa.hidden = hidden; pa.top_k = k;
  cpu::moe_permute(pa);
  for (int e = 0; e < E; ++e)
    for (int32_t r = off[size_t(e)]; r < off[size_t(e) + 1]; ++r) {
      const int64_t tok = sorted[size_t(r)] / k;
      ASSERT_EQ(ids[size_t(sorted[size_t(r)])], e);
      for (int64_t i = 0; i < hidden; ++i) {
        ASSERT_EQ(xs.at(r * hidden + i), x.at(tok * hidden + i)) << "permute row " << r;
        xs.set(r * hidden + i, xs.at(r * hidden + i) * float(e + 1));  // the "expert"
      }
    }

  Tensor out(t, tokens * hidden);
  CombineArgs ca;
  ca.y_sorted = xs.data(); ca.pair_to_row = inv.data(); ca.topk_ids = ids.data();
  ca.topk_weights = w.data(); ca.out = out.data(); ca.dtype = t; ca.num_tokens = tokens;
  ca.hidden = hidden; ca.top_k = k; ca.round_weights = round_weights;
  cpu::moe_combine(ca);

  std::vector<double> want;
  for (int64_t tok = 0; tok < tokens; ++tok)
    for (int64_t i = 0; i < hidden; ++i) {
      bool first = true;
      double acc = 0;
      for (int e = 0; e < E; ++e)  // transformers' expert loop order
        for (int j = 0; j < k; ++j)
          if (ids[size_t(tok * k + j)] == e) {
            const double y = rnd(t, double(x.at(tok * hidden + i)) * (e + 1));
            const double wj = w[size_t(tok * k + j)];
            const double term = rnd(t, y * (round_weights ? rnd(t, wj) : wj));
            acc = first ? term : rnd(t, acc + term);
            first = false;
          }
      want.push_back(acc);
    }
  expect_close(out.values(), want, t == DType::kF32 ? 1e-6 : 0.0, 1e-7,
               std::string("combine ") + name_of(t) + " E=" + std::to_string(E) + " k=" + std::to_string(k));
}

TEST(CpuMoeDispatch, PermuteAndCombineRoundTrip) {
  uint32_t seed = 80;
  for (DType t : {DType::kF32, DType::kBF16, DType::kF16})
    for (int E : {1, 3, 8, 60})
      for (int k : {1, 2, 3, 8}) {
        if (k > E) continue;
        for (bool round_weights : {true, false}) {
          check_dispatch_round_trip(t, E, k, 1, 7, round_weights, seed++);
          check_dispatch_round_trip(t, E, k, 19, 33, round_weights, seed++);
        }
  // Large enough for the parallel permute and combine paths.
  check_dispatch_round_trip(DType::kBF16, 60, 4, 300, 256, true, seed++);
  check_dispatch_round_trip(DType::kF32, 256, 8, 100, 90, false, seed++);
      }
}

// ---------------------------------------------------------------- grouped_gemm

void check_grouped_gemm(DType act, DType wt, const std::vector<int32_t>& counts, int64_t n, int64_t k,
                        bool bias, uint32_t seed) {
  std::mt19937 rng(seed);
  const int E = int(counts.size());
  std::vector<int32_t> off(size_t(E + 1), 0);
  for (int e = 0; e < E; ++e) off[size_t(e + 1)] = off[size_t(e)] + counts[size_t(e)];
  const int64_t rows = off[size_t(E)];
  Tensor x = random_tensor(rng, act, rows * k);
  Tensor w = random_tensor(rng, wt, E * n * k);
  Tensor b = random_tensor(rng, wt, E * n);
  Tensor y(act, rows * n);
  GroupedGemmArgs a;
  a.x = x.data(); a.w = w.data(); a.bias = bias ? b.data() : nullptr; a.y = y.data();
  a.expert_offsets = off.data(); a.act_dtype = act; a.w_dtype = wt; a.num_experts = E;
  a.n = n; a.k = k; a.total_rows = rows;
  cpu::grouped_gemm(a);
  std::vector<double> want;
  for (int e = 0; e < E; ++e)
    for (int64_t r = off[size_t(e)]; r < off[size_t(e + 1)]; ++r)
      for (int64_t j = 0; j < n; ++j) {
        double acc = bias ? b.at(e * n + j) : 0.0;
        for (int64_t kk = 0; kk < k; ++kk) acc += double(x.at(r * k + kk)) * w.at((e * n + j) * k + kk);
        want.push_back(rnd(act, acc));
      }
  expect_close(y.values(), want, dtype_rtol(act), 1e-5 * std::sqrt(double(k)) + 1e-6,
               std::string("grouped_gemm ") + name_of(act) + "/" + name_of(wt), exact_fraction(act));
}

TEST(CpuGroupedGemm, SegmentsEmptySingleAndAllOnOne) {
  const DType F32 = DType::kF32, BF16 = DType::kBF16;
  uint32_t seed = 90;
  check_grouped_gemm(F32, F32, {3, 0, 1, 70}, 37, 19, true, seed++);
  check_grouped_gemm(F32, F32, {0, 0, 130, 0}, 65, 33, false, seed++);  // all on one expert
  check_grouped_gemm(BF16, BF16, {1, 0, 5, 0, 2, 9, 0, 1}, 48, 70, true, seed++);
  check_grouped_gemm(F32, BF16, {4, 4, 4}, 20, 64, true, seed++);  // bf16 weights, f32 activations
  check_grouped_gemm(DType::kF16, DType::kF16, {2, 3}, 9, 17, false, seed++);
  check_grouped_gemm(F32, F32, {1}, 1, 1, false, seed++);
  check_grouped_gemm(F32, F32, {0, 0, 0}, 8, 8, false, seed++);  // nothing to do
  check_grouped_gemm(BF16, BF16, {0, 200, 0}, 100, 70, true, seed++);  // one expert, many tiles
}

TEST(CpuGroupedGemm, ManyExpertsRandomSegments) {
  std::mt19937 rng(95);
  for (int E : {60, 256}) {
    std::vector<int32_t> counts(static_cast<size_t>(E), 0);
    std::uniform_int_distribution<int> d(0, E - 1);
    for (int i = 0; i < 3 * E / 2; ++i) ++counts[size_t(d(rng))];  // many empty, some 1, some more
    check_grouped_gemm(DType::kBF16, DType::kBF16, counts, 24, 40, E == 60, 96 + uint32_t(E));
  }
}

TEST(CpuGroupedGemm, RejectsOffsetsThatDisagreeWithTotalRows) {
  std::vector<int32_t> off = {0, 2, 5};
  std::vector<float> x(5 * 4), w(2 * 3 * 4), y(5 * 3);
  GroupedGemmArgs a;
  a.x = x.data(); a.w = w.data(); a.y = y.data(); a.expert_offsets = off.data();
  a.num_experts = 2; a.n = 3; a.k = 4; a.total_rows = 4;
  EXPECT_THROW(cpu::grouped_gemm(a), std::invalid_argument);
  a.total_rows = 5;
  EXPECT_NO_THROW(cpu::grouped_gemm(a));
}

}  // namespace
}  // namespace sy::test
