// ExpertParallelJob (engine/parallel/expert_parallel_job.h).
#include "engine/parallel/expert_parallel_job.h"

#include <cstdio>
#include <stdexcept>

#include "engine/io/safetensors.h"
#include "engine/parallel/mpi_communicator.h"
#include "engine/parallel/nccl_communicator.h"

namespace sy {

struct ExpertParallelJob::Mpi {
  MpiRuntime runtime;
  Mpi(int* argc, char*** argv) : runtime(argc, argv) {}
};

ExpertParallelJob::ExpertParallelJob(int* argc, char*** argv, const ExpertParallelOptions& options)
    : mpi_(std::make_unique<Mpi>(argc, argv)), options_(options) {
  if (mpi_->runtime.world_size() != options_.num_ranks)
    throw std::invalid_argument("--expert-parallel " + std::to_string(options_.num_ranks) + " but mpirun started " +
                                std::to_string(mpi_->runtime.world_size()) + " ranks (use mpirun -np " +
                                std::to_string(options_.num_ranks) + ")");
  if (options_.placement != "contiguous" && options_.placement != "round-robin")
    throw std::invalid_argument("--expert-placement must be contiguous or round-robin, got '" + options_.placement + "'");
  host_comm_ = make_mpi_communicator({.timeout = options_.timeout});
}

ExpertParallelJob::~ExpertParallelJob() {
  data_comm_.reset();
  host_comm_.reset();
}

int ExpertParallelJob::rank() const { return host_comm_->rank(); }
int ExpertParallelJob::num_ranks() const { return host_comm_->size(); }

std::shared_ptr<Model> ExpertParallelJob::load_shard(const std::filesystem::path& model_dir, Backend& backend,
                                                     const MemoryPlanOptions& plan, int redundant_experts) {
  const ModelConfig config = ModelConfig::from_model_dir(model_dir);
  if (config.num_experts < num_ranks())
    throw std::invalid_argument(model_dir.string() + ": " + std::to_string(config.num_experts) +
                                " experts cannot be spread over " + std::to_string(num_ranks()) + " ranks");
  if (redundant_experts < 0 || int64_t(redundant_experts) > int64_t(config.num_experts) * (num_ranks() - 1))
    throw std::invalid_argument("--eplb-redundant-experts " + std::to_string(redundant_experts) + ": " + model_dir.string() +
                                " has " + std::to_string(config.num_experts) + " experts per layer, so at most " +
                                std::to_string(int64_t(config.num_experts) * (num_ranks() - 1)) +
                                " replicas fit on " + std::to_string(num_ranks()) + " ranks (one copy of an expert per rank)");
  const ExpertPlacement p = options_.placement == "round-robin" ? round_robin_placement(config.num_experts, num_ranks())
                                                                : contiguous_placement(config.num_experts, num_ranks());
  placements_ = uniform_placements(config, p);
  std::optional<MemoryPlan> memory_plan;
  if (!backend.host_accessible()) {
    Checkpoint ckpt = Checkpoint::open(model_dir);
    const TensorInfo* embed = ckpt.find("model.embed_tokens.weight");
    const MemoryPlanModel m =
        shard_memory_plan_model(config, embed ? embed->dtype : config.dtype, plan, num_ranks(), redundant_experts);
    memory_plan = plan_memory(m, backend.free_memory(), plan.kv_share);
  }
  model_ = load_expert_shard(model_dir, backend, placements_, rank());
  model_->memory_plan = memory_plan;
  return model_;
}

int64_t ExpertParallelJob::min_over_ranks(int64_t value) {
  int64_t negated = -value;
  host_comm_->all_reduce_max(std::span<int64_t>(&negated, 1));
  return -negated;
}

std::shared_ptr<ExpertParallelExecutor> ExpertParallelJob::make_executor(KvCacheGeometry kv) {
  if (!model_) throw std::logic_error("ExpertParallelJob::make_executor before load_shard");
  Communicator* data = host_comm_.get();
  if (!model_->backend->host_accessible()) {
    data_comm_ = make_nccl_communicator(*host_comm_, options_.cuda_device, nullptr);
    data = data_comm_.get();
  }
  return std::make_shared<ExpertParallelExecutor>(model_, kv, *data, placements_);
}

std::string ExpertParallelJob::describe() const {
  std::string s = placements_.empty() ? std::string("no MoE layers") : placements_.front().describe();
  s += "; expert weights per rank:";
  for (int64_t b : expert_bytes_per_rank(model_->config, placements_)) {
    char buf[32];
    std::snprintf(buf, sizeof buf, " %.1f MiB", double(b) / 1048576.0);
    s += buf;
  }
  return s;
}

}  // namespace sy
