// bench_cpu: end-to-end CPU throughput of a MoE checkpoint (made by tools/make_bench_model.py)
// through the production path — load_model -> ModelRunner::forward on the CPU backend, whose
// kernels dispatch to the AVX-512 / AVX2 / scalar paths (kernels/cpu/ops.cpp).
//
// Measures, in one run:
//   stream read   GB/s of a multi-GiB buffer read by every thread (larger than the caches), with
//                 512-bit loads and prefetch like the kernels; best of a read at start and one
//                 before each format's figures
//   prefill       tok/s of one 512-token prompt
//   decode b=1    tok/s of 64 greedy-style steps of one sequence (16-token prompt)
//   decode b=8    tok/s of 64 steps of 8 sequences decoded together
//   roofline      stream GB/s ÷ weight bytes one decode token must read (attention, router,
//                 top-k experts, lm_head) — the decode ceiling; reported as a fraction
// The figures are taken once per weight format (--weight-dtype, as switchyard-server spells it;
// default as-loaded then int8), each loaded by load_model exactly as the server loads it, and
// printed side by side. Each format after the first is also checked for accuracy against the
// first: logit error and top-1 agreement over the teacher-forced positions of a 32-token random
// prompt plus the first format's 32-token greedy continuation.
// Every figure is printed with the 1-minute load average (the machine is shared).
//
// --ab-bursts N adds decode batch 1 of all formats in N interleaved bursts (all loaded at once):
// the ratio that survives a shared machine.
//
//   bench_cpu --model /work/bench-models/qwen3moe-bench-bf16 [--weight-dtype as-loaded,int8]
//             [--prefill 512] [--decode 64] [--stream-gib 2] [--ab-bursts 24]
// The OpenMP wait policy is the server's (libgomp's default: spin, then sleep) unless
// OMP_WAIT_POLICY says otherwise; it is printed in the header. On an oversubscribed machine run
// it with OMP_WAIT_POLICY=passive too: spinning barriers whose partner thread is descheduled
// cost decode several times its speed, while on a quiet machine passive costs every fork a
// futex wake-up (docs/perf/cpu.md has both).
//
// --device cuda[:N] takes the same figures through the CUDA backend (CUDA builds): the roofline
// bandwidth is then a device-to-device copy of --stream-gib GiB (bytes read + written / time),
// the formats default to as-loaded (int8 is CPU-only), and decode is measured twice, without and
// with the decode CUDA graphs the server records (batch 1 and 8).
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
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

// Sum of n 64-bit words read with 512-bit loads and a software prefetch 4 KiB ahead — how the
// decode kernels stream weights (kernels/cpu/simd_matmul.h), so the roofline is the bandwidth
// those kernels could reach, not what a plain scalar loop gets (5-20% less here).
__attribute__((target("avx512f"))) uint64_t read_words_avx512(const uint64_t* p, size_t n) {
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    _mm_prefetch(reinterpret_cast<const char*>(p + i) + 4096, _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(p + i) + 4096 + 64, _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(p + i) + 4096 + 128, _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(p + i) + 4096 + 192, _MM_HINT_T0);
    a0 = _mm512_add_epi64(a0, _mm512_loadu_si512(p + i));
    a1 = _mm512_add_epi64(a1, _mm512_loadu_si512(p + i + 8));
    a2 = _mm512_add_epi64(a2, _mm512_loadu_si512(p + i + 16));
    a3 = _mm512_add_epi64(a3, _mm512_loadu_si512(p + i + 24));
  }
  uint64_t total = uint64_t(_mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3))));
  for (; i < n; ++i) total += p[i];
  return total;
}

uint64_t read_words(const uint64_t* p, size_t n) {
  if (cpu::active_isa() == cpu::Isa::kAvx512) return read_words_avx512(p, n);
  uint64_t total = 0;
  for (size_t i = 0; i < n; ++i) total += p[i];
  return total;
}

// Best of `reps` full reads of a buffer of `gib` GiB, split statically over the threads.
class StreamRead {
 public:
  explicit StreamRead(double gib) : buf_(size_t(gib * double(1ull << 30)) / sizeof(uint64_t)) {
    const size_t n = buf_.size();
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; ++i) buf_[i] = i;  // first touch by the thread that reads it
  }
  double gbs(int reps) {
    double best = 1e30;
    uint64_t sink = 0;
    for (int r = 0; r < reps; ++r) {
      const double t0 = now_s();
      uint64_t total = 0;
#pragma omp parallel reduction(+ : total)
      {
        const size_t n = buf_.size(), t = size_t(omp_get_thread_num()), nt = size_t(omp_get_num_threads());
        const size_t begin = n * t / nt, end = n * (t + 1) / nt;
        total += read_words(buf_.data() + begin, end - begin);
      }
      best = std::min(best, now_s() - t0);
      sink += total;
    }
    if (sink == 42) std::puts("");
    return double(buf_.size() * sizeof(uint64_t)) / best / 1e9;
  }

 private:
  std::vector<uint64_t> buf_;
};

// Device memory bandwidth for the roofline on a GPU backend: best of `reps` copies of a
// `gib`-GiB buffer, counting bytes read plus bytes written.
double device_copy_gbs(Backend& be, double gib, int reps) {
  const size_t bytes = size_t(gib * double(1ull << 30));
  void* a = be.allocate(bytes);
  void* b = be.allocate(bytes);
  be.fill_zero(a, bytes);
  be.copy(b, a, bytes);  // warm-up
  be.synchronize();
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now_s();
    be.copy(b, a, bytes);
    be.synchronize();
    best = std::min(best, now_s() - t0);
  }
  be.deallocate(a);
  be.deallocate(b);
  return 2.0 * double(bytes) / best / 1e9;
}

// Weight bytes one decode token reads (batch 1) as the weights are held (int8 included):
// every non-expert matrix, top_k experts of each MoE layer, one embedding row, lm_head.
double decode_bytes_per_token(const Model& m) {
  const ModelWeights& w = m.weights;
  auto bytes = [](const Weight& x) { return double(x.bytes()); };
  auto mlp = [&](const MlpWeights& x) { return bytes(x.gate_up) + bytes(x.down); };
  double total = bytes(w.output()) + double(w.embed.shape.back()) * double(dtype_size(w.embed.dtype)) + bytes(w.final_norm);
  for (const LayerWeights& l : w.layers) {
    const AttentionWeights& a = l.attn;
    total += bytes(l.input_norm) + bytes(l.post_attention_norm);
    total += bytes(a.qkv) + bytes(a.o) + bytes(a.qkv_bias) + bytes(a.q_norm) + bytes(a.k_norm);
    if (!l.is_moe) {
      total += mlp(l.mlp);
      continue;
    }
    const double num_experts = double(l.moe.gate_up.shape[0]);
    const double per_expert = (bytes(l.moe.gate_up) + bytes(l.moe.down)) / num_experts;
    total += bytes(l.moe.router) + double(m.config.top_k) * per_expert + mlp(l.moe.shared) + bytes(l.moe.shared_gate);
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

// Logits at every position of a fixed text: a random prompt plus the as-loaded model's greedy
// continuation, taken once with the first format and teacher-forced through every other one.
struct AccuracyProbe {
  std::vector<int32_t> text;
  int first_scored = 0;             // positions before this are prompt-only context
  std::vector<float> ref_logits;   // [text.size(), V] of the first format measured
  const char* ref_format = "";
};

void accuracy_check(ModelRunner& runner, AccuracyProbe& probe, std::mt19937& rng, const char* format) {
  const int V = runner.vocab_size();
  if (probe.text.empty()) {
    const int prompt_len = 32, gen = 32;
    probe.text = random_tokens(rng, prompt_len, V);
    const std::vector<int32_t> cont = greedy_generate(runner, probe.text, gen);
    probe.text.insert(probe.text.end(), cont.begin(), cont.end());
    probe.first_scored = prompt_len - 1;
    SingleSequence seq(runner);
    probe.ref_logits = seq.append(probe.text, /*all_positions=*/true);
    probe.ref_format = format;
    return;
  }
  SingleSequence seq(runner);
  const std::vector<float> q = seq.append(probe.text, /*all_positions=*/true);
  double max_err = 0, sq_err = 0, sq_ref = 0;
  int agree = 0, positions = 0;
  for (size_t p = size_t(probe.first_scored); p < probe.text.size(); ++p) {
    const float* a = probe.ref_logits.data() + p * size_t(V);
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
  std::printf("accuracy %s vs %s: max |dlogit| %.4f, rms dlogit / rms logit %.4f, top-1 agreement %d/%d (%.1f%%)\n",
              format, probe.ref_format, max_err, std::sqrt(sq_err / sq_ref), agree, positions, 100.0 * agree / positions);
}

// Decode batch 1 of every format in interleaved bursts of kBurstSteps steps (all models loaded
// at once): on a shared machine each format meets the same contention, and the best burst of
// each approximates its speed on a quiet machine, so their ratio is robust where two separate
// runs are not.
void interleaved_decode(const std::string& model_dir, Backend& backend, const std::vector<WeightFormat>& formats,
                        int bursts) {
  constexpr int kBurstSteps = 8;
  struct Contender {
    std::shared_ptr<Model> model;
    std::unique_ptr<ModelRunner> runner;
    std::vector<double> rates;  // tok/s per burst
  };
  std::vector<Contender> all;
  for (WeightFormat f : formats) {
    Contender c;
    c.model = load_model(model_dir, backend, {}, {}, f);
    c.runner = std::make_unique<ModelRunner>(c.model, single_sequence_kv(16 + bursts * kBurstSteps + 2));
    all.push_back(std::move(c));
  }
  std::mt19937 rng(2);
  const std::vector<int32_t> prompt = random_tokens(rng, 16, all[0].runner->vocab_size());
  std::vector<SingleSequence> seqs;
  std::vector<std::vector<float>> logits;
  for (Contender& c : all) {
    seqs.emplace_back(*c.runner);
    logits.push_back(seqs.back().append(prompt));
  }
  for (int b = 0; b < bursts; ++b)
    for (size_t i = 0; i < all.size(); ++i) {
      const int V = all[i].runner->vocab_size();
      const double t0 = now_s();
      for (int s = 0; s < kBurstSteps; ++s) logits[i] = seqs[i].append({argmax(logits[i].data(), V)});
      all[i].rates.push_back(kBurstSteps / (now_s() - t0));
    }
  std::printf("\n# decode batch 1, %d interleaved bursts of %d steps (best / median tok/s)\n", bursts, kBurstSteps);
  auto best = [](std::vector<double> v) { return *std::max_element(v.begin(), v.end()); };
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  for (size_t i = 0; i < all.size(); ++i)
    std::printf("%-10s %8.2f / %8.2f   ratio to %s %.2fx / %.2fx\n", weight_format_name(formats[i]), best(all[i].rates),
                median(all[i].rates), weight_format_name(formats[0]), best(all[i].rates) / best(all[0].rates),
                median(all[i].rates) / median(all[0].rates));
  std::printf("(load %s)\n", load_average().c_str());
}

int main_impl(int argc, char** argv) {
  std::string model_dir, device = "cpu";
  std::vector<WeightFormat> formats = {WeightFormat::kAsLoaded, WeightFormat::kInt8};
  bool formats_given = false;
  int prefill = 512, decode = 64, ab_bursts = 0;
  double stream_gib = 2.0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    if (a == "--model") model_dir = value();
    else if (a == "--device") device = value();
    else if (a == "--weight-dtype") {
      formats_given = true;
      formats.clear();
      std::string list = value();
      for (size_t start = 0; start <= list.size();) {
        const size_t end = std::min(list.find(',', start), list.size());
        formats.push_back(parse_weight_format(list.substr(start, end - start)));
        start = end + 1;
      }
    } else if (a == "--prefill") prefill = std::stoi(value());
    else if (a == "--decode") decode = std::stoi(value());
    else if (a == "--stream-gib") stream_gib = std::stod(value());
    else if (a == "--ab-bursts") ab_bursts = std::stoi(value());
    else throw std::invalid_argument("unknown argument " + a);
  }
  if (model_dir.empty())
    throw std::invalid_argument(
        "usage: bench_cpu --model DIR [--device cpu|cuda[:N]] [--weight-dtype as-loaded,int8] [--prefill N] "
        "[--decode N] [--ab-bursts N]");

  auto backend = make_backend(device);
  const bool on_cpu = device == "cpu";
  if (!on_cpu && !formats_given) formats = {WeightFormat::kAsLoaded};
  if (on_cpu) {
    // The wait policy moves decode by 12-31% (every matmul is a fork/join), so it is part of
    // every recorded figure.
    const char* policy = std::getenv("OMP_WAIT_POLICY");
    std::printf("# bench_cpu: isa %s, %d threads, OMP_WAIT_POLICY=%s, model %s\n", cpu::isa_name(cpu::active_isa()),
                omp_get_max_threads(), policy ? policy : "(unset: libgomp spins, then sleeps)", model_dir.c_str());
  } else {
    std::printf("# bench_cpu: device %s (backend %s), model %s\n", device.c_str(), backend->name().c_str(),
                model_dir.c_str());
  }
  // The bandwidth is read again right before each format's figures and the best read so far
  // is the roofline: on a shared machine one early read can land in a busy second and would
  // make the roofline too low (decode then shows > 100%).
  std::unique_ptr<StreamRead> stream;
  auto bandwidth = [&](int reps) {
    if (!on_cpu) return device_copy_gbs(*backend, stream_gib, reps);
    if (!stream) stream = std::make_unique<StreamRead>(stream_gib);
    return stream->gbs(reps);
  };
  double gbs = bandwidth(5);
  std::printf("%s %.1f GiB %9.1f GB/s    (load %s)\n", on_cpu ? "stream read" : "device copy", stream_gib, gbs,
              load_average().c_str());

  const int seq_cap = std::max(prefill, 16 + decode + 2);
  const int blocks_per_seq = (seq_cap + 15) / 16;
  std::vector<Figures> figures;
  std::vector<double> rooflines;
  AccuracyProbe probe;
  for (WeightFormat format : formats) {
    const char* name = weight_format_name(format);
    const double t0 = now_s();
    // One model at a time: the previous one is released before the next is loaded.
    std::shared_ptr<Model> model = load_model(model_dir, *backend, {}, {}, format);
    std::printf("\n# weights %s: %.2f GB held, loaded in %.1f s\n", name, double(model->weights.bytes()) / 1e9,
                now_s() - t0);
    ModelRunner runner(model, KvCacheGeometry{.num_blocks = 8 * blocks_per_seq, .block_size = 16});
    std::mt19937 rng(0);
    const double bytes = decode_bytes_per_token(*model);
    const double again = bandwidth(3);
    gbs = std::max(gbs, again);
    std::printf("stream read again            %9.1f GB/s    (best so far %.1f GB/s)\n", again, gbs);
    rooflines.push_back(gbs * 1e9 / bytes);
    std::printf("decode weight bytes/token %.1f MB -> roofline %.1f tok/s\n", bytes / 1e6, rooflines.back());
    figures.push_back(run_figures(runner, prefill, decode, rng));
    std::printf("decode batch 1 = %.0f%% of roofline\n", 100.0 * figures.back().decode1_tps / rooflines.back());
    if (backend->supports_graphs()) {
      const std::vector<int> recorded = runner.enable_decode_graphs({1, 8});
      std::printf("\n# with decode graphs (recorded for %zu batch sizes)\n", recorded.size());
      const Figures g = run_figures(runner, prefill, decode, rng);
      std::printf("decode batch 1 = %.0f%% of roofline (graphs)\n", 100.0 * g.decode1_tps / rooflines.back());
    }
    std::mt19937 probe_rng(1);
    accuracy_check(runner, probe, probe_rng, name);
  }
  if (formats.size() > 1) {
    std::printf("\n# side by side (ratio to %s)\n%-10s %12s %12s %12s %12s\n", weight_format_name(formats[0]), "weights",
                "prefill", "decode b1", "decode b8", "roofline b1");
    for (size_t i = 0; i < formats.size(); ++i) {
      const Figures& f = figures[i];
      const Figures& r = figures[0];
      std::printf("%-10s %6.1f %4.2fx %6.2f %4.2fx %6.2f %4.2fx %9.0f%%\n", weight_format_name(formats[i]), f.prefill_tps,
                  f.prefill_tps / r.prefill_tps, f.decode1_tps, f.decode1_tps / r.decode1_tps, f.decode8_tps,
                  f.decode8_tps / r.decode8_tps, 100.0 * f.decode1_tps / rooflines[i]);
    }
    std::printf("(load %s)\n", load_average().c_str());
    if (ab_bursts > 0) interleaved_decode(model_dir, *backend, formats, ab_bursts);
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
