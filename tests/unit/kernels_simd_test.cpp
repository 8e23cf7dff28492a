// The SIMD fast paths (kernels/cpu/*_avx512.cpp, *_avx2.cpp, pack.h's int8 format, the AMX
// tiles of matmul_amx_bf16.h) against the reference kernels sy::cpu::ref, on every ISA path this
// CPU has (scalar, avx2, avx512, amx via set_active_isa), with random and adversarial shapes (k
// not a multiple of any vector width, single rows and columns, strided rows, empty experts, one
// expert holding every row).
//
// Tolerances (docs/perf/cpu.md explains them):
//  - float weights on the scalar and AVX2 paths, and every float mix but bf16·bf16 on AVX-512,
//    sum in the reference's order: results must be bit-identical.
//  - bf16·bf16 on AVX-512 (vdpbf16ps) and AMX (tdpbf16ps) sums in another order. Any fp32
//    summation of k products is within γ_k·S of the exact value (γ_k ≈ k·2⁻²⁴, S = Σ|x·w|), so two orders differ by at
//    most 2·γ_k·S before the final rounding, plus one ulp of the output dtype after it. The
//    observed difference is far smaller, so at least 90% of bf16 outputs must be bit-exact.
//  - int8: SIMD and the scalar int8 kernel use identical integers and differ only in the fp32
//    sum over the 16 activation lane groups (bounded like the above); against the float reference the bound is the
//    quantisation error Σ|x|·|Δw| + |w|·|Δx| + |Δx|·|Δw|, computed from the data.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/pack.h"
#include "kernels/cpu/ref.h"
#include "kernels/cpu/simd_kernels.h"
#include "kernels/linear.h"
#include "kernels/moe/grouped_gemm.h"
#include "tests/unit/kernels_cpu_test_util.h"

namespace sy {
namespace {

using cpu::Isa;
using test::Tensor;

class SimdPaths : public test::IsaPathTest {
 protected:
  // True when this path reorders the bf16·bf16 dot product (vdpbf16ps).
  bool reorders(DType x, DType w) const {
    return GetParam() >= Isa::kAvx512 && x == DType::kBF16 && w == DType::kBF16;
  }
};

INSTANTIATE_TEST_SUITE_P(Isa, SimdPaths, ::testing::Values(Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kAmx),
                         [](const auto& info) { return std::string(cpu::isa_name(info.param)); });

double ulp_of(DType t, double v) {
  const int mant = t == DType::kBF16 ? 8 : t == DType::kF16 ? 11 : 24;
  const double a = std::max(std::fabs(v), 1e-30);
  return std::ldexp(1.0, std::ilogb(a) - mant + 1);
}

// Compares a reordered-summation result with the reference (see the file comment).
void expect_reordered_close(const Tensor& y, const Tensor& y_ref, const std::vector<double>& abs_sum, int64_t k,
                            const std::string& what) {
  const double gamma = double(k) * std::ldexp(1.0, -24);
  int64_t exact = 0, reported = 0;
  for (int64_t i = 0; i < y.size(); ++i) {
    const double a = y.at(i), r = y_ref.at(i);
    if (a == r) ++exact;
    const double bound = 2.0 * gamma * abs_sum[size_t(i)] + ulp_of(y.dtype, r);
    if (!(std::fabs(a - r) <= bound) && reported++ < 5)
      ADD_FAILURE() << what << ": element " << i << " is " << a << ", reference " << r << ", bound " << bound;
  }
  if (y.dtype != DType::kF32 && y.size() >= 64)
    EXPECT_GE(double(exact) / double(y.size()), 0.9) << what << ": " << exact << " of " << y.size() << " bit-exact";
}

void expect_bit_equal(const Tensor& y, const Tensor& y_ref, const std::string& what) {
  int reported = 0;
  for (int64_t i = 0; i < y.size(); ++i) {
    const float a = y.at(i), r = y_ref.at(i);
    if (f32_to_bits(a) != f32_to_bits(r) && reported++ < 5)
      ADD_FAILURE() << what << ": element " << i << " is " << a << ", reference " << r;
  }
}

struct LinearCase {
  int64_t m, n, k;
  DType x, w, y;
  bool bias;
  int64_t ldx_pad, ldy_pad;
};

std::string describe(const LinearCase& c) {
  return "m=" + std::to_string(c.m) + " n=" + std::to_string(c.n) + " k=" + std::to_string(c.k) + " x=" +
         test::name_of(c.x) + " w=" + test::name_of(c.w) + " y=" + test::name_of(c.y) + (c.bias ? " bias" : "") +
         " ldx+" + std::to_string(c.ldx_pad) + " ldy+" + std::to_string(c.ldy_pad);
}

std::vector<LinearCase> linear_cases() {
  const DType f32 = DType::kF32, bf = DType::kBF16, f16 = DType::kF16;
  std::vector<LinearCase> cases;
  // Shapes: decode rows, tile tails (3 rows, 5 columns), k below/at/above every vector width.
  // 67 × 70 × 96 and 67 × 48 × 64 run on AMX tiles where the CPU has them: whole and half
  // 32-channel blocks, a 6-channel tail, a 3-row last block.
  const int64_t shapes[][3] = {{1, 1, 1},    {1, 7, 5},    {3, 13, 33},  {2, 5, 31},    {5, 64, 64},
                               {1, 130, 257}, {4, 9, 1000}, {67, 70, 96}, {1, 300, 2048}, {67, 48, 64}};
  const DType mixes[][3] = {{f32, f32, f32}, {bf, bf, bf}, {bf, bf, f32}, {f32, bf, f32}, {bf, f32, bf}, {f16, f16, f16}};
  int variant = 0;
  for (const auto& s : shapes)
    for (const auto& d : mixes) {
      ++variant;
      cases.push_back({s[0], s[1], s[2], d[0], d[1], d[2], variant % 2 == 0, variant % 3 == 0 ? 3 : 0,
                       variant % 4 == 0 ? 2 : 0});
    }
  return cases;
}

TEST_P(SimdPaths, LinearMatchesReference) {
  std::mt19937 rng(1234);
  for (const LinearCase& c : linear_cases()) {
    SCOPED_TRACE(describe(c));
    const int64_t ldx = c.k + c.ldx_pad, ldy = c.n + c.ldy_pad;
    Tensor x = test::random_tensor(rng, c.x, c.m * ldx), w = test::random_tensor(rng, c.w, c.n * c.k);
    Tensor bias = test::random_tensor(rng, c.w, c.n);
    Tensor y(c.y, c.m * ldy), y_ref(c.y, c.m * ldy);
    LinearArgs a;
    a.x = x.data();
    a.w = w.data();
    a.bias = c.bias ? bias.data() : nullptr;
    a.x_dtype = c.x;
    a.w_dtype = c.w;
    a.y_dtype = c.y;
    a.m = c.m;
    a.n = c.n;
    a.k = c.k;
    a.ldx = ldx;
    a.ldy = ldy;
    a.y = y_ref.data();
    cpu::ref::linear(a);
    a.y = y.data();
    cpu::linear(a);
    if (!reorders(c.x, c.w)) {
      expect_bit_equal(y, y_ref, "linear");
      continue;
    }
    std::vector<double> abs_sum(size_t(y.size()), 0.0);
    for (int64_t i = 0; i < c.m; ++i)
      for (int64_t j = 0; j < c.n; ++j) {
        double s = c.bias ? std::fabs(bias.at(j)) : 0.0;
        for (int64_t q = 0; q < c.k; ++q) s += std::fabs(double(x.at(i * ldx + q)) * w.at(j * c.k + q));
        abs_sum[size_t(i * ldy + j)] = s;
      }
    expect_reordered_close(y, y_ref, abs_sum, c.k, "linear");
  }
}

// linear() on all m rows of random x, then on each part [first, first + rows) of them alone:
// every part's outputs must equal the full call's, bit for bit.
void expect_parts_match_full_call(std::mt19937& rng, DType t, int64_t m, int64_t n, int64_t k,
                                  const std::vector<std::pair<int64_t, int64_t>>& parts) {
  Tensor x = test::random_tensor(rng, t, m * k), w = test::random_tensor(rng, t, n * k), all(t, m * n);
  LinearArgs a;
  a.x = x.data();
  a.w = w.data();
  a.y = all.data();
  a.x_dtype = a.w_dtype = a.y_dtype = t;
  a.m = m;
  a.n = n;
  a.k = k;
  cpu::linear(a);
  for (const auto& [first, rows] : parts) {
    Tensor part(t, rows * n);
    LinearArgs b = a;
    b.x = static_cast<const char*>(x.data()) + first * k * dtype_size(t);
    b.y = part.data();
    b.m = rows;
    cpu::linear(b);
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < n; ++j)
        ASSERT_EQ(f32_to_bits(part.at(i * n + j)), f32_to_bits(all.at((first + i) * n + j)))
            << test::name_of(t) << " row " << first + i << " column " << j << " (part of " << rows << " rows)";
  }
}

// Each row's result must not depend on which other rows share the call (DESIGN.md §4.7:
// batched equals unbatched): row tiles of 1, 2 and 4 rows compute the same per-row sums.
// (11 rows stay below the AMX threshold; AMX-sized calls are pinned by the next test.)
TEST_P(SimdPaths, LinearRowsAreBatchInvariant) {
  std::mt19937 rng(7);
  std::vector<std::pair<int64_t, int64_t>> single_rows;
  for (int64_t i = 0; i < 11; ++i) single_rows.push_back({i, 1});
  for (DType t : {DType::kF32, DType::kBF16}) expect_parts_match_full_call(rng, t, 11, 37, 515, single_rows);
}

// Calls of >= 16 rows (on AMX: tiles) give each row the same bits whatever the other rows
// are and wherever the row sits in its 16-row block: rows 5..44 computed in a 40-row call and
// again inside a 64-row call. Calls below 16 rows use the vdpbf16ps order instead, which is
// what makes AMX results batch-dependent (docs/perf/cpu.md).
TEST_P(SimdPaths, PrefillSizedCallsAreBatchInvariantAmongThemselves) {
  std::mt19937 rng(8);
  for (DType t : {DType::kF32, DType::kBF16}) expect_parts_match_full_call(rng, t, 64, 48, 96, {{5, 40}});
}

// Segments: random sizes with empty experts, every row in one expert, one row per expert.
std::vector<std::vector<int32_t>> segment_layouts(std::mt19937& rng, int experts) {
  std::vector<std::vector<int32_t>> layouts;
  std::uniform_int_distribution<int> size(0, 9);
  std::vector<int32_t> counts(static_cast<size_t>(experts));
  for (int& c : counts) c = size(rng) < 3 ? 0 : size(rng);
  layouts.push_back(counts);
  std::vector<int32_t> one(static_cast<size_t>(experts), 0);
  one[size_t(experts / 2)] = 70;
  layouts.push_back(one);
  layouts.push_back(std::vector<int32_t>(size_t(experts), 1));
  // Prefill-sized segments next to small ones (AMX takes the segments of >= 16 rows).
  std::vector<int32_t> mixed = {17, 0, 5, 33, 16, 1};
  mixed.resize(size_t(experts), 2);
  layouts.push_back(mixed);
  return layouts;
}

std::vector<int32_t> offsets_of(const std::vector<int32_t>& counts) {
  std::vector<int32_t> off{0};
  for (int32_t c : counts) off.push_back(off.back() + c);
  return off;
}

TEST_P(SimdPaths, GroupedGemmMatchesReference) {
  std::mt19937 rng(99);
  const int experts = 6;
  for (DType act : {DType::kF32, DType::kBF16})
    for (DType wt : {DType::kF32, DType::kBF16})
      for (const auto& [n, k] : std::vector<std::pair<int64_t, int64_t>>{{24, 40}, {9, 131}, {64, 512}, {40, 96}})
        for (const auto& counts : segment_layouts(rng, experts)) {
          const std::vector<int32_t> off = offsets_of(counts);
          const int64_t rows = off.back();
          SCOPED_TRACE(std::string("act=") + test::name_of(act) + " w=" + test::name_of(wt) + " n=" +
                       std::to_string(n) + " k=" + std::to_string(k) + " rows=" + std::to_string(rows));
          Tensor x = test::random_tensor(rng, act, rows * k), w = test::random_tensor(rng, wt, experts * n * k);
          Tensor bias = test::random_tensor(rng, wt, experts * n);
          Tensor y(act, rows * n), y_ref(act, rows * n);
          GroupedGemmArgs a;
          a.x = x.data();
          a.w = w.data();
          a.bias = (n % 2) ? bias.data() : nullptr;
          a.expert_offsets = off.data();
          a.act_dtype = act;
          a.w_dtype = wt;
          a.num_experts = experts;
          a.n = n;
          a.k = k;
          a.total_rows = rows;
          a.y = y_ref.data();
          cpu::ref::grouped_gemm(a);
          a.y = y.data();
          cpu::grouped_gemm(a);
          if (!reorders(act, wt)) {
            expect_bit_equal(y, y_ref, "grouped_gemm");
            continue;
          }
          std::vector<double> abs_sum(size_t(rows * n));
          for (int e = 0; e < experts; ++e)
            for (int64_t r = off[size_t(e)]; r < off[size_t(e) + 1]; ++r)
              for (int64_t j = 0; j < n; ++j) {
                double s = a.bias ? std::fabs(bias.at(e * n + j)) : 0.0;
                for (int64_t q = 0; q < k; ++q) s += std::fabs(double(x.at(r * k + q)) * w.at((e * n + j) * k + q));
                abs_sum[size_t(r * n + j)] = s;
              }
          expect_reordered_close(y, y_ref, abs_sum, k, "grouped_gemm");
        }
}

// ---- int8 weight-only path ----

TEST(Int8Pack, QuantizesPerChannelWithinHalfAStep) {
  std::mt19937 rng(5);
  const int experts = 2;
  const int64_t n = 5, k = 70;  // k pads to 128
  Tensor w = test::random_tensor(rng, DType::kBF16, experts * n * k, -3.0f, 3.0f);
  w.set(3 * k + 4, 0.0f);
  for (int64_t q = 0; q < k; ++q) w.set((experts * n - 1) * k + q, 0.0f);  // an all-zero channel
  const cpu::PackedWeights p = cpu::quantize_weights_int8(cpu::contiguous_weights(w.data(), DType::kBF16, experts, n, k));
  ASSERT_EQ(p.k_pad, 128);
  for (int e = 0; e < experts; ++e)
    for (int64_t r = 0; r < n; ++r) {
      const float scale = p.expert_scales(e)[r];
      float amax = 0.0f;
      for (int64_t q = 0; q < k; ++q) amax = std::max(amax, std::fabs(w.at((e * n + r) * k + q)));
      EXPECT_FLOAT_EQ(scale, amax / 127.0f);
      const uint8_t* row = p.channel(e, r);
      for (int64_t q = 0; q < p.k_pad; ++q) {
        const float deq = float(int(row[q / cpu::kInt8Group * cpu::kInt8GroupStride + q % cpu::kInt8Group]) - 128) * scale;
        const float want = q < k ? w.at((e * n + r) * k + q) : 0.0f;
        EXPECT_LE(std::fabs(deq - want), 0.5f * scale + 1e-7f) << "expert " << e << " row " << r << " k " << q;
      }
    }
}

TEST(Int8Pack, PadsChannelsToWholeTilesWithZeroScale) {
  std::vector<float> w(6 * 8, 0.5f);
  const cpu::PackedWeights p = cpu::quantize_weights_int8(cpu::contiguous_weights(w.data(), DType::kF32, 2, 6, 8));
  ASSERT_EQ(p.n_pad, 8);
  for (int e = 0; e < 2; ++e)
    for (int64_t r = 6; r < 8; ++r) {
      EXPECT_EQ(p.expert_scales(e)[r], 0.0f);
      for (int64_t q = 0; q < cpu::kInt8Group; ++q) EXPECT_EQ(p.channel(e, r)[q], 128);
    }
  EXPECT_EQ(p.bytes(), size_t(2 * 8 * (64 + 4)));
}

// The AVX-512 activation quantiser must give the scalar one's integers and scales exactly:
// the kernels' results on every path rest on identical integer operands.
TEST(Int8Pack, VectorisedActivationQuantisationIsBitIdentical) {
  if (!cpu::cpu_features().avx512_vnni || !cpu::cpu_features().avx512bw) GTEST_SKIP() << "no AVX-512 VNNI";
  std::mt19937 rng(9);
  for (DType t : {DType::kF32, DType::kBF16, DType::kF16})
    for (int64_t k : {1, 63, 64, 70, 200, 2048}) {
      const int64_t k_pad = (k + 63) / 64 * 64;
      Tensor x = test::random_tensor(rng, t, k, -4.0f, 4.0f);
      if (k > 10) {
        x.set(3, 0.0f);
        x.set(7, 1000.0f);  // an outlier: its group's scale is large
        for (int64_t i = 0; i < std::min<int64_t>(k, 64); i += 5) x.set(i, -x.at(i));
      }
      if (k >= 128)
        for (int64_t i = 0; i < k; ++i)
          if ((i / 4) % cpu::kInt8Lanes == 5) x.set(i, 0.0f);  // an all-zero lane group
      std::vector<int8_t> q1(static_cast<size_t>(k_pad)), q2(static_cast<size_t>(k_pad), 99);
      std::vector<float> s1(cpu::kInt8Lanes), s2(cpu::kInt8Lanes, -1.0f);
      std::vector<int32_t> n1(cpu::kInt8Lanes), n2(cpu::kInt8Lanes, 7);
      cpu::quantize_activation_row(x.data(), t, k, k_pad, q1.data(), s1.data(), n1.data());
      cpu::avx512::quantize_activation_row(x.data(), t, k, k_pad, q2.data(), s2.data(), n2.data());
      EXPECT_EQ(q1, q2) << test::name_of(t) << " k=" << k;
      EXPECT_EQ(s1, s2) << test::name_of(t) << " k=" << k;
      EXPECT_EQ(n1, n2) << test::name_of(t) << " k=" << k;
    }
}

TEST(Int8Pack, RejectsMalformedSources) {
  cpu::WeightSource s;
  s.n = 0;
  EXPECT_THROW(cpu::quantize_weights_int8(s), std::invalid_argument);
  std::vector<float> w(4, 1.0f);
  s = cpu::contiguous_weights(w.data(), DType::kF32, 1, 1, cpu::kInt8MaxK + 1);  // lane sums could overflow
  EXPECT_THROW(cpu::quantize_weights_int8(s), std::invalid_argument);
  s = cpu::contiguous_weights(nullptr, DType::kI32, 1, 2, 2);
  EXPECT_THROW(cpu::quantize_weights_int8(s), std::invalid_argument);
}

TEST(Int8Pack, OpsRejectPackedWeightsOfAnotherShape) {
  std::vector<float> w(6 * 8, 0.5f), x(8, 1.0f), y(6);
  const cpu::PackedWeights p = cpu::quantize_weights_int8(cpu::contiguous_weights(w.data(), DType::kF32, 1, 6, 8));
  LinearArgs a;
  a.x = x.data();
  a.y = y.data();
  a.packed = &p;
  a.m = 1;
  a.n = 6;
  a.k = 7;
  EXPECT_THROW(cpu::linear(a), std::invalid_argument);
}

// The quantisation error bound of one output, from the data (file comment); activations are
// quantised per lane group l = {i : (i / 4) % 16 == l} (pack.h).
double int8_error_bound(const float* x, const float* w, int64_t k, float w_scale) {
  auto lane = [](int64_t i) { return size_t((i / 4) % cpu::kInt8Lanes); };
  std::vector<double> amax(cpu::kInt8Lanes, 0.0);
  for (int64_t q = 0; q < k; ++q) amax[lane(q)] = std::max(amax[lane(q)], double(std::fabs(x[q])));
  double bound = 0.0;
  const double dw = w_scale / 2.0;
  for (int64_t q = 0; q < k; ++q) {
    const double dx = amax[lane(q)] / 127.0 / 2.0;
    bound += std::fabs(x[q]) * dw + std::fabs(w[q]) * dx + dx * dw;
  }
  return bound * 1.001 + 1e-6;
}

TEST_P(SimdPaths, Int8GroupedGemmMatchesScalarAndFloat) {
  std::mt19937 rng(31);
  const int experts = 5;
  for (DType act : {DType::kF32, DType::kBF16})
    for (const auto& [n, k] : std::vector<std::pair<int64_t, int64_t>>{{12, 64}, {7, 200}, {33, 1024}})
      for (const auto& counts : segment_layouts(rng, experts)) {
        const std::vector<int32_t> off = offsets_of(counts);
        const int64_t rows = off.back();
        SCOPED_TRACE(std::string("act=") + test::name_of(act) + " n=" + std::to_string(n) + " k=" + std::to_string(k) +
                     " rows=" + std::to_string(rows));
        Tensor x = test::random_tensor(rng, act, rows * k, -2.0f, 2.0f);
        Tensor w = test::random_tensor(rng, DType::kBF16, experts * n * k);
        Tensor bias = test::random_tensor(rng, DType::kBF16, experts * n);
        const cpu::PackedWeights p =
            cpu::quantize_weights_int8(cpu::contiguous_weights(w.data(), DType::kBF16, experts, n, k));
        Tensor y(act, rows * n), y_scalar(act, rows * n), y_float(DType::kF32, rows * n);
        GroupedGemmArgs a;
        a.x = x.data();
        a.w = nullptr;  // the int8 path needs only the packed copy
        a.packed = &p;
        a.bias = bias.data();
        a.expert_offsets = off.data();
        a.act_dtype = act;
        a.w_dtype = DType::kBF16;
        a.num_experts = experts;
        a.n = n;
        a.k = k;
        a.total_rows = rows;
        a.y = y.data();
        cpu::grouped_gemm(a);

        const std::vector<float> xv = x.values(), wv = w.values();
        for (int e = 0; e < experts; ++e) {
          const int64_t r0 = off[size_t(e)], m = off[size_t(e) + 1] - r0;
          if (m == 0) continue;
          cpu::Int8MatmulArgs s;
          s.x = static_cast<const char*>(x.data()) + r0 * k * dtype_size(act);
          s.y = static_cast<char*>(y_scalar.data()) + r0 * n * dtype_size(act);
          s.bias = static_cast<const char*>(bias.data()) + e * n * 2;
          s.x_dtype = s.y_dtype = act;
          s.bias_dtype = DType::kBF16;
          s.m = m;
          s.packed = &p;
          s.expert = e;
          cpu::int8_matmul_scalar(s);
          for (int64_t r = r0; r < r0 + m; ++r)
            for (int64_t j = 0; j < n; ++j) {
              double exact = bias.at(e * n + j), abs_sum = 0.0;
              for (int64_t q = 0; q < k; ++q) {
                exact += double(xv[size_t(r * k + q)]) * wv[size_t((e * n + j) * k + q)];
                abs_sum += std::fabs(double(xv[size_t(r * k + q)]) * wv[size_t((e * n + j) * k + q)]);
              }
              const double got = y.at(r * n + j), scalar = y_scalar.at(r * n + j);
              const double reorder = 2.0 * double(k) * std::ldexp(1.0, -24) * (abs_sum + std::fabs(exact)) +
                                     ulp_of(act, scalar);
              EXPECT_LE(std::fabs(got - scalar), reorder) << "row " << r << " col " << j << " vs scalar int8";
              const double quant = int8_error_bound(&xv[size_t(r * k)], &wv[size_t((e * n + j) * k)], k,
                                                    p.expert_scales(e)[j]);
              EXPECT_LE(std::fabs(got - exact), quant + reorder) << "row " << r << " col " << j << " vs float";
            }
        }
      }
}

TEST_P(SimdPaths, Int8LinearWithStridesMatchesScalar) {
  std::mt19937 rng(77);
  const int64_t m = 6, n = 19, k = 300, ldx = 310, ldy = 25;
  Tensor x = test::random_tensor(rng, DType::kBF16, m * ldx), w = test::random_tensor(rng, DType::kF32, n * k);
  const cpu::PackedWeights p = cpu::quantize_weights_int8(cpu::contiguous_weights(w.data(), DType::kF32, 1, n, k));
  Tensor y(DType::kF32, m * ldy), y_scalar(DType::kF32, m * ldy);
  LinearArgs a;
  a.x = x.data();
  a.packed = &p;
  a.x_dtype = DType::kBF16;
  a.y_dtype = DType::kF32;
  a.m = m;
  a.n = n;
  a.k = k;
  a.ldx = ldx;
  a.ldy = ldy;
  a.y = y.data();
  cpu::linear(a);
  cpu::Int8MatmulArgs s;
  s.x = x.data();
  s.y = y_scalar.data();
  s.x_dtype = DType::kBF16;
  s.y_dtype = DType::kF32;
  s.m = m;
  s.ldx = ldx;
  s.ldy = ldy;
  s.packed = &p;
  cpu::int8_matmul_scalar(s);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      EXPECT_NEAR(y.at(i * ldy + j), y_scalar.at(i * ldy + j), 1e-4 * (1.0 + std::fabs(y_scalar.at(i * ldy + j))))
          << "row " << i << " col " << j;
}

}  // namespace
}  // namespace sy
