// ep_fault_runner: a small expert-parallel job for the fault tests (ep_fault_test.py). Every
// rank prints "rank R pid P"; rank 0 then runs decode steps over four sequences, printing
// "step N" after each, until --steps is reached or SIGTERM arrives, then stops the workers and
// exits 0. The test kills or stops a rank from outside and checks how the others end.
//
//   mpirun -np 2 ep_fault_runner --model DIR [--steps N] [--timeout-ms T] [--step-ms S]
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>
#include <thread>

#include "engine/backend/backend.h"
#include "engine/parallel/expert_parallel_executor.h"
#include "engine/parallel/mpi_communicator.h"
#include "tests/mpi/ep_scenario.h"

namespace {

std::atomic<bool> g_sigterm{false};
void on_sigterm(int) { g_sigterm = true; }

struct Args {
  std::string model;
  long steps = -1;  // -1: until SIGTERM
  long timeout_ms = 3000;
  long step_ms = 20;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--model") a.model = v;
    else if (k == "--steps") a.steps = std::stol(v);
    else if (k == "--timeout-ms") a.timeout_ms = std::stol(v);
    else if (k == "--step-ms") a.step_ms = std::stol(v);
    else throw std::invalid_argument("unknown flag " + k);
  }
  if (a.model.empty()) throw std::invalid_argument("--model DIR is required");
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  sy::MpiRuntime mpi(&argc, &argv);
  const Args args = parse(argc, argv);
  // Workers ignore SIGTERM as such: rank 0 gets it too and stops them through the plan.
  std::signal(SIGTERM, on_sigterm);
  auto comm = sy::make_mpi_communicator({.timeout = std::chrono::milliseconds(args.timeout_ms)});
  const int rank = comm->rank();
  std::printf("rank %d pid %d\n", rank, int(getpid()));
  std::fflush(stdout);

  auto be = sy::make_cpu_backend();
  const sy::ModelConfig config = sy::ModelConfig::from_model_dir(args.model);
  const auto placements = sy::uniform_placements(config, sy::contiguous_placement(config.num_experts, comm->size()));
  auto shard = sy::load_expert_shard(args.model, *be, placements, rank);
  sy::test::Scenario sc(16, 16);
  // Each rank holds its partition of the 4 sequences' blocks.
  const sy::KvCacheGeometry kv_per_rank{.num_blocks = sc.num_blocks(4) / comm->size(), .block_size = sc.block_size()};
  sy::ExpertParallelExecutor ep(shard, kv_per_rank, *comm, placements);
  if (rank == 0) std::printf("placement %s\n", placements.front().describe().c_str());
  if (rank != 0) {
    ep.serve_worker();
    std::printf("rank %d: stopped by rank 0\n", rank);
    return 0;
  }

  std::vector<float> logits;
  ep.forward(sc.step({{0, sy::test::tokens(5, config.vocab_size, 1)}, {1, sy::test::tokens(5, config.vocab_size, 2)},
                      {2, sy::test::tokens(5, config.vocab_size, 3)}, {3, sy::test::tokens(5, config.vocab_size, 4)}}),
             logits);
  for (long step = 1; args.steps < 0 || step <= args.steps; ++step) {
    if (g_sigterm) break;
    std::vector<sy::test::Piece> pieces;
    for (int s = 0; s < 4; ++s) pieces.push_back({s, sy::test::tokens(1, config.vocab_size, uint32_t(step * 4 + s))});
    ep.forward(sc.step(pieces), logits);
    std::printf("step %ld\n", step);
    std::fflush(stdout);
    // Start the sequences over before they pass the fixtures' 256-token context.
    if (step % 200 == 0) sc = sy::test::Scenario(16, 16);
    std::this_thread::sleep_for(std::chrono::milliseconds(args.step_ms));
  }
  ep.stop();
  std::printf("rank 0: clean shutdown\n");
  return 0;
}
