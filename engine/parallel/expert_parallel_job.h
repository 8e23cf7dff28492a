// ExpertParallelJob: the process side of `mpirun -np N switchyard-server --expert-parallel N`
// (DESIGN.md §1, §4.4). Position: process start -> [this: MPI, communicator, placement, this
// rank's expert shard] -> rank 0: the serving engine over ExpertParallelExecutor; ranks != 0:
// serve_worker() until rank 0 stops them.
//
// Communicators: MPI moves the data between CPU ranks; with a GPU backend NCCL moves it (rank r
// uses the backend's device) and MPI carries the control plane. Built from
// expert_parallel_job_mpi.cpp (needs MPI).
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "engine/backend/backend.h"
#include "engine/model/memory_plan_model.h"
#include "engine/parallel/expert_parallel_executor.h"

namespace sy {

struct ExpertParallelOptions {
  int num_ranks = 1;                       // must equal the MPI job size
  std::string placement = "contiguous";    // contiguous | round-robin
  std::chrono::milliseconds timeout{20000};  // collective deadline (rank failure detection)
  int cuda_device = -1;                    // >= 0: NCCL data plane on this device
};

class ExpertParallelJob {
 public:
  // MPI_Init (collective over the job); throws when the job size differs from num_ranks.
  ExpertParallelJob(int* argc, char*** argv, const ExpertParallelOptions& options);
  ~ExpertParallelJob();

  int rank() const;
  int num_ranks() const;

  // Loads this rank's shard of `model_dir`: every non-expert weight, its share of the routed
  // experts. Every rank calls it with the same arguments. On a device backend it first plans
  // the rank's memory (model->memory_plan: non-expert weights, the most expert slots a rank can
  // hold with `redundant_experts` EPLB replicas per layer, activations, and this rank's KV
  // share) and refuses, naming the shortfall, when it does not fit.
  std::shared_ptr<Model> load_shard(const std::filesystem::path& model_dir, Backend& backend,
                                    const MemoryPlanOptions& plan = {}, int redundant_experts = 0);
  // The smallest `value` over all ranks (collective), e.g. the KV blocks every rank can hold.
  int64_t min_over_ranks(int64_t value);
  // The executor over the loaded shard (collective; the communicators live in this job, which
  // must outlive it). kv_per_rank: the KV blocks each rank allocates. Rank 0 gives it to the
  // engine; the others call serve_worker().
  std::shared_ptr<ExpertParallelExecutor> make_executor(KvCacheGeometry kv_per_rank);
  // "rank 0: 0 1 2 | rank 1: 3 4 5; expert weights per rank: 12.0 MiB, 12.0 MiB" for logs.
  std::string describe() const;

 private:
  struct Mpi;
  std::unique_ptr<Mpi> mpi_;
  ExpertParallelOptions options_;
  std::unique_ptr<Communicator> host_comm_, data_comm_;
  std::shared_ptr<Model> model_;
  std::vector<ExpertPlacement> placements_;
};

}  // namespace sy
