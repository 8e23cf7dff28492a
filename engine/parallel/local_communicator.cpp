// Local communicator: the one-rank case of engine/parallel/communicator.h. Every collective
// reduces to a copy from the rank to itself, so the expert-parallel path (placement, dispatch,
// combine, plan broadcast) runs unchanged in one process.
#include <cstring>

#include "engine/parallel/communicator.h"

namespace sy {
namespace {

class LocalCommunicator final : public Communicator {
 public:
  explicit LocalCommunicator(CommOptions options) : options_(options) {}

  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string name() const override { return "local"; }
  bool device_buffers() const override { return false; }
  const CommOptions& options() const override { return options_; }

  void all_to_all_v(const void* send, std::span<const int64_t> send_bytes, void* recv,
                    std::span<const int64_t> recv_bytes) override {
    check_one(send_bytes.size(), "all_to_all_v send_bytes");
    check_one(recv_bytes.size(), "all_to_all_v recv_bytes");
    if (send_bytes[0] != recv_bytes[0])
      throw std::invalid_argument("local all_to_all_v: sends " + std::to_string(send_bytes[0]) +
                                  " bytes to itself but expects " + std::to_string(recv_bytes[0]));
    if (send_bytes[0] > 0) std::memmove(recv, send, size_t(send_bytes[0]));
  }

  void broadcast(void*, int64_t, int root) override { check_root(root); }
  void barrier() override {}
  void all_reduce_sum(std::span<int64_t>) override {}
  void all_reduce_max(std::span<int64_t>) override {}

  void all_to_all(std::span<const int64_t> send, std::span<int64_t> recv, int64_t n) override {
    if (int64_t(send.size()) != n || int64_t(recv.size()) != n)
      throw std::invalid_argument("local all_to_all: send and recv must hold n = " + std::to_string(n) + " values");
    std::memmove(recv.data(), send.data(), size_t(n) * sizeof(int64_t));
  }

  void gather_v(const void* send, int64_t bytes, std::vector<char>& recv, std::vector<int64_t>& recv_bytes,
                int root) override {
    check_root(root);
    recv.assign(static_cast<const char*>(send), static_cast<const char*>(send) + bytes);
    recv_bytes.assign(1, bytes);
  }

 private:
  static void check_one(size_t n, const char* what) {
    if (n != 1) throw std::invalid_argument(std::string("local communicator: ") + what + " must have one entry");
  }
  static void check_root(int root) {
    if (root != 0) throw std::invalid_argument("local communicator: root " + std::to_string(root) + " is not rank 0");
  }

  CommOptions options_;
};

}  // namespace

std::unique_ptr<Communicator> make_local_communicator(CommOptions options) {
  return std::make_unique<LocalCommunicator>(options);
}

}  // namespace sy
