// NCCL communicator: the GPU data plane of expert parallelism (DESIGN.md §4.4: "MPI launches and
// bootstraps, NCCL moves the data"). all_to_all_v is a group of ncclSend/ncclRecv on the given
// CUDA stream, polled against the deadline (on timeout the NCCL communicator is aborted and a
// CommError raised); the control plane (plans, counts, logits) is delegated to a host
// communicator — MPI across processes — which also carries the NCCL unique id from rank 0.
// Built from cuda_nccl_communicator.cpp in CUDA builds; CPU-only builds get a stub that throws.
#pragma once

#include <memory>

#include "engine/parallel/communicator.h"

namespace sy {

// `control` must outlive the result and span the same ranks. `stream` is the cudaStream_t the
// backend computes on (null = the default stream). Collective over all ranks of `control`.
std::unique_ptr<Communicator> make_nccl_communicator(Communicator& control, int cuda_device, void* stream);

}  // namespace sy
