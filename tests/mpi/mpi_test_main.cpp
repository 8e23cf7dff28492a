// main() of the multi-rank GoogleTest programs: MPI up, GoogleTest on every rank (only rank 0
// prints), MPI down.
#include <gtest/gtest.h>

#include "engine/parallel/mpi_communicator.h"
#include "tests/mpi/mpi_test_env.h"

namespace {
std::unique_ptr<sy::Communicator> g_world;
}

sy::Communicator& sy::test::world() { return *g_world; }

int main(int argc, char** argv) {
  sy::MpiRuntime mpi(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  if (mpi.world_rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  g_world = sy::make_mpi_communicator({.timeout = std::chrono::seconds(60)});
  const int rc = RUN_ALL_TESTS();
  // Every rank's verdict counts: a failure anywhere fails the job.
  std::vector<int64_t> failed = {rc != 0 ? 1 : 0};
  g_world->all_reduce_max(failed);
  g_world.reset();
  return failed[0] != 0 ? 1 : 0;
}
