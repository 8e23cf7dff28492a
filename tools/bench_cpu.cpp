// bench_cpu: end-to-end CPU throughput of a MoE checkpoint (made by tools/make_bench_model.py)
// through the production path — load_model -> ModelRunner::forward on the CPU backend, whose
// kernels dispatch to the AVX-512 / AVX2 / scalar paths (kernels/cpu/ops.cpp).
//
// Measures, in one run:
//   stream read   GB/s of a multi-GiB buffer read by every thread (larger than the caches)
//   prefill       tok/s of one 512-token prompt
//   decode b=1    tok/s of 64 greedy-style steps of one sequence (16-token prompt)
//   decode b=8    tok/s of 64 steps of 8 sequences decoded together
//   roofline      stream GB/s ÷ weight bytes one decode token must read (attention, router,
//                 top-k experts, lm_head) — the decode ceiling; reported as a fraction
// With --int8 the routed experts are quantised to int8 per channel (kernels/cpu/pack.h) and the
// same figures are taken again, followed by the accuracy check against bf16: logit error and
// top-1 agreement over teacher-forced positions of a bf16 greedy continuation.
// Every figure is printed with the 1-minute load average (the machine is shared).
//
//   bench_cpu --model /work/bench-models/qwen3moe-bench-bf16 [--int8] [--prefill 512]
//             [--decode 64] [--stream-gib 2]
// On a shared machine run it with OMP_WAIT_POLICY=passive: spinning OpenMP barriers whose
// partner thread is descheduled cost decode several times its speed (docs/perf/cpu.md).
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/backend/backend.h"
#include "engine/model/model.h"
#include "engine/model/model_runner.h"
#include "engine/model/single_sequence.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/pack.h"

namespace sy {
namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string one;
  f >> one;
  return one;
}

// Best of `reps` full reads of a buffer of `gib` GiB, split statically over the threads.
double stream_read_gbs(double gib, int reps) {
  const size_t n = size_t(gib * double(1ull << 30)) / sizeof(uint64_t);
  std::vector<uint64_t> buf(n);
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; ++i) buf[i] = i;  // first touch by the thread that reads it
  double best = 1e30;
  uint64_t sink = 0;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now_s();
    uint64_t total = 0;
#pragma omp parallel for schedule(static) reduction(+ : total)
    for (size_t i = 0; i < n; i += 4) total += buf[i] + buf[i + 1] + buf[i + 2] + buf[i + 3];
    best = std::min(best, now_s() - t0);
    sink += total;
  }
  if (sink == 42) std::puts("");
  return double(n * sizeof(uint64_t)) / best / 1e9;
}

// Weight bytes one decode token reads (batch 1): every non-expert matrix, top_k experts of each
// MoE layer, one embedding row, lm_head. `expert_bytes_per_param` is 2 for bf16, ~1 for int8.
double decode_bytes_per_token(const Model& m, double expert_bytes_per_param) {
  const ModelWeights& w = m.weights;
  auto bytes = [](const Weight& x) { return x.empty() ? 0.0 : double(x.numel()) * double(dtype_size(x.dtype)); };
  double total = bytes(w.output()) + double(w.embed.shape.back()) * double(dtype_size(w.embed.dtype));
  for (const LayerWeights& l : w.layers) {
    total += bytes(l.input_norm) + bytes(l.post_attention_norm);
    total += bytes(l.attn.q) + bytes(l.attn.k) + bytes(l.attn.v) + bytes(l.attn.o);
    if (!l.is_moe) {
      total += bytes(l.mlp.gate_up) + bytes(l.mlp.down);
      continue;
    }
    const double num_experts = double(l.moe.gate_up.shape[0]);
    const double per_expert = double(l.moe.gate_up.numel() + l.moe.down.numel()) / num_experts;
    total += bytes(l.moe.router) + double(m.config.top_k) * per_expert * expert_bytes_per_param;
  }
  return total;
}

std::vector<int32_t> random_tokens(std::mt19937& rng, int n, int vocab) {
  std::uniform_int_distribution<int32_t> d(0, std::min(vocab, 320) - 1);  // ids the tokenizer knows
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (auto& x : t) x = d(rng);
  return t;
}

// Several sequences decoded together; sequence s owns KV blocks [s·B, (s+1)·B).
class MultiSequence {
 public:
  MultiSequence(ModelRunner& r, int num_seqs) : runner_(r), lens_(size_t(num_seqs), 0) {
    blocks_per_seq_ = r.kv_cache().num_blocks / num_seqs;
  }
  // Appends tokens[s] to sequence s (all the same length), returns last-position logits per seq.
  void append(const std::vector<std::vector<int32_t>>& tokens, std::vector<float>& logits) {
    const int bs = runner_.kv_cache().block_size;
    ForwardBatch b;
    b.max_blocks_per_seq = blocks_per_seq_;
    b.query_start.push_back(0);
    for (size_t s = 0; s < lens_.size(); ++s) {
      const int32_t n = int32_t(tokens[s].size());
      for (int32_t i = 0; i < n; ++i) {
        const int32_t pos = lens_[s] + i;
        b.token_ids.push_back(tokens[s][size_t(i)]);
        b.positions.push_back(pos);
        b.slot_mapping.push_back(int64_t(s) * blocks_per_seq_ * bs + pos);
        if (i == n - 1) b.logits_indices.push_back(int32_t(b.token_ids.size()) - 1);
      }
      lens_[s] += n;
      if (lens_[s] > blocks_per_seq_ * bs) throw std::runtime_error("bench: KV cache too small");
      b.query_start.push_back(int32_t(b.token_ids.size()));
      b.seq_lens.push_back(lens_[s]);
      for (int i = 0; i < blocks_per_seq_; ++i) b.block_tables.push_back(int32_t(s) * blocks_per_seq_ + i);
    }
    runner_.forward(b, logits);
  }

 private:
  ModelRunner& runner_;
  std::vector<int32_t> lens_;
  int blocks_per_seq_ = 0;
};

struct Figures {
  double prefill_tps = 0, decode1_tps = 0, decode8_tps = 0;
};

Figures run_figures(ModelRunner& runner, int prefill_len, int decode_steps, std::mt19937& rng) {
  Figures f;
  const int V = runner.vocab_size();
  {  // prefill: best of 2
    double best = 1e30;
    for (int r = 0; r < 2; ++r) {
      SingleSequence seq(runner);
      const auto prompt = random_tokens(rng, prefill_len, V);
      const double t0 = now_s();
      seq.append(prompt);
      best = std::min(best, now_s() - t0);
    }
    f.prefill_tps = prefill_len / best;
    std::printf("prefill %d tokens        %9.1f tok/s   (load %s)\n", prefill_len, f.prefill_tps, load_average().c_str());
  }
  {  // decode, batch 1
    SingleSequence seq(runner);
    std::vector<float> logits = seq.append(random_tokens(rng, 16, V));
    seq.append({argmax(logits.data(), V)});  // warm-up step
    const double t0 = now_s();
    for (int i = 0; i < decode_steps; ++i) logits = seq.append({argmax(logits.data(), V)});
    f.decode1_tps = decode_steps / (now_s() - t0);
    std::printf("decode batch 1           %9.2f tok/s   (load %s)\n", f.decode1_tps, load_average().c_str());
  }
  {  // decode, batch 8
    const int seqs = 8;
    MultiSequence ms(runner, seqs);
    std::vector<float> logits;
    std::vector<std::vector<int32_t>> step(seqs);
    for (auto& s : step) s = random_tokens(rng, 16, V);
    ms.append(step, logits);
    auto next = [&] {
      for (int s = 0; s < seqs; ++s) step[size_t(s)] = {argmax(logits.data() + int64_t(s) * V, V)};
    };
    next();
    ms.append(step, logits);  // warm-up step
    const double t0 = now_s();
    for (int i = 0; i < decode_steps; ++i) {
      next();
      ms.append(step, logits);
    }
    f.decode8_tps = double(seqs) * decode_steps / (now_s() - t0);
    std::printf("decode batch 8           %9.2f tok/s   (load %s)\n", f.decode8_tps, load_average().c_str());
  }
  return f;
}

void quantize_experts(Model& m) {
  for (LayerWeights& l : m.weights.layers) {
    if (!l.is_moe) continue;
    auto pack = [](const Weight& w) {
      return std::make_shared<const cpu::PackedWeights>(cpu::quantize_weights_int8(
          cpu::contiguous_weights(w.data(), w.dtype, int(w.shape[0]), w.shape[1], w.shape[2])));
    };
    l.moe.gate_up_int8 = pack(l.moe.gate_up);
    l.moe.down_int8 = pack(l.moe.down);
  }
}

void set_int8(Model& m, bool on, std::vector<std::shared_ptr<const cpu::PackedWeights>>& store) {
  if (store.empty())
    for (LayerWeights& l : m.weights.layers) store.push_back(l.moe.gate_up_int8), store.push_back(l.moe.down_int8);
  size_t i = 0;
  for (LayerWeights& l : m.weights.layers) {
    l.moe.gate_up_int8 = on ? store[i] : nullptr;
    l.moe.down_int8 = on ? store[i + 1] : nullptr;
    i += 2;
  }
}

// Teacher-forced comparison of int8 vs bf16 experts on a bf16 greedy continuation.
void accuracy_check(Model& m, ModelRunner& runner, std::vector<std::shared_ptr<const cpu::PackedWeights>>& store,
                    std::mt19937& rng) {
  const int V = runner.vocab_size();
  const int prompt_len = 32, gen = 32;
  std::vector<int32_t> text = random_tokens(rng, prompt_len, V);
  set_int8(m, false, store);
  const std::vector<int32_t> cont = greedy_generate(runner, text, gen);
  text.insert(text.end(), cont.begin(), cont.end());
  auto all_logits = [&](bool int8) {
    set_int8(m, int8, store);
    SingleSequence seq(runner);
    return seq.append(text, /*all_positions=*/true);
  };
  const std::vector<float> ref = all_logits(false), q = all_logits(true);
  double max_err = 0, sq_err = 0, sq_ref = 0;
  int agree = 0, positions = 0;
  for (size_t p = size_t(prompt_len - 1); p < text.size(); ++p) {
    const float* a = ref.data() + p * size_t(V);
    const float* b = q.data() + p * size_t(V);
    double mean = 0;
    for (int i = 0; i < V; ++i) mean += a[i];
    mean /= V;
    for (int i = 0; i < V; ++i) {
      max_err = std::max(max_err, double(std::fabs(a[i] - b[i])));
      sq_err += double(a[i] - b[i]) * (a[i] - b[i]);
      sq_ref += (a[i] - mean) * (a[i] - mean);
    }
    agree += argmax(a, V) == argmax(b, V);
    ++positions;
  }
  std::printf("int8 vs bf16 experts: max |dlogit| %.4f, rms dlogit / rms logit %.4f, top-1 agreement %d/%d (%.1f%%)\n",
              max_err, std::sqrt(sq_err / sq_ref), agree, positions, 100.0 * agree / positions);
  set_int8(m, true, store);
}

int main_impl(int argc, char** argv) {
  std::string model_dir;
  bool int8 = false;
  int prefill = 512, decode = 64;
  double stream_gib = 2.0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    if (a == "--model") model_dir = value();
    else if (a == "--int8") int8 = true;
    else if (a == "--prefill") prefill = std::stoi(value());
    else if (a == "--decode") decode = std::stoi(value());
    else if (a == "--stream-gib") stream_gib = std::stod(value());
    else throw std::invalid_argument("unknown argument " + a);
  }
  if (model_dir.empty()) throw std::invalid_argument("usage: bench_cpu --model DIR [--int8] [--prefill N] [--decode N]");

  std::printf("# bench_cpu: isa %s, %d threads, model %s\n", cpu::isa_name(cpu::active_isa()), omp_get_max_threads(),
              model_dir.c_str());
  const double gbs = stream_read_gbs(stream_gib, 5);
  std::printf("stream read %.1f GiB      %9.1f GB/s    (load %s)\n", stream_gib, gbs, load_average().c_str());

  auto backend = make_cpu_backend();
  const double t0 = now_s();
  std::shared_ptr<Model> model = load_model(model_dir, *backend);
  std::printf("loaded in %.1f s\n", now_s() - t0);
  const int seq_cap = std::max(prefill, 16 + decode + 2);
  const int blocks_per_seq = (seq_cap + 15) / 16;
  ModelRunner runner(model, KvCacheGeometry{.num_blocks = 8 * blocks_per_seq, .block_size = 16});
  std::mt19937 rng(0);

  const double bytes = decode_bytes_per_token(*model, 2.0);
  std::printf("decode weight bytes/token %.1f MB -> roofline %.1f tok/s\n", bytes / 1e6, gbs * 1e9 / bytes);
  const Figures bf = run_figures(runner, prefill, decode, rng);
  std::printf("decode batch 1 = %.0f%% of roofline\n", 100.0 * bf.decode1_tps / (gbs * 1e9 / bytes));

  if (int8) {
    const double tq = now_s();
    quantize_experts(*model);
    std::printf("\n# int8 experts (quantised in %.1f s)\n", now_s() - tq);
    // int8 experts: 1 byte per weight + a 4-byte scale per row (negligible).
    const double bytes8 = decode_bytes_per_token(*model, 1.0);
    std::printf("decode weight bytes/token %.1f MB -> roofline %.1f tok/s\n", bytes8 / 1e6, gbs * 1e9 / bytes8);
    const Figures q = run_figures(runner, prefill, decode, rng);
    std::printf("decode batch 1 = %.0f%% of roofline; int8/bf16 decode b1 %.2fx, b8 %.2fx, prefill %.2fx\n",
                100.0 * q.decode1_tps / (gbs * 1e9 / bytes8), q.decode1_tps / bf.decode1_tps,
                q.decode8_tps / bf.decode8_tps, q.prefill_tps / bf.prefill_tps);
    std::vector<std::shared_ptr<const cpu::PackedWeights>> store;
    accuracy_check(*model, runner, store, rng);
  }
  return 0;
}

}  // namespace
}  // namespace sy

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // figures appear as they are taken, also in a log file
  try {
    return sy::main_impl(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cpu: %s\n", e.what());
    return 1;
  }
}
