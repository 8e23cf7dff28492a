// MPI communicator (CPU ranks; also the control plane under NCCL). Built only when MPI is found
// (SWITCHYARD_WITH_MPI), from mpi_communicator_mpi.cpp.
//
// Every collective is a set of non-blocking point-to-point transfers polled against a deadline
// rather than a blocking MPI collective: when a peer is dead or hung the survivors know exactly
// whose messages are missing, and say so (CommError::missing_ranks) instead of hanging.
#pragma once

#include <memory>

#include "engine/parallel/communicator.h"

namespace sy {

// Process-wide MPI lifetime: MPI_Init_thread (serialized: one thread at a time talks MPI, e.g.
// the engine loop and a heartbeat guarded by one mutex) on construction, MPI_Finalize on
// destruction. One per process, created before any MPI communicator.
class MpiRuntime {
 public:
  MpiRuntime(int* argc, char*** argv);
  ~MpiRuntime();
  MpiRuntime(const MpiRuntime&) = delete;
  MpiRuntime& operator=(const MpiRuntime&) = delete;

  int world_rank() const;
  int world_size() const;
  // Ends the whole job with `code` (every rank exits; mpirun reports non-zero). For faults
  // seen by one rank (a peer timed out): the others may be blocked where they cannot notice.
  [[noreturn]] static void abort_job(int code);
};

// A communicator over a duplicate of MPI_COMM_WORLD (its own message space).
std::unique_ptr<Communicator> make_mpi_communicator(CommOptions options = {});

}  // namespace sy
