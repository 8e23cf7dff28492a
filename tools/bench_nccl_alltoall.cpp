// bench_nccl_alltoall: bandwidth of the expert-parallel data plane on GPUs (issue 7 §6) — the NCCL
// all_to_all_v that dispatch and combine call (engine/parallel/cuda_nccl_communicator.cpp),
// against the link limit measured in the same run.
//
//   mpirun -np N bench_nccl_alltoall [--min-bytes 4096] [--max-bytes 268435456] [--iters 20]
//
// One GPU per rank (node-local rank modulo the visible devices). Every rank sends the same
// number of bytes to every rank, itself included (a balanced MoE dispatch). Per message size:
//   time      median over --iters of the whole all_to_all_v (host call to stream complete),
//   algbw     bytes a rank sends / time,
//   busbw     algbw x (N-1)/N: the bytes that actually cross a link (the rank's own block is
//             a local copy), comparable across N as in nccl-tests,
// and, measured first by rank 0 in the same run, the link limit:
//   peer copy cudaMemcpyPeerAsync of 256 MiB from device 0 to device 1 (one direction over
//             NVLink or PCIe), when rank 0 can see two devices; with one device, a
//             device-to-device copy on it (the loopback bound of a 1-rank run).
// The last column is busbw / link limit.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/backend/backend.h"
#include "engine/parallel/mpi_communicator.h"
#include "engine/parallel/nccl_communicator.h"

namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "bench_nccl_alltoall: %s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
  }
}

struct Args {
  int64_t min_bytes = 4096, max_bytes = int64_t(256) << 20;
  int iters = 20;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_nccl_alltoall: %s needs a value\n", k.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (k == "--min-bytes") a.min_bytes = std::atoll(value());
    else if (k == "--max-bytes") a.max_bytes = std::atoll(value());
    else if (k == "--iters") a.iters = std::atoi(value());
    else {
      std::fprintf(stderr, "usage: mpirun -np N bench_nccl_alltoall [--min-bytes B] [--max-bytes B] [--iters N]\n");
      std::exit(2);
    }
  }
  if (a.min_bytes <= 0 || a.max_bytes < a.min_bytes || a.iters <= 0) {
    std::fprintf(stderr, "bench_nccl_alltoall: need 0 < --min-bytes <= --max-bytes and --iters > 0\n");
    std::exit(2);
  }
  return a;
}

// GB/s of one copy of `bytes` from src_dev to dst_dev (the same device: a D2D copy).
double copy_bandwidth(int src_dev, int dst_dev, int64_t bytes) {
  void *src = nullptr, *dst = nullptr;
  check(cudaSetDevice(src_dev), "cudaSetDevice");
  check(cudaMalloc(&src, size_t(bytes)), "cudaMalloc src");
  check(cudaSetDevice(dst_dev), "cudaSetDevice");
  check(cudaMalloc(&dst, size_t(bytes)), "cudaMalloc dst");
  if (src_dev != dst_dev) {
    int can = 0;
    check(cudaDeviceCanAccessPeer(&can, src_dev, dst_dev), "cudaDeviceCanAccessPeer");
    check(cudaSetDevice(src_dev), "cudaSetDevice");
    if (can) {
      const cudaError_t e = cudaDeviceEnablePeerAccess(dst_dev, 0);
      if (e != cudaSuccess && e != cudaErrorPeerAccessAlreadyEnabled) check(e, "cudaDeviceEnablePeerAccess");
      (void)cudaGetLastError();
    }
  }
  check(cudaSetDevice(src_dev), "cudaSetDevice");
  cudaStream_t s;
  check(cudaStreamCreate(&s), "cudaStreamCreate");
  cudaEvent_t t0, t1;
  check(cudaEventCreate(&t0), "cudaEventCreate");
  check(cudaEventCreate(&t1), "cudaEventCreate");
  check(cudaMemcpyPeerAsync(dst, dst_dev, src, src_dev, size_t(bytes), s), "warm-up copy");
  const int reps = 10;
  check(cudaEventRecord(t0, s), "cudaEventRecord");
  for (int i = 0; i < reps; ++i) check(cudaMemcpyPeerAsync(dst, dst_dev, src, src_dev, size_t(bytes), s), "copy");
  check(cudaEventRecord(t1, s), "cudaEventRecord");
  check(cudaEventSynchronize(t1), "cudaEventSynchronize");
  float ms = 0;
  check(cudaEventElapsedTime(&ms, t0, t1), "cudaEventElapsedTime");
  cudaEventDestroy(t0);
  cudaEventDestroy(t1);
  cudaStreamDestroy(s);
  cudaFree(src);
  check(cudaSetDevice(dst_dev), "cudaSetDevice");
  cudaFree(dst);
  return double(bytes) * reps / (ms * 1e-3) / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  sy::MpiRuntime mpi(&argc, &argv);
  const Args args = parse(argc, argv);
  auto control = sy::make_mpi_communicator({.timeout = std::chrono::seconds(120)});
  const int rank = control->rank(), n = control->size();

  const int devices = sy::cuda_device_count();  // 0 without a device or a usable driver
  if (devices == 0) {
    if (rank == 0) std::fprintf(stderr, "bench_nccl_alltoall: skipped: no CUDA device\n");
    return 0;
  }
  const char* local = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK");
  const int device = (local ? std::atoi(local) : rank) % devices;

  // The link limit, measured by rank 0 before the others start moving data.
  double link_gbs = 0;
  std::string link_name;
  if (rank == 0) {
    const int64_t bytes = int64_t(256) << 20;
    if (devices >= 2) {
      link_gbs = copy_bandwidth(0, 1, bytes);
      link_name = "peer copy device 0 -> 1";
    } else {
      link_gbs = copy_bandwidth(0, 0, bytes);
      link_name = "device-to-device copy";
    }
    cudaDeviceProp prop{};
    check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
    std::printf("# bench_nccl_alltoall: %d ranks, %d visible device(s), %s\n", n, devices, prop.name);
    std::printf("# link limit (%s, 256 MiB): %.1f GB/s\n", link_name.c_str(), link_gbs);
    std::printf("%14s %12s %12s %12s %10s\n", "bytes/rank", "time us", "algbw GB/s", "busbw GB/s", "of link");
  }
  control->barrier();

  check(cudaSetDevice(device), "cudaSetDevice");
  cudaStream_t stream;
  check(cudaStreamCreate(&stream), "cudaStreamCreate");
  auto nccl = sy::make_nccl_communicator(*control, device, stream);

  void *send = nullptr, *recv = nullptr;
  check(cudaMalloc(&send, size_t(args.max_bytes)), "cudaMalloc send");
  check(cudaMalloc(&recv, size_t(args.max_bytes)), "cudaMalloc recv");
  check(cudaMemset(send, rank & 0xff, size_t(args.max_bytes)), "cudaMemset");

  for (int64_t total = args.min_bytes; total <= args.max_bytes; total *= 2) {
    const int64_t block = total / n;
    if (block == 0) continue;
    const std::vector<int64_t> counts(size_t(n), block);
    std::vector<double> us;
    for (int it = -2; it < args.iters; ++it) {  // two warm-up rounds
      control->barrier();
      const auto t0 = std::chrono::steady_clock::now();
      nccl->all_to_all_v(send, counts, recv, counts);  // returns once the stream completed
      const auto t1 = std::chrono::steady_clock::now();
      if (it >= 0) us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    }
    // The slowest rank's median: the step waits for it.
    std::sort(us.begin(), us.end());
    std::vector<int64_t> median_ns{int64_t(us[us.size() / 2] * 1e3)};
    control->all_reduce_max(median_ns);
    if (rank == 0) {
      const double t_us = double(median_ns[0]) / 1e3;
      const double sent = double(block) * n;
      const double algbw = sent / (t_us * 1e-6) / 1e9;
      const double busbw = algbw * double(n - 1) / double(n);
      const double share = n > 1 ? busbw / link_gbs : algbw / link_gbs;
      std::printf("%14lld %12.1f %12.1f %12.1f %9.0f%%\n", static_cast<long long>(block * n), t_us, algbw,
                  busbw, 100.0 * share);
    }
  }
  nccl.reset();
  cudaFree(send);
  cudaFree(recv);
  cudaStreamDestroy(stream);
  return 0;
}
