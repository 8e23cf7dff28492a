// The grouped GEMM on the GPU: every path (simt, decode, mma_sm80, wgmma_sm90 where the device
// has it) against the CPU twin sy::cpu::grouped_gemm on adversarial segmentations — experts
// with 0 rows, 1 row, all rows on one expert, E from 8 to 256, n and k not multiples of the
// tiles — and, at larger bf16 shapes, against a per-expert cuBLAS loop (the reference
// implementation, never the production path). Label gpu; skips with "skipped: no CUDA device".
#include <cublas_v2.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "kernels/cuda/grouped_gemm_paths.h"
#include "kernels/moe/grouped_gemm.h"
#include "tests/unit/gpu_test_util.h"

namespace sy::test {
namespace {

using cuda::GroupedGemmPath;

const GroupedGemmPath kPaths[] = {GroupedGemmPath::kAuto, GroupedGemmPath::kSimt, GroupedGemmPath::kDecode,
                                  GroupedGemmPath::kMmaSm80, GroupedGemmPath::kWgmmaSm90};

// Rows per expert for a named distribution of total_rows rows over E experts.
std::vector<int32_t> segment_rows(std::mt19937& rng, int E, int64_t total, const std::string& shape) {
  std::vector<int32_t> rows(E, 0);
  if (shape == "one_expert") {
    rows[E / 2] = int32_t(total);
  } else if (shape == "ones") {  // 1 row on each of the first experts, the rest empty
    for (int64_t i = 0; i < total; ++i) rows[size_t(i % E)] += 1;
  } else if (shape == "sparse") {  // most experts empty
    for (int64_t i = 0; i < total; ++i) rows[size_t((rng() % std::max(1, E / 4)) * 4 % E)] += 1;
  } else {  // random
    for (int64_t i = 0; i < total; ++i) rows[size_t(rng() % E)] += 1;
  }
  return rows;
}

struct Problem {
  DType dtype;
  int E;
  int64_t n, k;
  std::vector<int32_t> offsets;  // [E + 1]
  Tensor x, w, bias;
  bool with_bias;
  int64_t total() const { return offsets.back(); }
};

Problem make_problem(std::mt19937& rng, DType t, int E, int64_t n, int64_t k, int64_t total, const std::string& shape,
                     bool with_bias) {
  Problem p{t, E, n, k, {}, {}, {}, {}, with_bias};
  const std::vector<int32_t> rows = segment_rows(rng, E, total, shape);
  p.offsets.assign(size_t(E) + 1, 0);
  for (int e = 0; e < E; ++e) p.offsets[size_t(e) + 1] = p.offsets[size_t(e)] + rows[size_t(e)];
  p.x = random_tensor(rng, t, std::max<int64_t>(total, 1) * k);
  p.w = random_tensor(rng, t, int64_t(E) * n * k, -0.5f, 0.5f);
  p.bias = random_tensor(rng, t, int64_t(E) * n);
  return p;
}

Tensor cpu_reference(const Problem& p) {
  Tensor y(p.dtype, p.total() * p.n);
  GroupedGemmArgs a;
  a.x = p.x.data();
  a.w = p.w.data();
  a.bias = p.with_bias ? p.bias.data() : nullptr;
  a.y = y.data();
  a.expert_offsets = p.offsets.data();
  a.act_dtype = a.w_dtype = p.dtype;
  a.num_experts = p.E;
  a.n = p.n;
  a.k = p.k;
  a.total_rows = p.total();
  cpu::grouped_gemm(a);
  return y;
}

class GpuGroupedGemm : public ::testing::Test {
 protected:
  void SetUp() override { SY_REQUIRE_CUDA_DEVICE(); }
  std::mt19937 rng{4321};

  // Runs every supported path on p and compares with `ref`. Returns how many paths ran.
  int check_paths(const Problem& p, const Tensor& ref, const std::string& what) {
    DeviceMem dx(p.x), dw(p.w), db(p.bias), doff(p.offsets);
    GroupedGemmArgs a;
    a.x = dx.get();
    a.w = dw.get();
    a.bias = p.with_bias ? db.get() : nullptr;
    a.expert_offsets = doff.as<int32_t>();
    a.act_dtype = a.w_dtype = p.dtype;
    a.num_experts = p.E;
    a.n = p.n;
    a.k = p.k;
    a.total_rows = p.total();
    int ran = 0;
    for (GroupedGemmPath path : kPaths) {
      if (!cuda::grouped_gemm_path_supported(path, a)) continue;
      DeviceMem dy(size_t(std::max<int64_t>(p.total(), 1) * p.n) * dtype_size(p.dtype));  // poisoned
      a.y = dy.get();
      cuda::grouped_gemm_with_path(a, path, nullptr);
      sync_ok("grouped_gemm");
      if (p.total() > 0) {
        Tensor got = dy.download(p.dtype);
        got.bytes.resize(ref.bytes.size());
        expect_matches(got, ref, gpu_rtol(p.dtype) + (p.dtype == DType::kF32 ? 0 : 1e-2), 2e-3 * std::sqrt(double(p.k)),
                       gpu_rel_norm(p.dtype), what + " path " + cuda::grouped_gemm_path_name(path));
      }
      ++ran;
    }
    return ran;
  }
};

TEST_F(GpuGroupedGemm, EveryPathMatchesCpuOnAdversarialSegments) {
  struct Case { int E; int64_t n, k, total; const char* shape; bool bias; };
  const Case cases[] = {
      {8, 256, 512, 300, "random", false},
      {8, 200, 136, 97, "random", true},      // n, k not multiples of the tiles
      {8, 384, 256, 1000, "one_expert", false},
      {16, 128, 64, 16, "ones", false},       // one row per expert
      {64, 96, 200, 5, "ones", true},         // most experts empty
      {128, 160, 264, 1024, "sparse", false},
      {256, 64, 128, 2048, "random", false},  // DeepSeek-like expert count, 8 tokens x k 8 = 64 rows below
      {256, 72, 128, 64, "random", true},
      {8, 136, 72, 1, "one_expert", false},   // a single row
      {8, 128, 128, 0, "random", false},      // no rows at all
  };
  for (DType t : {DType::kBF16, DType::kF16, DType::kF32})
    for (const Case& c : cases) {
      const Problem p = make_problem(rng, t, c.E, c.n, c.k, c.total, c.shape, c.bias);
      const Tensor ref = cpu_reference(p);
      const std::string what = std::string(name_of(t)) + " E " + std::to_string(c.E) + " n " + std::to_string(c.n) +
                               " k " + std::to_string(c.k) + " rows " + std::to_string(c.total) + " " + c.shape;
      EXPECT_GE(check_paths(p, ref, what), 2) << what << ": at least auto and simt must run";
    }
}

TEST_F(GpuGroupedGemm, OddKFallsBackToThePortablePath) {
  const Problem p = make_problem(rng, DType::kBF16, 8, 100, 99, 77, "random", true);  // k % 8 != 0
  GroupedGemmArgs a;
  a.act_dtype = a.w_dtype = DType::kBF16;
  a.k = 99;
  a.num_experts = 8;
  a.n = 100;
  EXPECT_FALSE(cuda::grouped_gemm_path_supported(GroupedGemmPath::kMmaSm80, a));
  EXPECT_FALSE(cuda::grouped_gemm_path_supported(GroupedGemmPath::kWgmmaSm90, a));
  check_paths(p, cpu_reference(p), "bf16 k 99");
}

// The reference implementation of the benchmark: one cublasGemmEx per non-empty expert.
void cublas_per_expert(cublasHandle_t h, const Problem& p, const void* x, const void* w, void* y) {
  const float alpha = 1.0f, beta = 0.0f;
  const cudaDataType_t type = p.dtype == DType::kBF16 ? CUDA_R_16BF : CUDA_R_16F;
  const size_t es = dtype_size(p.dtype);
  for (int e = 0; e < p.E; ++e) {
    const int rows = p.offsets[size_t(e) + 1] - p.offsets[size_t(e)];
    if (rows == 0) continue;
    const auto* xe = static_cast<const unsigned char*>(x) + size_t(p.offsets[size_t(e)]) * p.k * es;
    const auto* we = static_cast<const unsigned char*>(w) + size_t(e) * p.n * p.k * es;
    auto* ye = static_cast<unsigned char*>(y) + size_t(p.offsets[size_t(e)]) * p.n * es;
    ASSERT_EQ(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, int(p.n), rows, int(p.k), &alpha, we, type, int(p.k), xe, type,
                           int(p.k), &beta, ye, type, int(p.n), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
              CUBLAS_STATUS_SUCCESS);
  }
}

TEST_F(GpuGroupedGemm, TensorCorePathsMatchCublasPerExpertLoop) {
  cublasHandle_t h = nullptr;
  ASSERT_EQ(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
  struct Case { int E; int64_t n, k, total; };
  // Expert counts and row mixes of Mixtral, Qwen3-30B-A3B and DeepSeek-V3, with n and k cut so
  // the host-side random weights stay small (~64M elements each).
  const Case cases[] = {{8, 2048, 4096, 1024}, {128, 512, 1024, 2048}, {256, 256, 1024, 64}, {8, 1024, 1024, 8}};
  for (DType t : {DType::kBF16, DType::kF16})
    for (const Case& c : cases) {
      const Problem p = make_problem(rng, t, c.E, c.n, c.k, c.total, "random", false);
      DeviceMem dx(p.x), dw(p.w), dref(size_t(p.total() * p.n) * dtype_size(t));
      cublas_per_expert(h, p, dx.get(), dw.get(), dref.get());
      sync_ok("cublas reference");
      const Tensor ref = dref.download(t);
      const std::string what = std::string("vs cuBLAS ") + name_of(t) + " E " + std::to_string(c.E) + " n " +
                               std::to_string(c.n) + " k " + std::to_string(c.k) + " rows " + std::to_string(c.total);
      // Both accumulate in fp32 and round once: differences are summation order only.
      check_paths(p, ref, what);
    }
  cublasDestroy(h);
}

}  // namespace
}  // namespace sy::test
