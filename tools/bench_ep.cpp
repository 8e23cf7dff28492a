// bench_ep: expert parallelism on CPU ranks — bytes moved per step and the share of step time
// spent in dispatch (counts + token rows out) and combine (expert outputs back), against the
// same steps run by one rank in the same job.
//
//   mpirun -np 2 --oversubscribe bench-ep [--model DIR] [--batch 16] [--prompt 64] [--steps 20]
//
// Without --model, rank 0 writes a synthetic Mixtral-style bf16 checkpoint (hidden 512,
// 16 experts of 768, top-2, 2 layers, vocab 2048, random weights) under /tmp and every rank
// loads it. Two phases: prefill (batch x prompt tokens per step) and decode (batch tokens).
// Sequences' first KV blocks are spread so data-parallel attention splits them evenly.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/backend/backend.h"
#include "engine/io/safetensors_writer.h"
#include "engine/model/model_runner.h"
#include "engine/parallel/expert_parallel_executor.h"
#include "engine/parallel/mpi_communicator.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
  std::string model;
  int batch = 16, prompt = 64, steps = 20;
};

// Synthetic Mixtral-style checkpoint (fused expert layout), bf16 random weights.
fs::path write_synthetic_model() {
  const int D = 512, L = 2, H = 8, KV = 4, hd = 64, E = 16, K = 2, I = 768, V = 2048;
  const fs::path dir = fs::temp_directory_path() / "switchyard-bench-ep-mixtral-d512-e16";
  if (fs::exists(dir / "model.safetensors")) return dir;
  fs::create_directories(dir);
  nlohmann::json cfg = {{"architectures", {"MixtralForCausalLM"}}, {"model_type", "mixtral"},
                        {"hidden_size", D}, {"intermediate_size", I}, {"num_hidden_layers", L},
                        {"num_attention_heads", H}, {"num_key_value_heads", KV}, {"head_dim", hd},
                        {"num_local_experts", E}, {"num_experts_per_tok", K}, {"vocab_size", V},
                        {"max_position_embeddings", 4096}, {"rms_norm_eps", 1e-5}, {"rope_theta", 1e6},
                        {"tie_word_embeddings", false}, {"dtype", "bfloat16"}};
  std::ofstream(dir / "config.json") << cfg.dump(2);
  std::mt19937 rng(7);
  std::vector<std::vector<uint16_t>> storage;
  std::vector<sy::TensorToWrite> tensors;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, float stddev, float mean = 0.0f) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::normal_distribution<float> dist(mean, stddev);
    storage.emplace_back(size_t(n));
    for (auto& x : storage.back()) x = sy::f32_to_bf16(stddev > 0 ? dist(rng) : mean);
    tensors.push_back({name, sy::DType::kBF16, shape, storage.back().data(), size_t(n) * 2});
  };
  add("model.embed_tokens.weight", {V, D}, 1.0f);
  add("lm_head.weight", {V, D}, 0.05f);
  add("model.norm.weight", {D}, 0.0f, 1.0f);
  for (int l = 0; l < L; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {D}, 0.0f, 1.0f);
    add(p + "post_attention_layernorm.weight", {D}, 0.0f, 1.0f);
    add(p + "self_attn.q_proj.weight", {H * hd, D}, 0.04f);
    add(p + "self_attn.k_proj.weight", {KV * hd, D}, 0.04f);
    add(p + "self_attn.v_proj.weight", {KV * hd, D}, 0.04f);
    add(p + "self_attn.o_proj.weight", {D, H * hd}, 0.04f);
    add(p + "mlp.gate.weight", {E, D}, 0.1f);
    add(p + "mlp.experts.gate_up_proj", {E, 2 * I, D}, 0.04f);
    add(p + "mlp.experts.down_proj", {E, D, I}, 0.04f);
  }
  sy::write_safetensors(dir / "model.safetensors", tensors);
  return dir;
}

// Sequence s keeps its KV in blocks [s * per_seq, (s + 1) * per_seq). Each rank's KV partition
// holds ceil(batch / R) sequences, so consecutive sequences share a rank (the data-parallel
// owner is the partition of the first block) and every rank gets batch / R of them.
struct Workload {
  int per_seq, block_size = 16;
  std::vector<int32_t> len;
  sy::ForwardBatch step(int batch, int tokens_each, int vocab, uint32_t seed) {
    sy::ForwardBatch b;
    b.max_blocks_per_seq = per_seq;
    b.query_start.push_back(0);
    std::mt19937 rng(seed);
    len.resize(size_t(batch), 0);
    for (int s = 0; s < batch; ++s) {
      for (int i = 0; i < tokens_each; ++i) {
        const int32_t pos = len[size_t(s)]++;
        b.token_ids.push_back(int32_t(rng() % uint32_t(vocab)));
        b.positions.push_back(pos);
        b.slot_mapping.push_back(int64_t(s * per_seq + pos / block_size) * block_size + pos % block_size);
      }
      b.logits_indices.push_back(int32_t(b.token_ids.size()) - 1);
      b.query_start.push_back(int32_t(b.token_ids.size()));
      b.seq_lens.push_back(len[size_t(s)]);
      for (int i = 0; i < per_seq; ++i) b.block_tables.push_back(s * per_seq + i);
    }
    return b;
  }
};

}  // namespace

int main(int argc, char** argv) {
  sy::MpiRuntime mpi(&argc, &argv);
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--model") a.model = v;
    else if (k == "--batch") a.batch = std::stoi(v);
    else if (k == "--prompt") a.prompt = std::stoi(v);
    else if (k == "--steps") a.steps = std::stoi(v);
    else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  auto comm = sy::make_mpi_communicator({.timeout = std::chrono::seconds(120)});
  const int rank = comm->rank(), R = comm->size();
  fs::path dir = a.model;
  if (dir.empty()) {
    if (rank == 0) dir = write_synthetic_model();
    comm->barrier();
    dir = fs::temp_directory_path() / "switchyard-bench-ep-mixtral-d512-e16";
  }
  auto be = sy::make_cpu_backend();
  const sy::ModelConfig config = sy::ModelConfig::from_model_dir(dir);
  const auto placements = sy::uniform_placements(config, sy::contiguous_placement(config.num_experts, R));
  auto shard = sy::load_expert_shard(dir, *be, placements, rank);
  const int per_seq = (a.prompt + a.steps + 2) / 16 + 1;
  const int seqs_per_rank = (a.batch + R - 1) / R;
  const sy::KvCacheGeometry kv_per_rank{.num_blocks = seqs_per_rank * per_seq, .block_size = 16};
  const sy::KvCacheGeometry kv{.num_blocks = R * kv_per_rank.num_blocks, .block_size = 16};
  sy::ExpertParallelExecutor ep(shard, kv_per_rank, *comm, placements);
  if (rank != 0) {
    ep.serve_worker();
    return 0;
  }

  // Same steps on one rank (all experts local) as the peer in the same run.
  auto full = sy::load_model(dir, *be);
  sy::ModelRunner single(full, kv);
  const size_t act_bytes = sy::dtype_size(config.dtype);
  std::printf("bench_ep: %d CPU ranks, model %s (hidden %d, %d experts, top-%d), batch %d, prompt %d, %d decode steps\n",
              R, dir.filename().c_str(), config.hidden_size, config.num_experts, config.top_k, a.batch, a.prompt,
              a.steps);
  std::printf("placement (every MoE layer): %s\n", placements.front().describe().c_str());
  const std::vector<int64_t> expert_bytes = sy::expert_bytes_per_rank(config, placements);
  for (int r = 0; r < R; ++r) std::printf("  rank %d holds %.1f MiB of expert weights\n", r, expert_bytes[size_t(r)] / 1048576.0);
  std::printf("%-8s %8s %12s %14s %14s %10s %10s %12s %10s\n", "phase", "tokens", "step ms", "1-rank ms", "MiB moved",
              "expected", "dispatch", "combine", "EP/1-rank");

  struct Phase {
    const char* name;
    int tokens_each;
    int steps;
  };
  Workload w_ep{per_seq}, w_single{per_seq};
  std::vector<float> logits;
  for (const Phase& ph : {Phase{"prefill", a.prompt, 1}, Phase{"decode", 1, a.steps}}) {
    const auto before = ep.rank_stats();
    Clock::duration t_ep{0}, t_single{0};
    for (int s = 0; s < ph.steps; ++s) {
      const uint32_t seed = uint32_t(s * 7919 + ph.tokens_each);
      const sy::ForwardBatch b = w_ep.step(a.batch, ph.tokens_each, config.vocab_size, seed);
      (void)w_single.step(a.batch, ph.tokens_each, config.vocab_size, seed);
      auto t0 = Clock::now();
      ep.forward(b, logits);
      t_ep += Clock::now() - t0;
      t0 = Clock::now();
      single.forward(b, logits);
      t_single += Clock::now() - t0;
    }
    const auto after = ep.rank_stats();
    int64_t bytes = 0, rows = 0;
    double dispatch_ms = 0, combine_ms = 0;
    for (int r = 0; r < R; ++r) {
      bytes += after[size_t(r)].bytes_sent - before[size_t(r)].bytes_sent;
      rows += after[size_t(r)].rows_dispatched - before[size_t(r)].rows_dispatched;
      // Per-rank time in the collectives, averaged over ranks.
      dispatch_ms += std::chrono::duration<double, std::milli>(after[size_t(r)].dispatch_time -
                                                                before[size_t(r)].dispatch_time).count() / R;
      combine_ms += std::chrono::duration<double, std::milli>(after[size_t(r)].combine_time -
                                                               before[size_t(r)].combine_time).count() / R;
    }
    const double step_ms = std::chrono::duration<double, std::milli>(t_ep).count() / ph.steps;
    const double single_ms = std::chrono::duration<double, std::milli>(t_single).count() / ph.steps;
    // Uniform routing sends (R-1)/R of the rows off-rank, twice (dispatch and combine).
    const double expected = 2.0 * rows * (R - 1) / R * config.hidden_size * act_bytes / ph.steps / 1048576.0;
    std::printf("%-8s %8d %12.2f %14.2f %14.3f %10.3f %9.1f%% %11.1f%% %10.2f\n", ph.name, a.batch * ph.tokens_each,
                step_ms, single_ms, bytes / double(ph.steps) / 1048576.0, expected,
                100.0 * dispatch_ms / ph.steps / step_ms, 100.0 * combine_ms / ph.steps / step_ms, step_ms / single_ms);
  }
  std::printf("columns: step ms = rank 0's forward incl. plan broadcast and logits gather; MiB moved = token rows + "
              "expert outputs sent between ranks per step (all ranks); expected = the same for uniform routing; "
              "dispatch / combine = mean per-rank time in those all-to-alls as a share of the step\n");
  // Live EPLB as the server runs it between steps: placement from the routing so far, every
  // rank reloading its changed experts from the checkpoint, in lockstep.
  const auto t0 = Clock::now();
  ep.rebalance(R);
  const double rebalance_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  const sy::EplbStatus eplb = ep.eplb_status();
  std::printf("live EPLB rebalance (%d replica slots per layer, from %llu routed rows): %.2f ms; worst layer's max/mean "
              "rank load %.2f -> %.2f; layer 0 now %s\n",
              R, static_cast<unsigned long long>(eplb.window_routed_rows), rebalance_ms, eplb.imbalance_before,
              eplb.imbalance_after, ep.placements().front().describe().c_str());
  ep.stop();
  return 0;
}
