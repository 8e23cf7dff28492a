// The MPI communicator on 2 and 4 ranks: variable all-to-all (including empty blocks and ranks
// that send nothing), broadcast, reductions, gather, and a timeout that names the missing rank.
#include <chrono>
#include <numeric>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "engine/parallel/mpi_communicator.h"
#include "tests/mpi/mpi_test_env.h"

namespace {

// Bytes rank `from` sends rank `to`: zero on some pairs, and nothing at all from the last rank.
int64_t pair_bytes(int from, int to, int size) {
  if (from == size - 1) return 0;
  return (from * 7 + to * 3) % 5 * 1000 + (from == to ? 0 : 1);
}
char pair_byte(int from, int to, int64_t i) { return char((from * 31 + to * 17 + i) & 0x7f); }

}  // namespace

TEST(MpiCommunicator, AllToAllVDeliversEveryBlock) {
  sy::Communicator& c = sy::test::world();
  const int me = c.rank(), n = c.size();
  std::vector<int64_t> send_bytes(static_cast<size_t>(n)), recv_bytes(static_cast<size_t>(n));
  std::vector<char> send;
  for (int to = 0; to < n; ++to) {
    send_bytes[size_t(to)] = pair_bytes(me, to, n);
    for (int64_t i = 0; i < send_bytes[size_t(to)]; ++i) send.push_back(pair_byte(me, to, i));
  }
  // Counts travel first, as the MoE dispatch does.
  std::vector<int64_t> counts(static_cast<size_t>(n));
  c.all_to_all(send_bytes, counts, 1);
  for (int from = 0; from < n; ++from) {
    EXPECT_EQ(counts[size_t(from)], pair_bytes(from, me, n));
    recv_bytes[size_t(from)] = counts[size_t(from)];
  }
  std::vector<char> recv(size_t(std::accumulate(recv_bytes.begin(), recv_bytes.end(), int64_t(0))));
  c.all_to_all_v(send.data(), send_bytes, recv.data(), recv_bytes);
  int64_t off = 0;
  for (int from = 0; from < n; ++from)
    for (int64_t i = 0; i < recv_bytes[size_t(from)]; ++i, ++off)
      ASSERT_EQ(recv[size_t(off)], pair_byte(from, me, i)) << "from rank " << from << " byte " << i;
}

TEST(MpiCommunicator, BroadcastReduceGather) {
  sy::Communicator& c = sy::test::world();
  const int me = c.rank(), n = c.size();
  std::vector<int32_t> v(100, me == 1 ? 42 : -1);
  c.broadcast(v.data(), int64_t(v.size() * sizeof(int32_t)), 1);
  EXPECT_EQ(v, std::vector<int32_t>(100, 42));

  std::vector<int64_t> sum = {me, 1, int64_t(1) << 40};
  c.all_reduce_sum(sum);
  EXPECT_EQ(sum, (std::vector<int64_t>{n * (n - 1) / 2, n, n * (int64_t(1) << 40)}));
  std::vector<int64_t> mx = {me, -me};
  c.all_reduce_max(mx);
  EXPECT_EQ(mx, (std::vector<int64_t>{n - 1, 0}));

  std::vector<char> mine(size_t(me) * 3, char('a' + me));
  std::vector<char> all;
  std::vector<int64_t> sizes;
  c.gather_v(mine.data(), int64_t(mine.size()), all, sizes, 0);
  if (me == 0) {
    std::string expect;
    for (int r = 0; r < n; ++r) expect += std::string(size_t(r) * 3, char('a' + r));
    EXPECT_EQ(std::string(all.begin(), all.end()), expect);
    ASSERT_EQ(sizes.size(), size_t(n));
    EXPECT_EQ(sizes[1], 3);
  } else {
    EXPECT_TRUE(all.empty());
  }
  c.barrier();
}

TEST(MpiCommunicator, TimeoutNamesTheRankThatDidNotArrive) {
  // A communicator with a short deadline; rank 1 arrives late, the others give up naming it.
  auto c = sy::make_mpi_communicator({.timeout = std::chrono::milliseconds(300)});
  if (c->rank() == 1) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    // Late arrival still completes: the early ranks' messages are waiting for it.
    EXPECT_NO_THROW(c->barrier());
  } else {
    const auto t0 = std::chrono::steady_clock::now();
    try {
      c->barrier();
      ADD_FAILURE() << "barrier completed without rank 1";
    } catch (const sy::CommError& e) {
      EXPECT_EQ(e.missing_ranks(), std::vector<int>{1});
      EXPECT_NE(std::string(e.what()).find("rank(s) 1 "), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("barrier"), std::string::npos) << e.what();
    }
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  }
  sy::test::world().barrier();
}
