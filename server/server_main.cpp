// switchyard-server: loads one model, runs the continuous-batching engine and serves
// switchyard.v1.Inference over gRPC (+ grpc.health.v1.Health, reflection) and /metrics,
// /health, /ready over HTTP.
// Lifecycle: parse flags -> load model, tokenizer, chat template -> engine -> gRPC (health
// NOT_SERVING) -> warm-up request -> SERVING. SIGTERM/SIGINT: NOT_SERVING, new calls get
// UNAVAILABLE, running requests finish until --drain-timeout-s, then the rest is aborted and
// the process exits 0.
#include <omp.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <spdlog/spdlog.h>

#include "engine/backend/backend.h"
#include "engine/io/safetensors.h"
#include "engine/model/model_runner.h"
#include "engine/parallel/expert_parallel_job.h"
#include "engine/serving/detokenizer_stream.h"
#include "kernels/cpu/cpu_features.h"
#include "server/admin_http/admin_server.h"
#include "server/admin_http/metrics_text.h"
#include "server/grpc/inference_service.h"
#include "server/server_options.h"

namespace sy::server {
namespace {

// --device as given, or the first GPU when there is one (else the CPU); spelled out in full
// ("cuda:0") for the logs and GetModelInfo.
std::unique_ptr<Backend> open_backend(std::string& device) {
  if (device.empty()) device = cuda_device_count() > 0 ? "cuda:0" : "cpu";
  if (device == "cuda") device = "cuda:0";
  return make_backend(device);
}

// Runs one tiny request end to end so the first client does not pay for lazy initialisation.
void warm_up(Engine& engine) {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  RequestSpec spec;
  spec.log_id = "warm-up";
  spec.prompt_token_ids = {0, 1, 2, 3};
  spec.params.temperature = 0;
  spec.params.max_tokens = 2;
  spec.params.ignore_eos = true;
  auto slot = engine.reserve_queue_slot();
  auto r = engine.submit(std::move(spec),
                         [&](RequestOutput&& out) {
                           if (!out.finished) return;
                           std::lock_guard<std::mutex> lock(mu);
                           done = true;
                           cv.notify_all();
                         },
                         std::move(*slot));
  if (r.error) throw std::runtime_error("warm-up request rejected: " + r.error->to_string());
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done; });
}

int run(int argc, char** argv) {
  // Signals are taken by one thread with sigwait; every thread started later inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  ParsedArgs args;
  try {
    args = parse_server_args(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "switchyard-server: " << e.what() << "\n";
    return 2;
  }
  if (args.help) {
    std::cout << server_help_text();
    return 0;
  }
  ServerOptions& o = args.options;
  spdlog::set_level(spdlog::level::from_str(o.log_level));
  if (o.model.empty()) o.model = default_model_dir(argv[0]);

  // Expert parallelism (mpirun -np N ... --expert-parallel N): MPI up first; one GPU per rank.
  std::unique_ptr<ExpertParallelJob> ep_job;
  if (o.expert_parallel > 1) {
    ep_job = std::make_unique<ExpertParallelJob>(
        &argc, &argv,
        ExpertParallelOptions{.num_ranks = o.expert_parallel, .placement = o.expert_placement,
                              .timeout = std::chrono::milliseconds(static_cast<int64_t>(o.collective_timeout_s * 1000))});
    if (o.device.rfind("cuda", 0) == 0 && cuda_device_count() > 0)
      o.device = "cuda:" + std::to_string(ep_job->rank() % cuda_device_count());
  }
  std::unique_ptr<Backend> backend = open_backend(o.device);
  if (backend->name() == "cpu")  // which kernels and how many threads (docs/perf/cpu.md)
    spdlog::info("cpu kernels: {} (SWITCHYARD_CPU_ISA caps it), {} OpenMP threads", cpu::isa_name(cpu::active_isa()),
                 omp_get_max_threads());
  ServedModel served;
  served.device = o.device;
  served.id = o.served_model_name.empty() ? std::filesystem::path(o.model).filename().string() : o.served_model_name;
  // Device backends plan memory before loading: refused with the shortfall named if it does not fit.
  const MemoryPlanOptions plan_options{.kv_share = o.kv_cache_share,
                                       .max_tokens_per_step = std::max(o.max_num_batched_tokens, o.max_num_seqs),
                                       .max_seqs_per_step = o.max_num_seqs,
                                       .block_size = o.block_size};
  const WeightFormat weight_format = parse_weight_format(o.weight_dtype);
  if (ep_job && weight_format != WeightFormat::kAsLoaded)
    throw std::invalid_argument("--weight-dtype " + o.weight_dtype + " cannot be combined with --expert-parallel yet");
  std::shared_ptr<Model> model = ep_job ? ep_job->load_shard(o.model, *backend, plan_options, o.eplb_redundant_experts)
                                        : load_model(o.model, *backend, {}, plan_options, weight_format);
  spdlog::info("weights: {} ({:.2f} GiB)", weight_format_name(weight_format),
               double(model->weights.bytes()) / double(1 << 30));
  if (model->memory_plan) spdlog::info("memory plan on {}: {}", o.device, model->memory_plan->summary());
  served.model = model;
  served.tokenizer = Tokenizer::from_model_dir(o.model);
  try {
    served.chat_template = ChatTemplate::from_model_dir(o.model);
  } catch (const std::exception& e) {
    spdlog::warn("no chat template ({}); Chat answers FAILED_PRECONDITION", e.what());
  }
  served.weight_stats = weight_stats(model->config, Checkpoint::open(o.model));
  served.limits = {o.max_n, o.max_logprobs, o.max_stop_strings, o.max_stop_string_bytes, 64};

  EngineConfig cfg;
  cfg.scheduler.max_num_seqs = o.max_num_seqs;
  cfg.scheduler.max_num_batched_tokens = std::max(o.max_num_batched_tokens, o.max_num_seqs);
  const int max_model_len = o.max_model_len > 0 ? std::min(o.max_model_len, model->config.max_position_embeddings)
                                                 : model->config.max_position_embeddings;
  cfg.scheduler.max_model_len = max_model_len;
  cfg.max_queued_requests = o.max_queued_requests;
  cfg.eos_token_ids.assign(model->config.eos_token_ids.begin(), model->config.eos_token_ids.end());
  cfg.routing_window = std::chrono::milliseconds(static_cast<int64_t>(o.routing_window_s * 1000));
  // KV blocks of one device (under --expert-parallel: of one rank, whose partition of the cache
  // they are — see block_manager.h; N ranks hold N times as many).
  const int blocks_per_seq = (max_model_len + o.block_size - 1) / o.block_size;
  int num_blocks = o.num_kv_blocks > 0 ? o.num_kv_blocks : o.max_num_seqs * blocks_per_seq;
  if (o.num_kv_blocks == 0 && model->memory_plan)
    num_blocks = static_cast<int>(std::min<int64_t>(model->memory_plan->kv_blocks, INT32_MAX));
  std::shared_ptr<ModelExecutor> executor;
  std::shared_ptr<ExpertParallelExecutor> ep_executor;
  if (ep_job) {
    // Every partition has the same size: what the rank with the least room can hold.
    num_blocks = static_cast<int>(ep_job->min_over_ranks(num_blocks));
    ep_executor = ep_job->make_executor(KvCacheGeometry{num_blocks, o.block_size});
    spdlog::info("expert parallelism: rank {} of {}; {}; {} KV blocks on this rank", ep_job->rank(), ep_job->num_ranks(),
                 ep_job->describe(), num_blocks);
    if (ep_job->rank() != 0) {  // workers follow rank 0's steps until it stops them
      ep_executor->serve_worker();
      return 0;
    }
    ep_executor->set_eplb_schedule({.interval_steps = o.eplb_interval_steps, .num_redundant = o.eplb_redundant_experts});
    cfg.scheduler.kv_partitions = ep_job->num_ranks();
    executor = ep_executor;
    served.expert_parallel = ep_executor;
  } else {
    auto runner = std::make_shared<ModelRunner>(model, KvCacheGeometry{num_blocks, o.block_size});
    // Decode steps replay CUDA graphs recorded now, one per power-of-two batch size up to 64
    // (a no-op on the CPU backend); a step of n sequences pads to the next recorded size.
    std::vector<int> graph_sizes;
    for (int n = 1; n <= std::min(o.max_num_seqs, 64); n *= 2) graph_sizes.push_back(n);
    const std::vector<int> recorded = runner->enable_decode_graphs(graph_sizes);
    if (!recorded.empty()) spdlog::info("decode graphs recorded for batch sizes up to {}", recorded.front());
    executor = runner;
  }
  Engine engine(executor, make_detokenizer_stream_factory(served.tokenizer), cfg);
  served.engine = &engine;
  engine.start();

  ServiceCounters counters;
  InferenceService service(served, counters);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int grpc_port = 0;
  builder.AddListeningPort(o.host + ":" + std::to_string(o.port), grpc::InsecureServerCredentials(), &grpc_port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || grpc_port == 0) throw std::runtime_error("gRPC: cannot listen on " + o.host + ":" + std::to_string(o.port));
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  const auto set_health = [&](bool serving) {
    health->SetServingStatus(serving);  // every service, "" included
  };
  set_health(false);
  // A dead or hung rank ends the job; clients see NOT_SERVING first.
  if (ep_executor) ep_executor->set_fault_handler([health](const std::string&) { health->SetServingStatus(false); });

  std::atomic<bool> ready{false};
  std::unique_ptr<AdminServer> admin;
  int admin_port = 0;
  if (o.admin_port > 0) {
    admin = std::make_unique<AdminServer>(
        [&] {
          std::optional<ExpertParallelMetrics> ep;
          if (ep_executor)
            ep = ExpertParallelMetrics{.num_ranks = ep_executor->num_ranks(),
                                       .kv_blocks_per_rank = ep_executor->local_kv_cache().num_blocks,
                                       .eplb = ep_executor->eplb_status()};
          return render_metrics(engine.metrics(), engine.routing_stats(), counters, ep ? &*ep : nullptr);
        },
        [&] { return ready.load(); });
    admin_port = admin->start(o.host, o.admin_port);
  }

  warm_up(engine);
  set_health(true);
  ready = true;
  const int num_ranks = ep_executor ? ep_executor->num_ranks() : 1;
  spdlog::info("serving {} ({}, {} KV blocks of {} tokens{}, max_model_len {}) on {} — gRPC {}:{}, admin HTTP {}:{}",
               served.id, o.device, int64_t(num_blocks) * num_ranks, o.block_size,
               num_ranks > 1 ? fmt::format(" = {} ranks x {}", num_ranks, num_blocks) : std::string(), max_model_len, o.model,
               o.host, grpc_port, o.host, admin_port);
  if (o.eplb_interval_steps > 0)
    spdlog::info("EPLB: rebalancing the experts every {} engine steps with {} replica slots per MoE layer",
                 o.eplb_interval_steps, o.eplb_redundant_experts);
  std::printf("switchyard-server listening grpc_port=%d admin_port=%d\n", grpc_port, admin_port);
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("signal {}: draining (up to {} s for {} running requests)", sig, o.drain_timeout_s,
               engine.num_active_requests());
  service.start_draining();
  ready = false;
  set_health(false);
  const auto drain_until = std::chrono::steady_clock::now() +
                           std::chrono::milliseconds(static_cast<int64_t>(o.drain_timeout_s * 1000));
  while (engine.num_active_requests() > 0 && std::chrono::steady_clock::now() < drain_until)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  // Aborts what is left (clients get UNAVAILABLE), then closes the listener.
  engine.stop();
  if (ep_executor) ep_executor->stop();  // workers leave their loops and exit 0
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  if (admin) admin->stop();
  spdlog::info("drained; exiting");
  return 0;
}

}  // namespace
}  // namespace sy::server

int main(int argc, char** argv) {
  try {
    return sy::server::run(argc, argv);
  } catch (const std::exception& e) {
    spdlog::error("switchyard-server: {}", e.what());
    return 1;
  }
}
