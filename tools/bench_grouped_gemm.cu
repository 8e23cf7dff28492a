// Benchmark of Switchyard's grouped GEMM (sy::cuda::grouped_gemm, the production symbol) on the
// expert shapes of Mixtral-8x7B, Qwen3-30B-A3B and DeepSeek-V3 for 1..8192 tokens, against
// cuBLAS grouped GEMM (cublasGemmGroupedBatchedEx; a per-expert cublasGemmEx loop where that
// is unavailable) on the same data. Prints the exact command, the device, a measured copy
// bandwidth (the memory roofline of this run), then per shape: path taken, time, TFLOP/s,
// weight bandwidth (bytes of the active experts' weights / time) and the ratio to cuBLAS.
//
//   bench_grouped_gemm [--model mixtral|qwen3|deepseek|all] [--gemm gate_up|down|both]
//                      [--tokens 1,8,64,...] [--iters N] [--path auto|simt|decode|mma_sm80|wgmma_sm90]
//
// Without a CUDA device it says so and exits 0. Timing: CUDA events around each call, after
// warm-up; the median of --iters runs. Inputs are random (never zeros) and generated on the
// device; routing is uniform random top-k with distinct experts per token, seeded. The L2 cache
// is flushed before every timed run (ours and cuBLAS alike), so weights come from HBM.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "engine/backend/backend.h"
#include "kernels/cuda/grouped_gemm_paths.h"
#include "kernels/moe/grouped_gemm.h"

namespace {

struct ModelShape {
  const char* name;
  int64_t hidden, inter;
  int experts, top_k;
};
const ModelShape kModels[] = {
    {"mixtral", 4096, 14336, 8, 2},
    {"qwen3", 2048, 768, 128, 8},
    {"deepseek", 7168, 2048, 256, 8},
};

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "bench_grouped_gemm: %s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
  }
}

// Deterministic pseudo-random bf16 in [-scale, scale): a hash of the index, so multi-GB weight
// tensors fill at device speed.
__global__ void fill_random(__nv_bfloat16* p, size_t n, uint32_t seed, float scale) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    uint32_t h = uint32_t(i) * 0x9E3779B1u ^ uint32_t(i >> 32) * 0x85EBCA77u ^ seed;
    h ^= h >> 15;
    h *= 0x2C1B3C6Du;
    h ^= h >> 12;
    h *= 0x297A2D39u;
    h ^= h >> 15;
    p[i] = __float2bfloat16((float(h >> 8) * (1.0f / 16777216.0f) * 2.0f - 1.0f) * scale);
  }
}

void* device_random(size_t elems, uint32_t seed, float scale) {
  void* p = nullptr;
  check(cudaMalloc(&p, std::max<size_t>(elems, 1) * 2), "cudaMalloc");
  fill_random<<<4096, 256>>>(static_cast<__nv_bfloat16*>(p), elems, seed, scale);
  check(cudaGetLastError(), "fill_random");
  return p;
}

float median(std::vector<float> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Evicts the L2 cache by writing a buffer twice its size. Decode shapes read only tens of MB of
// weights (Qwen3 at 1 token: 8 experts, 50 MB, the size of an H100's L2): timed back to back,
// later runs would find part of them in L2 and report more than the HBM bandwidth.
struct L2Flush {
  void* buffer = nullptr;
  size_t bytes = 0;
  void init(const cudaDeviceProp& prop) {
    bytes = std::max<size_t>(2 * size_t(prop.l2CacheSize), size_t(64) << 20);
    check(cudaMalloc(&buffer, bytes), "cudaMalloc (L2 flush)");
  }
  void operator()() const {
    static int value = 0;
    check(cudaMemsetAsync(buffer, ++value & 0xff, bytes), "L2 flush");
  }
  void release() { cudaFree(buffer); }
};
L2Flush g_l2_flush;

template <typename F>
float time_ms(F&& f, int iters, bool flush_l2 = true) {
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  for (int i = 0; i < 3; ++i) f();  // warm-up: module load, handles, first-touch
  check(cudaDeviceSynchronize(), "warm-up");
  std::vector<float> times;
  for (int i = 0; i < iters; ++i) {
    if (flush_l2 && g_l2_flush.buffer) g_l2_flush();  // before the start event: not timed
    cudaEventRecord(start);
    f();
    cudaEventRecord(stop);
    cudaEventSynchronize(stop);
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    times.push_back(ms);
  }
  check(cudaGetLastError(), "timed runs");
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return median(times);
}

// Device-to-device copy bandwidth (read + write bytes per second): this run's memory roofline.
double copy_bandwidth_gbs() {
  const size_t bytes = size_t(1) << 30;
  void *a = nullptr, *b = nullptr;
  check(cudaMalloc(&a, bytes), "cudaMalloc");
  check(cudaMalloc(&b, bytes), "cudaMalloc");
  cudaMemset(a, 1, bytes);
  const float ms = time_ms([&] { cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice); }, 10, /*flush_l2=*/false);
  cudaFree(a);
  cudaFree(b);
  return 2.0 * double(bytes) / (ms * 1e-3) / 1e9;
}

struct Options {
  std::vector<std::string> models = {"mixtral", "qwen3", "deepseek"};
  std::vector<std::string> gemms = {"gate_up", "down"};
  std::vector<int64_t> tokens = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192};
  int iters = 20;
  sy::cuda::GroupedGemmPath path = sy::cuda::GroupedGemmPath::kAuto;
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t comma = s.find(',', start);
    out.push_back(s.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--model" && has_value) {
      const std::string v = argv[++i];
      if (v != "all") o.models = split(v);
    } else if (a == "--gemm" && has_value) {
      const std::string v = argv[++i];
      o.gemms = v == "both" ? std::vector<std::string>{"gate_up", "down"} : split(v);
    } else if (a == "--tokens" && has_value) {
      o.tokens.clear();
      for (const std::string& t : split(argv[++i])) o.tokens.push_back(std::atoll(t.c_str()));
    } else if (a == "--iters" && has_value) {
      o.iters = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--path" && has_value) {
      const std::string v = argv[++i];
      using P = sy::cuda::GroupedGemmPath;
      bool found = false;
      for (P p : {P::kAuto, P::kSimt, P::kDecode, P::kMmaSm80, P::kWgmmaSm90})
        if (v == sy::cuda::grouped_gemm_path_name(p)) {
          o.path = p;
          found = true;
        }
      if (!found) {
        std::fprintf(stderr, "bench_grouped_gemm: unknown --path %s\n", v.c_str());
        std::exit(2);
      }
    } else {
      std::fprintf(stderr,
                   "usage: bench_grouped_gemm [--model mixtral|qwen3|deepseek|all] [--gemm gate_up|down|both]\n"
                   "                          [--tokens 1,8,64] [--iters N] [--path auto|simt|decode|mma_sm80|wgmma_sm90]\n");
      std::exit(2);
    }
  }
  return o;
}

// cuBLAS grouped GEMM over the non-empty experts (one group each), or a per-expert loop.
struct CublasReference {
  cublasHandle_t handle = nullptr;
  bool grouped = true;
  std::vector<int> m, n, k, ld_a, ld_b, ld_c, group_size;
  std::vector<float> alpha, beta;
  std::vector<cublasOperation_t> trans_a, trans_b;
  const void** d_a = nullptr;
  const void** d_b = nullptr;
  void** d_c = nullptr;

  void prepare(const std::vector<int32_t>& offsets, const void* x, const void* w, void* y, int64_t N, int64_t K) {
    std::vector<const void*> a, b;
    std::vector<void*> c;
    m.clear(); n.clear(); k.clear(); ld_a.clear(); ld_b.clear(); ld_c.clear(); group_size.clear();
    for (size_t e = 0; e + 1 < offsets.size(); ++e) {
      const int rows = offsets[e + 1] - offsets[e];
      if (rows == 0) continue;
      // column-major: yᵀ[N, rows] = w_eᵀ... as cublasGemmEx(T, N, N, rows, K)
      a.push_back(static_cast<const __nv_bfloat16*>(w) + e * N * K);
      b.push_back(static_cast<const __nv_bfloat16*>(x) + offsets[e] * K);
      c.push_back(static_cast<__nv_bfloat16*>(y) + offsets[e] * N);
      m.push_back(int(N));
      n.push_back(rows);
      k.push_back(int(K));
      ld_a.push_back(int(K));
      ld_b.push_back(int(K));
      ld_c.push_back(int(N));
      group_size.push_back(1);
    }
    alpha.assign(m.size(), 1.0f);
    beta.assign(m.size(), 0.0f);
    trans_a.assign(m.size(), CUBLAS_OP_T);
    trans_b.assign(m.size(), CUBLAS_OP_N);
    release();
    check(cudaMalloc(&d_a, a.size() * sizeof(void*)), "cudaMalloc");
    check(cudaMalloc(&d_b, b.size() * sizeof(void*)), "cudaMalloc");
    check(cudaMalloc(&d_c, c.size() * sizeof(void*)), "cudaMalloc");
    cudaMemcpy(d_a, a.data(), a.size() * sizeof(void*), cudaMemcpyHostToDevice);
    cudaMemcpy(d_b, b.data(), b.size() * sizeof(void*), cudaMemcpyHostToDevice);
    cudaMemcpy(d_c, c.data(), c.size() * sizeof(void*), cudaMemcpyHostToDevice);
    host_a = a;
    host_b = b;
    host_c = c;
  }
  void run() {
    if (grouped) {
      const cublasStatus_t st = cublasGemmGroupedBatchedEx(
          handle, trans_a.data(), trans_b.data(), m.data(), n.data(), k.data(), alpha.data(), d_a, CUDA_R_16BF,
          ld_a.data(), d_b, CUDA_R_16BF, ld_b.data(), beta.data(), d_c, CUDA_R_16BF, ld_c.data(), int(m.size()),
          group_size.data(), CUBLAS_COMPUTE_32F);
      if (st == CUBLAS_STATUS_SUCCESS) return;
      std::printf("# cublasGemmGroupedBatchedEx: %s; the reference is a per-expert cublasGemmEx loop\n",
                  cublasGetStatusString(st));
      grouped = false;
    }
    const float one = 1.0f, zero = 0.0f;
    for (size_t g = 0; g < m.size(); ++g)
      cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, m[g], n[g], k[g], &one, host_a[g], CUDA_R_16BF, ld_a[g],
                   host_b[g], CUDA_R_16BF, ld_b[g], &zero, host_c[g], CUDA_R_16BF, ld_c[g], CUBLAS_COMPUTE_32F,
                   CUBLAS_GEMM_DEFAULT);
  }
  void release() {
    cudaFree(d_a);
    cudaFree(d_b);
    cudaFree(d_c);
    d_a = nullptr;
    d_b = nullptr;
    d_c = nullptr;
  }
  std::vector<const void*> host_a, host_b;
  std::vector<void*> host_c;
};

// ||a - b|| / ||b|| over two bf16 device arrays (small outputs only).
double relative_error(const void* a, const void* b, size_t n) {
  std::vector<__nv_bfloat16> ha(n), hb(n);
  cudaMemcpy(ha.data(), a, n * 2, cudaMemcpyDeviceToHost);
  cudaMemcpy(hb.data(), b, n * 2, cudaMemcpyDeviceToHost);
  double d2 = 0, r2 = 0;
  for (size_t i = 0; i < n; ++i) {
    const double x = __bfloat162float(ha[i]), y = __bfloat162float(hb[i]);
    d2 += (x - y) * (x - y);
    r2 += y * y;
  }
  return r2 > 0 ? std::sqrt(d2 / r2) : 0.0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string command;
  for (int i = 0; i < argc; ++i) command += std::string(i ? " " : "") + argv[i];
  std::printf("# command: %s\n", command.c_str());
  if (sy::cuda_device_count() == 0) {
    std::printf("bench_grouped_gemm: no CUDA device on this machine; nothing to measure (needs an sm_80+ GPU)\n");
    return 0;
  }
  const Options opt = parse(argc, argv);
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  const double copy_gbs = copy_bandwidth_gbs();
  g_l2_flush.init(prop);
  std::printf("# device: %s (sm_%d%d, %d SMs, %.1f GiB); measured device copy bandwidth %.0f GB/s\n", prop.name,
              prop.major, prop.minor, prop.multiProcessorCount, double(prop.totalGlobalMem) / (1 << 30), copy_gbs);
  std::printf("# bf16 x bf16 -> bf16, fp32 accumulation; median of %d runs\n", opt.iters);
  std::printf("%-9s %-7s %6s %7s %4s %-10s %9s %8s %9s %7s %9s %8s %8s\n", "model", "gemm", "tokens", "rows", "act",
              "path", "us", "TFLOP/s", "wGB/s", "w/copy", "cublas_us", "vs_cub", "rel_err");

  CublasReference ref;
  if (cublasCreate(&ref.handle) != CUBLAS_STATUS_SUCCESS) {
    std::fprintf(stderr, "bench_grouped_gemm: cublasCreate failed\n");
    return 1;
  }
  std::mt19937 rng(2024);
  for (const ModelShape& m : kModels) {
    if (std::find(opt.models.begin(), opt.models.end(), m.name) == opt.models.end()) continue;
    for (const std::string& gemm : opt.gemms) {
      const int64_t N = gemm == "gate_up" ? 2 * m.inter : m.hidden;
      const int64_t K = gemm == "gate_up" ? m.hidden : m.inter;
      void* w = device_random(size_t(m.experts) * N * K, 7, 0.05f);  // [E, N, K]
      const int64_t max_rows = opt.tokens.empty() ? 0 : *std::max_element(opt.tokens.begin(), opt.tokens.end()) * m.top_k;
      void* x = device_random(size_t(max_rows) * K, 11, 1.0f);  // [rows, K]
      void *y = nullptr, *y_ref = nullptr;
      check(cudaMalloc(&y, std::max<size_t>(size_t(max_rows) * N, 1) * 2), "cudaMalloc y");
      check(cudaMalloc(&y_ref, std::max<size_t>(size_t(max_rows) * N, 1) * 2), "cudaMalloc y_ref");
      int32_t* d_offsets = nullptr;
      check(cudaMalloc(&d_offsets, size_t(m.experts + 1) * 4), "cudaMalloc offsets");

      for (int64_t tokens : opt.tokens) {
        // Uniform routing: each token picks top_k distinct experts.
        std::vector<int32_t> counts(size_t(m.experts), 0);
        std::vector<int> perm(size_t(m.experts));
        for (int64_t t = 0; t < tokens; ++t) {
          std::iota(perm.begin(), perm.end(), 0);
          for (int j = 0; j < m.top_k; ++j) {
            std::swap(perm[size_t(j)], perm[size_t(j) + rng() % size_t(m.experts - j)]);
            ++counts[size_t(perm[size_t(j)])];
          }
        }
        std::vector<int32_t> offsets(size_t(m.experts) + 1, 0);
        for (int e = 0; e < m.experts; ++e) offsets[size_t(e) + 1] = offsets[size_t(e)] + counts[size_t(e)];
        const int64_t rows = offsets.back();
        const int active = int(std::count_if(counts.begin(), counts.end(), [](int32_t c) { return c > 0; }));
        cudaMemcpy(d_offsets, offsets.data(), offsets.size() * 4, cudaMemcpyHostToDevice);

        sy::GroupedGemmArgs a;
        a.x = x;
        a.w = w;
        a.y = y;
        a.expert_offsets = d_offsets;
        a.act_dtype = a.w_dtype = sy::DType::kBF16;
        a.num_experts = m.experts;
        a.n = N;
        a.k = K;
        a.total_rows = rows;
        const sy::cuda::GroupedGemmPath path =
            opt.path == sy::cuda::GroupedGemmPath::kAuto ? sy::cuda::grouped_gemm_auto_path(a) : opt.path;
        if (!sy::cuda::grouped_gemm_path_supported(path, a)) {
          std::printf("%-9s %-7s %6lld  path %s not supported on this device\n", m.name, gemm.c_str(),
                      (long long)tokens, sy::cuda::grouped_gemm_path_name(path));
          continue;
        }
        const float ms = time_ms([&] { sy::cuda::grouped_gemm_with_path(a, path, nullptr); }, opt.iters);
        ref.prepare(offsets, x, w, y_ref, N, K);
        const float ref_ms = time_ms([&] { ref.run(); }, opt.iters);
        const double err = size_t(rows) * N <= (size_t(1) << 24) ? relative_error(y, y_ref, size_t(rows) * N) : -1.0;

        const double flops = 2.0 * double(rows) * double(N) * double(K);
        const double weight_bytes = double(active) * double(N) * double(K) * 2.0;
        const double wgbs = weight_bytes / (ms * 1e-3) / 1e9;
        std::printf("%-9s %-7s %6lld %7lld %4d %-10s %9.1f %8.1f %9.0f %7.2f %9.1f %8.2f %8.1e\n", m.name,
                    gemm.c_str(), (long long)tokens, (long long)rows, active, sy::cuda::grouped_gemm_path_name(path),
                    ms * 1e3, flops / (ms * 1e-3) / 1e12, wgbs, wgbs / copy_gbs, ref_ms * 1e3, ref_ms / ms, err);
        std::fflush(stdout);
      }
      cudaFree(w);
      cudaFree(x);
      cudaFree(y);
      cudaFree(y_ref);
      cudaFree(d_offsets);
    }
  }
  ref.release();
  g_l2_flush.release();
  cublasDestroy(ref.handle);
  std::printf("# columns: act = experts with >= 1 row; wGB/s = active experts' weight bytes / time; w/copy = that over\n"
              "# the measured copy bandwidth; vs_cub = cuBLAS time / ours (> 1: ours faster); rel_err = ||ours - cuBLAS||\n"
              "# / ||cuBLAS|| (-1: output too large to compare)\n");
  return 0;
}
