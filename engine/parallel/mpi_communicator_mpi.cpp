// MPI communicator (engine/parallel/mpi_communicator.h): every collective is a batch of
// MPI_Isend/MPI_Irecv polled with MPI_Testall until done or until the deadline, after which
// the ranks whose messages are still outstanding are named in a CommError.
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <thread>

#include "engine/parallel/mpi_communicator.h"

namespace sy {
namespace {

void check_mpi(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw std::runtime_error(std::string("MPI ") + what + " failed: " + std::string(msg, size_t(len)));
}

// One message of a collective, to or from one peer.
struct Transfer {
  int peer = 0;
  bool is_send = false;
  void* buf = nullptr;
  int64_t bytes = 0;
};

// Distinct tags per collective kind: all ranks issue collectives in the same order, and MPI
// keeps messages of one (source, tag) in order, so matching needs nothing else.
enum Tag : int { kAllToAllV = 1, kBroadcast, kBarrier, kAllGather, kAllToAll, kGatherSize, kGatherData };

// MPI counts are int: larger messages go as several chunks of the same tag (kept in order).
constexpr int64_t kMaxChunk = int64_t(1) << 30;

std::string rank_list(const std::vector<int>& ranks) {
  std::string s;
  for (size_t i = 0; i < ranks.size(); ++i) s += (i ? ", " : "") + std::to_string(ranks[i]);
  return s;
}

class MpiCommunicator final : public Communicator {
 public:
  explicit MpiCommunicator(CommOptions options) : options_(options) {
    check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "Comm_dup");
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }
  ~MpiCommunicator() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&comm_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return "mpi"; }
  bool device_buffers() const override { return false; }
  const CommOptions& options() const override { return options_; }

  void all_to_all_v(const void* send, std::span<const int64_t> send_bytes, void* recv,
                    std::span<const int64_t> recv_bytes) override {
    check_per_rank(send_bytes.size(), "all_to_all_v send_bytes");
    check_per_rank(recv_bytes.size(), "all_to_all_v recv_bytes");
    std::vector<Transfer> ts;
    int64_t so = 0, ro = 0;
    for (int r = 0; r < size_; ++r) {
      ts.push_back({r, true, const_cast<char*>(static_cast<const char*>(send)) + so, send_bytes[size_t(r)]});
      ts.push_back({r, false, static_cast<char*>(recv) + ro, recv_bytes[size_t(r)]});
      so += send_bytes[size_t(r)];
      ro += recv_bytes[size_t(r)];
    }
    run("all_to_all_v", ts, kAllToAllV);
  }

  void broadcast(void* data, int64_t bytes, int root) override {
    check_root(root);
    std::vector<Transfer> ts;
    if (rank_ == root) {
      for (int r = 0; r < size_; ++r)
        if (r != root) ts.push_back({r, true, data, bytes});
    } else {
      ts.push_back({root, false, data, bytes});
    }
    run("broadcast", ts, kBroadcast);
  }

  void barrier() override {
    std::vector<Transfer> ts;
    for (int r = 0; r < size_; ++r)
      if (r != rank_) {
        ts.push_back({r, true, nullptr, 0});
        ts.push_back({r, false, nullptr, 0});
      }
    run("barrier", ts, kBarrier);
  }

  void all_reduce_sum(std::span<int64_t> values) override {
    std::vector<int64_t> all = all_gather(values, "all_reduce_sum");
    const size_t n = values.size();
    for (size_t i = 0; i < n; ++i) {
      int64_t s = 0;
      for (int r = 0; r < size_; ++r) s += all[size_t(r) * n + i];
      values[i] = s;
    }
  }

  void all_reduce_max(std::span<int64_t> values) override {
    std::vector<int64_t> all = all_gather(values, "all_reduce_max");
    const size_t n = values.size();
    for (size_t i = 0; i < n; ++i) {
      int64_t m = all[i];
      for (int r = 1; r < size_; ++r) m = std::max(m, all[size_t(r) * n + i]);
      values[i] = m;
    }
  }

  void all_to_all(std::span<const int64_t> send, std::span<int64_t> recv, int64_t n) override {
    if (int64_t(send.size()) != n * size_ || int64_t(recv.size()) != n * size_)
      throw std::invalid_argument("mpi all_to_all: send and recv must hold n * size = " + std::to_string(n * size_) +
                                  " values");
    std::vector<Transfer> ts;
    const int64_t b = n * int64_t(sizeof(int64_t));
    for (int r = 0; r < size_; ++r) {
      ts.push_back({r, true, const_cast<int64_t*>(send.data()) + r * n, b});
      ts.push_back({r, false, recv.data() + r * n, b});
    }
    run("all_to_all", ts, kAllToAll);
  }

  void gather_v(const void* send, int64_t bytes, std::vector<char>& recv, std::vector<int64_t>& recv_bytes,
                int root) override {
    check_root(root);
    recv.clear();
    recv_bytes.clear();
    int64_t my_bytes = bytes;
    std::vector<Transfer> ts;
    if (rank_ != root) {
      ts.push_back({root, true, &my_bytes, sizeof(int64_t)});
      run("gather_v (sizes)", ts, kGatherSize);
      ts = {{root, true, const_cast<void*>(send), bytes}};
      run("gather_v", ts, kGatherData);
      return;
    }
    recv_bytes.assign(size_t(size_), 0);
    for (int r = 0; r < size_; ++r)
      if (r != root) ts.push_back({r, false, &recv_bytes[size_t(r)], sizeof(int64_t)});
    run("gather_v (sizes)", ts, kGatherSize);
    recv_bytes[size_t(root)] = bytes;
    int64_t total = 0;
    for (int64_t b : recv_bytes) total += b;
    recv.resize(size_t(total));
    ts.clear();
    int64_t off = 0;
    for (int r = 0; r < size_; ++r) {
      if (r == root) {
        if (bytes > 0) std::memcpy(recv.data() + off, send, size_t(bytes));
      } else {
        ts.push_back({r, false, recv.data() + off, recv_bytes[size_t(r)]});
      }
      off += recv_bytes[size_t(r)];
    }
    run("gather_v", ts, kGatherData);
  }

 private:
  void check_per_rank(size_t n, const char* what) const {
    if (n != size_t(size_))
      throw std::invalid_argument(std::string("mpi communicator: ") + what + " has " + std::to_string(n) +
                                  " entries for " + std::to_string(size_) + " ranks");
  }
  void check_root(int root) const {
    if (root < 0 || root >= size_)
      throw std::invalid_argument("mpi communicator: root " + std::to_string(root) + " outside [0, " +
                                  std::to_string(size_) + ")");
  }

  // Every rank's `values` back to back in rank order.
  std::vector<int64_t> all_gather(std::span<const int64_t> values, const char* op) {
    const int64_t n = int64_t(values.size());
    std::vector<int64_t> all(size_t(n) * size_);
    std::vector<Transfer> ts;
    for (int r = 0; r < size_; ++r) {
      ts.push_back({r, true, const_cast<int64_t*>(values.data()), n * int64_t(sizeof(int64_t))});
      ts.push_back({r, false, all.data() + r * n, n * int64_t(sizeof(int64_t))});
    }
    run(op, ts, kAllGather);
    return all;
  }

  // Posts every transfer (a rank's message to itself is a copy), then polls until all are done
  // or the deadline passes.
  void run(const char* op, std::vector<Transfer>& ts, int tag) {
    const Transfer* self_send = nullptr;
    const Transfer* self_recv = nullptr;
    std::vector<MPI_Request> reqs;
    std::vector<const Transfer*> req_transfer;  // which transfer each request belongs to
    for (const Transfer& t : ts) {
      if (t.peer == rank_) {
        (t.is_send ? self_send : self_recv) = &t;
        continue;
      }
      // Zero-byte messages are still sent: they are how a peer says "I arrived".
      int64_t off = 0;
      do {
        const int count = int(std::min(kMaxChunk, t.bytes - off));
        MPI_Request r;
        char* p = static_cast<char*>(t.buf) + off;
        if (t.is_send)
          check_mpi(MPI_Isend(p, count, MPI_BYTE, t.peer, tag, comm_, &r), "Isend");
        else
          check_mpi(MPI_Irecv(p, count, MPI_BYTE, t.peer, tag, comm_, &r), "Irecv");
        reqs.push_back(r);
        req_transfer.push_back(&t);
        off += count;
      } while (off < t.bytes);
    }
    if (self_send || self_recv) {
      if (!self_send || !self_recv || self_send->bytes != self_recv->bytes)
        throw std::invalid_argument(std::string("mpi ") + op + ": rank " + std::to_string(rank_) +
                                    " sends itself a different byte count than it expects");
      if (self_send->bytes > 0) std::memmove(self_recv->buf, self_send->buf, size_t(self_send->bytes));
    }
    wait(op, reqs, req_transfer);
  }

  void wait(const char* op, std::vector<MPI_Request>& reqs, const std::vector<const Transfer*>& req_transfer) {
    if (reqs.empty()) return;
    const auto deadline = std::chrono::steady_clock::now() + options_.timeout;
    // Spin briefly for latency, then back off to short sleeps: ranks may share cores
    // (mpirun --oversubscribe), and a spinning waiter would steal the time its peer needs.
    for (int polls = 0;; ++polls) {
      int done = 0;
      check_mpi(MPI_Testall(int(reqs.size()), reqs.data(), &done, MPI_STATUSES_IGNORE), "Testall");
      if (done) return;
      if (std::chrono::steady_clock::now() > deadline) break;
      if (polls > 200) std::this_thread::sleep_for(std::chrono::microseconds(std::min(polls - 200, 500)));
      else if (polls > 20) std::this_thread::yield();
    }
    // Timed out: find whose messages are missing. Receives name the silent sender; if every
    // receive arrived, the peers not taking our sends are the ones named.
    std::vector<int> missing_from, missing_to;
    for (size_t i = 0; i < reqs.size(); ++i) {
      int done = 0;
      MPI_Test(&reqs[i], &done, MPI_STATUS_IGNORE);
      if (done) continue;
      std::vector<int>& v = req_transfer[i]->is_send ? missing_to : missing_from;
      if (std::find(v.begin(), v.end(), req_transfer[i]->peer) == v.end()) v.push_back(req_transfer[i]->peer);
    }
    // Everything may have completed in that last look (e.g. this process was paused past its
    // deadline and its peers had long delivered): then there is nothing to report.
    if (missing_from.empty() && missing_to.empty()) return;
    std::sort(missing_from.begin(), missing_from.end());
    std::sort(missing_to.begin(), missing_to.end());
    const std::vector<int>& missing = missing_from.empty() ? missing_to : missing_from;
    throw CommError("rank " + std::to_string(rank_) + ": " + op + " did not complete within " +
                        std::to_string(options_.timeout.count()) + " ms; " +
                        (missing_from.empty() ? "no progress taking our data at rank(s) "
                                              : "nothing arrived from rank(s) ") +
                        rank_list(missing) + " (dead or hung)",
                    missing);
  }

  CommOptions options_;
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
};

}  // namespace

MpiRuntime::MpiRuntime(int* argc, char*** argv) {
  int provided = 0;
  check_mpi(MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided), "Init_thread");
  if (provided < MPI_THREAD_SERIALIZED)
    throw std::runtime_error("MPI library provides thread level " + std::to_string(provided) +
                             "; switchyard needs MPI_THREAD_SERIALIZED");
  // Errors come back as codes (turned into exceptions naming the call) instead of aborting.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
}

MpiRuntime::~MpiRuntime() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

int MpiRuntime::world_rank() const {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

int MpiRuntime::world_size() const {
  int n = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

void MpiRuntime::abort_job(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);  // MPI_Abort does not return; this keeps [[noreturn]] honest
}

std::unique_ptr<Communicator> make_mpi_communicator(CommOptions options) {
  return std::make_unique<MpiCommunicator>(options);
}

}  // namespace sy
