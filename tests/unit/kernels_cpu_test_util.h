// Test helpers for the CPU kernel tests: typed host buffers, random fills and comparison with
// a naive expectation computed in double (f32) or with the header's rounding points (bf16/f16).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_features.h"
#include "kernels/dtype.h"

namespace sy::test {

// A host buffer of float-typed elements in dtype `dtype`.
struct Tensor {
  DType dtype = DType::kF32;
  std::vector<unsigned char> bytes;

  Tensor() = default;
  Tensor(DType t, int64_t n) : dtype(t), bytes(size_t(n) * dtype_size(t)) {}
  Tensor(DType t, const std::vector<float>& values) : Tensor(t, int64_t(values.size())) {
    for (size_t i = 0; i < values.size(); ++i) store_f(bytes.data(), t, int64_t(i), values[i]);
  }
  int64_t size() const { return int64_t(bytes.size() / dtype_size(dtype)); }
  void* data() { return bytes.data(); }
  const void* data() const { return bytes.data(); }
  float at(int64_t i) const { return load_f(bytes.data(), dtype, i); }
  void set(int64_t i, float v) { store_f(bytes.data(), dtype, i, v); }
  std::vector<float> values() const {
    std::vector<float> v(static_cast<size_t>(size()));
    for (int64_t i = 0; i < size(); ++i) v[size_t(i)] = at(i);
    return v;
  }
};

// The value v has after rounding to dtype t (double in, double out).
inline double rnd(DType t, double v) { return double(round_to(t, float(v))); }

// Values uniform in [lo, hi), already representable in dtype t.
inline Tensor random_tensor(std::mt19937& rng, DType t, int64_t n, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  Tensor x(t, n);
  for (int64_t i = 0; i < n; ++i) x.set(i, dist(rng));
  return x;
}

// Relative tolerance of one result rounded to dtype t after fp32 work whose summation order
// may differ from the naive loop's: a couple of ulps of t.
inline double dtype_rtol(DType t) {
  switch (t) {
    case DType::kBF16: return 1.6e-2;
    case DType::kF16: return 2e-3;
    default: return 2e-5;
  }
}

// Expects |actual[i] - expected[i]| <= atol + rtol * |expected[i]| for all i; reports the first
// few mismatches with their index. When min_exact_fraction > 0, also expects at least that
// fraction of the elements to equal the expectation exactly: with the same rounding points, a
// bf16 result differs only where fp32-vs-double summation order crosses a rounding boundary,
// so a missing or extra rounding shows up as many inexact elements even within tolerance.
inline void expect_close(const std::vector<float>& actual, const std::vector<double>& expected,
                         double rtol, double atol, const std::string& what,
                         double min_exact_fraction = 0.0) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  int reported = 0;
  size_t exact = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double diff = std::fabs(double(actual[i]) - expected[i]);
    if (double(actual[i]) == expected[i]) ++exact;
    if (!(diff <= atol + rtol * std::fabs(expected[i])) && reported < 5) {
      ADD_FAILURE() << what << ": element " << i << " is " << actual[i] << ", expected "
                    << expected[i] << " (diff " << diff << ")";
      ++reported;
    }
  }
  if (!actual.empty())
    EXPECT_GE(double(exact) / double(actual.size()), min_exact_fraction)
        << what << ": only " << exact << " of " << actual.size() << " elements are bit-exact";
}

// Fraction of bit-exact elements required for bf16/f16 results computed with the same
// rounding points as the naive loop (see expect_close); 0 for f32, where double and fp32
// sums legitimately differ in the last bits.
inline double exact_fraction(DType t) { return t == DType::kF32 ? 0.0 : 0.97; }

inline const char* name_of(DType t) { return dtype_name(t).data(); }

// Runs the test body once per ISA path the CPU supports (parameter: the path), restoring the
// previous choice afterwards; a path this CPU lacks is skipped with a message.
class IsaPathTest : public ::testing::TestWithParam<cpu::Isa> {
 protected:
  void SetUp() override {
    previous_ = cpu::set_active_isa(GetParam());
    if (cpu::active_isa() != GetParam()) {
      cpu::set_active_isa(previous_);
      GTEST_SKIP() << "this CPU has no " << cpu::isa_name(GetParam()) << " path";
    }
  }
  void TearDown() override { cpu::set_active_isa(previous_); }

 private:
  cpu::Isa previous_ = cpu::Isa::kScalar;
};

}  // namespace sy::test
