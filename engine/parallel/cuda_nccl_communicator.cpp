// NCCL communicator (engine/parallel/nccl_communicator.h).
#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <string>
#include <thread>

#include "engine/parallel/nccl_communicator.h"

namespace sy {
namespace {

void check_cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string("NCCL communicator: ") + what + ": " + cudaGetErrorString(e));
}
void check_nccl(ncclResult_t r, const char* what) {
  if (r != ncclSuccess && r != ncclInProgress)
    throw std::runtime_error(std::string("NCCL communicator: ") + what + ": " + ncclGetErrorString(r));
}

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(Communicator& control, int device, void* stream)
      : control_(control), device_(device), stream_(static_cast<cudaStream_t>(stream)) {
    check_cuda(cudaSetDevice(device_), "cudaSetDevice");
    ncclUniqueId id{};
    if (control_.rank() == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    control_.broadcast(&id, sizeof id, 0);
    check_nccl(ncclCommInitRank(&comm_, control_.size(), id, control_.rank()), "ncclCommInitRank");
  }
  ~NcclCommunicator() override {
    if (comm_) ncclCommDestroy(comm_);
  }

  int rank() const override { return control_.rank(); }
  int size() const override { return control_.size(); }
  std::string name() const override { return "nccl"; }
  bool device_buffers() const override { return true; }
  const CommOptions& options() const override { return control_.options(); }

  void all_to_all_v(const void* send, std::span<const int64_t> send_bytes, void* recv,
                    std::span<const int64_t> recv_bytes) override {
    if (send_bytes.size() != size_t(size()) || recv_bytes.size() != size_t(size()))
      throw std::invalid_argument("NCCL all_to_all_v: byte counts need one entry per rank");
    check_cuda(cudaSetDevice(device_), "cudaSetDevice");
    check_nccl(ncclGroupStart(), "ncclGroupStart");
    size_t so = 0, ro = 0;
    for (int r = 0; r < size(); ++r) {
      const size_t sb = size_t(send_bytes[size_t(r)]), rb = size_t(recv_bytes[size_t(r)]);
      if (sb) check_nccl(ncclSend(static_cast<const char*>(send) + so, sb, ncclUint8, r, comm_, stream_), "ncclSend");
      if (rb) check_nccl(ncclRecv(static_cast<char*>(recv) + ro, rb, ncclUint8, r, comm_, stream_), "ncclRecv");
      so += sb;
      ro += rb;
    }
    check_nccl(ncclGroupEnd(), "ncclGroupEnd");
    wait("all_to_all_v");
  }

  // Control plane: host memory, through the host communicator.
  void broadcast(void* data, int64_t bytes, int root) override { control_.broadcast(data, bytes, root); }
  void barrier() override { control_.barrier(); }
  void all_reduce_sum(std::span<int64_t> v) override { control_.all_reduce_sum(v); }
  void all_reduce_max(std::span<int64_t> v) override { control_.all_reduce_max(v); }
  void all_to_all(std::span<const int64_t> send, std::span<int64_t> recv, int64_t n) override {
    control_.all_to_all(send, recv, n);
  }
  void gather_v(const void* send, int64_t bytes, std::vector<char>& recv, std::vector<int64_t>& recv_bytes,
                int root) override {
    control_.gather_v(send, bytes, recv, recv_bytes, root);
  }

 private:
  // Polls the stream rather than blocking in cudaStreamSynchronize, so a peer that never posts
  // its half turns into an error after the deadline instead of a hang.
  void wait(const char* op) {
    const auto deadline = std::chrono::steady_clock::now() + options().timeout;
    for (int polls = 0;; ++polls) {
      const cudaError_t q = cudaStreamQuery(stream_);
      if (q == cudaSuccess) return;
      if (q != cudaErrorNotReady) check_cuda(q, op);
      ncclResult_t async = ncclSuccess;
      check_nccl(ncclCommGetAsyncError(comm_, &async), "ncclCommGetAsyncError");
      if (async != ncclSuccess && async != ncclInProgress)
        throw CommError("rank " + std::to_string(rank()) + ": NCCL " + op + " failed: " + ncclGetErrorString(async), {});
      if (std::chrono::steady_clock::now() > deadline) {
        ncclCommAbort(comm_);  // frees the kernels stuck waiting for the missing peer
        comm_ = nullptr;
        throw CommError("rank " + std::to_string(rank()) + ": NCCL " + op + " did not complete within " +
                            std::to_string(options().timeout.count()) +
                            " ms (a peer is dead or hung; the host heartbeat names it)",
                        {});
      }
      if (polls > 100) std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  Communicator& control_;
  int device_;
  cudaStream_t stream_;
  ncclComm_t comm_ = nullptr;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(Communicator& control, int cuda_device, void* stream) {
  return std::make_unique<NcclCommunicator>(control, cuda_device, stream);
}

}  // namespace sy
