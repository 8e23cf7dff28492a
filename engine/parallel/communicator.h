// Communicator: how ranks of an expert-parallel job talk (DESIGN.md §4.4).
// Position in the flow: scheduler (rank 0) -> [plan broadcast] -> runner on every rank ->
// MoE block -> [all-to-all dispatch / combine] -> [logits gather] -> sampler (rank 0).
//
// Two planes:
//  - the data plane (all_to_all_v) moves token rows between the ranks' expert shards; its
//    buffers live where the backend's data lives (host memory for the CPU backend and the
//    MPI/local communicators, device memory for NCCL);
//  - the control plane (broadcast, barrier, all-reduce, fixed all-to-all, gather) moves small
//    host-side things: each step's plan, row counts, routing statistics, logits.
// Implementations: local (one rank), MPI (CPU ranks; also the control plane of NCCL) and NCCL
// (GPU data plane, bootstrapped over MPI).
//
// Every collective has a deadline (CommOptions::timeout). A collective that misses it throws
// CommError naming the ranks that had not delivered their part, so a hung or dead peer turns
// into an error message on every survivor instead of a silent hang.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace sy {

struct CommOptions {
  // Longest a single collective may take before it fails (a peer is dead or hung).
  std::chrono::milliseconds timeout{20000};
};

class CommError : public std::runtime_error {
 public:
  CommError(const std::string& what, std::vector<int> missing_ranks)
      : std::runtime_error(what), missing_ranks_(std::move(missing_ranks)) {}
  // Ranks whose part of the collective never arrived (empty when unknown).
  const std::vector<int>& missing_ranks() const { return missing_ranks_; }

 private:
  std::vector<int> missing_ranks_;
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string name() const = 0;
  // True when all_to_all_v expects device pointers (NCCL), false for host pointers.
  virtual bool device_buffers() const = 0;
  virtual const CommOptions& options() const = 0;

  // ---- data plane ----
  // send holds size() blocks back to back, send_bytes[r] bytes for rank r; recv receives
  // recv_bytes[r] bytes from rank r, blocks back to back in rank order. Counts must agree
  // pairwise (exchange them first with all_to_all). Zero-byte blocks are allowed; a rank that
  // sends and receives nothing still has to call it.
  virtual void all_to_all_v(const void* send, std::span<const int64_t> send_bytes, void* recv,
                            std::span<const int64_t> recv_bytes) = 0;

  // ---- control plane (host memory) ----
  virtual void broadcast(void* data, int64_t bytes, int root) = 0;
  virtual void barrier() = 0;
  // Element-wise sum over ranks, added in rank order (so every rank gets identical values).
  virtual void all_reduce_sum(std::span<int64_t> values) = 0;
  // Element-wise max over ranks.
  virtual void all_reduce_max(std::span<int64_t> values) = 0;
  // Fixed-size exchange of n values per rank pair: send[r*n, (r+1)*n) goes to rank r,
  // recv[r*n, (r+1)*n) came from rank r.
  virtual void all_to_all(std::span<const int64_t> send, std::span<int64_t> recv, int64_t n) = 0;
  // Variable-size gather at root: on root, recv gets every rank's bytes back to back in rank
  // order and recv_bytes[r] their sizes; elsewhere both are left empty.
  virtual void gather_v(const void* send, int64_t bytes, std::vector<char>& recv, std::vector<int64_t>& recv_bytes,
                        int root) = 0;
};

// One rank: every collective is a copy (or nothing). Lets the expert-parallel code path run,
// and be tested, in a single process.
std::unique_ptr<Communicator> make_local_communicator(CommOptions options = {});

}  // namespace sy
