// The multi-rank GoogleTest programs' shared state: MPI is initialised in main (mpi_test_main.cpp)
// and every test runs on every rank, in the same order; only rank 0 checks results, the other
// ranks follow its plans (ExpertParallelExecutor::serve_worker) or join the collectives.
#pragma once

#include "engine/parallel/communicator.h"

namespace sy::test {

// The job-wide MPI communicator (60 s collective timeout).
Communicator& world();

}  // namespace sy::test
