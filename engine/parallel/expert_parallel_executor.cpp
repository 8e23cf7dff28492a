// ExpertParallelExecutor (engine/parallel/expert_parallel_executor.h).
#include "engine/parallel/expert_parallel_executor.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "engine/io/safetensors.h"

namespace sy {
namespace {

// A rank's report after a step: sizes, cumulative counters, then its logits rows.
struct ReportHeader {
  int64_t num_logit_rows = 0;
  int64_t num_moe_layers = 0;
  int64_t num_experts = 0;
  int64_t bytes_sent = 0, rows_dispatched = 0, rows_computed = 0, dispatch_ns = 0, combine_ns = 0;
};

template <typename T>
void append(std::vector<char>& out, const T* p, size_t n) {
  const size_t at = out.size(), bytes = n * sizeof(T);
  out.resize(at + bytes);
  if (bytes) std::memcpy(out.data() + at, p, bytes);
}

}  // namespace

std::shared_ptr<Model> load_expert_shard(const std::filesystem::path& dir, Backend& backend,
                                         const std::vector<ExpertPlacement>& placements, int rank) {
  const ModelConfig config = ModelConfig::from_model_dir(dir);
  std::vector<int> moe_index_of_layer(size_t(config.num_layers), -1);
  int n = 0;
  for (int l = 0; l < config.num_layers; ++l)
    if (config.is_moe_layer(l)) moe_index_of_layer[size_t(l)] = n++;
  if (size_t(n) != placements.size())
    throw std::invalid_argument(dir.string() + ": model has " + std::to_string(n) + " MoE layers but " +
                                std::to_string(placements.size()) + " placements were given");
  return load_model(dir, backend, [&](int layer) {
    return placements.at(size_t(moe_index_of_layer.at(size_t(layer)))).rank_experts.at(size_t(rank));
  });
}

std::vector<ExpertPlacement> uniform_placements(const ModelConfig& config, const ExpertPlacement& p) {
  int n = 0;
  for (int l = 0; l < config.num_layers; ++l) n += config.is_moe_layer(l) ? 1 : 0;
  return std::vector<ExpertPlacement>(size_t(n), p);
}

MemoryPlanModel shard_memory_plan_model(const ModelConfig& config, DType weight_dtype, const MemoryPlanOptions& options,
                                        int num_ranks, int redundant_experts) {
  MemoryPlanModel m = memory_plan_model(config, weight_dtype, options);
  const int64_t slots = std::min<int64_t>(m.num_experts, (int64_t(m.num_experts) + redundant_experts + num_ranks - 1) / num_ranks);
  m.extra_weight_params -= m.num_moe_layers * (m.num_experts - slots) * 3 * m.hidden * m.moe_intermediate;
  return m;
}

std::vector<int64_t> expert_bytes_per_rank(const ModelConfig& c, const std::vector<ExpertPlacement>& placements) {
  // gate_up [2I, D] + down [D, I] per expert, in the checkpoint's dtype.
  const int64_t per_expert = 3 * int64_t(c.moe_intermediate_size) * c.hidden_size * int64_t(dtype_size(c.dtype));
  std::vector<int64_t> bytes(placements.empty() ? 0 : size_t(placements.front().num_ranks), 0);
  for (const ExpertPlacement& p : placements)
    for (int r = 0; r < p.num_ranks; ++r) bytes[size_t(r)] += p.num_slots(r) * per_expert;
  return bytes;
}

ExpertParallelExecutor::ExpertParallelExecutor(std::shared_ptr<Model> model, KvCacheGeometry kv_per_rank,
                                               Communicator& comm, std::vector<ExpertPlacement> placements)
    : comm_(comm),
      model_(std::move(model)),
      runner_(model_, kv_per_rank),
      moe_(*model_->backend, model_->config, comm, std::move(placements)),
      kv_partitioning_{.blocks_per_rank = kv_per_rank.num_blocks, .block_size = kv_per_rank.block_size},
      rank_routing_(size_t(comm.size())),
      rank_traffic_(size_t(comm.size())),
      placements_snapshot_(moe_.placements()) {
  if (int64_t(kv_per_rank.num_blocks) * comm.size() > INT32_MAX)
    throw std::invalid_argument("expert parallelism: " + std::to_string(kv_per_rank.num_blocks) + " KV blocks per rank times " +
                                std::to_string(comm.size()) + " ranks overflows the block id space");
  // Bytes of one routed expert: gate, up and down, [I, D] each, in the loaded weights' dtype.
  const ModelConfig& c = model_->config;
  DType weight_dtype = c.dtype;
  for (const LayerWeights& L : model_->weights.layers)
    if (L.is_moe) weight_dtype = L.moe.gate_up.dtype;
  bytes_per_expert_ = 3ull * uint64_t(c.moe_intermediate_size) * uint64_t(c.hidden_size) * dtype_size(weight_dtype);
  runner_.set_moe_dispatcher(&moe_);
  last_contact_ = std::chrono::steady_clock::now();
  if (comm_.rank() == 0 && comm_.size() > 1) heartbeat_ = std::thread([this] { heartbeat_loop(); });
}

ExpertParallelExecutor::~ExpertParallelExecutor() {
  if (comm_.rank() == 0) stop();
}

void ExpertParallelExecutor::fail(const std::string& message) {
  std::fprintf(stderr, "switchyard expert parallelism: %s\n", message.c_str());
  std::fflush(stderr);
  if (fault_handler_) fault_handler_(message);
  // The job cannot continue in lockstep; mpirun ends the other ranks when one exits non-zero.
  std::_Exit(kCommFailureExitCode);
}

void ExpertParallelExecutor::set_fault_handler(FaultHandler handler) {
  std::lock_guard<std::mutex> lock(comm_mutex_);
  fault_handler_ = std::move(handler);
}

void ExpertParallelExecutor::send_plan(PlanKind kind, const std::vector<char>& payload) {
  PlanHeader h;
  h.kind = kind;
  h.step = step_;
  h.payload_bytes = int64_t(payload.size());
  comm_.broadcast(&h, sizeof h, 0);
  if (!payload.empty()) comm_.broadcast(const_cast<char*>(payload.data()), h.payload_bytes, 0);
  last_contact_ = std::chrono::steady_clock::now();
}

KvCacheGeometry ExpertParallelExecutor::kv_cache() const {
  return {.num_blocks = kv_partitioning_.blocks_per_rank * comm_.size(), .block_size = kv_partitioning_.block_size};
}

std::vector<ExpertPlacement> ExpertParallelExecutor::placements() const {
  std::lock_guard<std::mutex> lock(stats_mutex_);
  return placements_snapshot_;
}

std::vector<char> ExpertParallelExecutor::run_share(const ForwardBatch& b) {
  RankShare share = rank_share(b, comm_.rank(), kv_partitioning_);
  std::vector<float> logits;
  runner_.forward(share.batch, logits);
  RoutingCounts routing;
  runner_.routing_counts(routing);
  const EpTrafficStats& t = moe_.stats();
  ReportHeader h{.num_logit_rows = int64_t(share.batch.logits_indices.size()),
                 .num_moe_layers = int64_t(routing.counts.size()),
                 .num_experts = routing.counts.empty() ? 0 : int64_t(routing.counts.front().size()),
                 .bytes_sent = t.bytes_sent,
                 .rows_dispatched = t.rows_dispatched,
                 .rows_computed = t.rows_computed,
                 .dispatch_ns = t.dispatch_time.count(),
                 .combine_ns = t.combine_time.count()};
  std::vector<char> report;
  append(report, &h, 1);
  for (const auto& layer : routing.counts) append(report, layer.data(), layer.size());
  append(report, logits.data(), logits.size());
  return report;
}

void ExpertParallelExecutor::forward(const ForwardBatch& b, std::vector<float>& logits) {
  if (comm_.rank() != 0) throw std::logic_error("ExpertParallelExecutor::forward runs on rank 0; workers serve_worker()");
  const int V = vocab_size();
  validate_plan(b, V, kv_cache().num_blocks, kv_cache().block_size);
  // Every sequence's blocks must lie in its owner's partition (rank_share re-checks per rank).
  for (int r = 0; r < comm_.size(); ++r) rank_share(b, r, kv_partitioning_);
  std::lock_guard<std::mutex> lock(comm_mutex_);
  if (stopped_) throw std::logic_error("ExpertParallelExecutor::forward after stop()");
  // Live EPLB between engine steps: the window holds interval_steps steps.
  if (eplb_.interval_steps > 0 && step_ - window_first_step_ + 1 >= eplb_.interval_steps)
    rebalance_locked(eplb_.num_redundant);
  std::vector<char> all;
  std::vector<int64_t> sizes;
  try {
    ++step_;
    if (comm_.size() > 1) send_plan(PlanKind::kForward, serialize_batch(b));
    const std::vector<char> mine = run_share(b);
    comm_.gather_v(mine.data(), int64_t(mine.size()), all, sizes, 0);
  } catch (const CommError& e) {
    fail(e.what());
  } catch (const std::exception& e) {
    // The batch passed validate_plan, so the peers are inside this step: leaving it would hang them.
    fail(std::string("rank 0 failed during step ") + std::to_string(step_) + ": " + e.what());
  }

  // Unpack every rank's report: logits rows go to their place in batch order.
  logits.assign(b.logits_indices.size() * size_t(V), 0.0f);
  std::lock_guard<std::mutex> stats_lock(stats_mutex_);
  size_t off = 0;
  for (int r = 0; r < comm_.size(); ++r) {
    const char* p = all.data() + off;
    ReportHeader h;
    std::memcpy(&h, p, sizeof h);
    p += sizeof h;
    RoutingCounts& rc = rank_routing_[size_t(r)];
    if (rc.counts.empty()) runner_.routing_counts(rc);  // layer ids and shape
    for (auto& layer : rc.counts) {
      std::memcpy(layer.data(), p, layer.size() * sizeof(uint64_t));
      p += layer.size() * sizeof(uint64_t);
    }
    rank_traffic_[size_t(r)] = {.bytes_sent = h.bytes_sent,
                                .rows_dispatched = h.rows_dispatched,
                                .rows_computed = h.rows_computed,
                                .dispatch_time = std::chrono::nanoseconds(h.dispatch_ns),
                                .combine_time = std::chrono::nanoseconds(h.combine_ns)};
    const std::vector<int32_t> positions = rank_share(b, r, kv_partitioning_).logits_positions;
    if (int64_t(positions.size()) != h.num_logit_rows)
      fail("rank " + std::to_string(r) + " returned " + std::to_string(h.num_logit_rows) + " logits rows, expected " +
           std::to_string(positions.size()));
    for (size_t i = 0; i < positions.size(); ++i)
      std::memcpy(logits.data() + size_t(positions[i]) * V, p + i * V * sizeof(float), size_t(V) * sizeof(float));
    off += size_t(sizes[size_t(r)]);
  }
}

void ExpertParallelExecutor::serve_worker() {
  if (comm_.rank() == 0) throw std::logic_error("ExpertParallelExecutor::serve_worker runs on ranks != 0");
  try {
    while (true) {
      PlanHeader h;
      comm_.broadcast(&h, sizeof h, 0);
      if (h.magic != PlanHeader{}.magic)
        fail("rank " + std::to_string(comm_.rank()) + ": message from rank 0 is not a step plan (ranks out of step)");
      switch (h.kind) {
        case PlanKind::kHeartbeat:
          comm_.barrier();
          break;
        case PlanKind::kRebalance: {
          std::vector<char> payload(size_t(h.payload_bytes));
          comm_.broadcast(payload.data(), h.payload_bytes, 0);
          apply_rebalance(payload);
          comm_.barrier();
          break;
        }
        case PlanKind::kShutdown:
          comm_.barrier();
          return;
        case PlanKind::kForward: {
          std::vector<char> payload(size_t(h.payload_bytes));
          comm_.broadcast(payload.data(), h.payload_bytes, 0);
          step_ = h.step;
          const std::vector<char> report = run_share(deserialize_batch(payload));
          std::vector<char> unused;
          std::vector<int64_t> unused_sizes;
          comm_.gather_v(report.data(), int64_t(report.size()), unused, unused_sizes, 0);
          break;
        }
        default:
          fail("rank " + std::to_string(comm_.rank()) + ": unknown plan kind " + std::to_string(uint32_t(h.kind)) +
               " from rank 0");
      }
    }
  } catch (const CommError& e) {
    fail(e.what());
  } catch (const std::exception& e) {
    fail("rank " + std::to_string(comm_.rank()) + " failed during step " + std::to_string(step_) + ": " + e.what());
  }
}

void ExpertParallelExecutor::stop() {
  {
    std::lock_guard<std::mutex> lock(comm_mutex_);
    if (stopped_) return;
    stopped_ = true;
    if (comm_.size() > 1) {
      try {
        send_plan(PlanKind::kShutdown, {});
        comm_.barrier();
      } catch (const CommError& e) {
        fail(e.what());
      }
    }
  }
  wake_.notify_all();
  if (heartbeat_.joinable()) heartbeat_.join();
}

std::vector<ExpertPlacement> ExpertParallelExecutor::rebalance(int num_redundant) {
  if (comm_.rank() != 0) throw std::logic_error("ExpertParallelExecutor::rebalance runs on rank 0");
  if (num_redundant < 0) throw std::invalid_argument("rebalance: num_redundant must be >= 0");
  std::lock_guard<std::mutex> lock(comm_mutex_);
  if (stopped_) throw std::logic_error("ExpertParallelExecutor::rebalance after stop()");
  return rebalance_locked(num_redundant);
}

void ExpertParallelExecutor::set_eplb_schedule(const EplbSchedule& schedule) {
  if (schedule.interval_steps < 0 || schedule.num_redundant < 0)
    throw std::invalid_argument("EPLB schedule: interval_steps and num_redundant must be >= 0");
  std::lock_guard<std::mutex> lock(comm_mutex_);
  eplb_ = schedule;
  std::lock_guard<std::mutex> stats_lock(stats_mutex_);
  eplb_status_.schedule = schedule;
}

EplbStatus ExpertParallelExecutor::eplb_status() const {
  std::lock_guard<std::mutex> lock(stats_mutex_);
  return eplb_status_;
}

std::vector<ExpertPlacement> ExpertParallelExecutor::rebalance_locked(int num_redundant) {
  // The window: routing of the steps since the previous rebalance (or the start).
  RoutingCounts now;
  routing_counts(now);
  const size_t layers = moe_.placements().size(), E = size_t(model_->config.num_experts);
  std::vector<std::vector<uint64_t>> window(layers, std::vector<uint64_t>(E, 0));
  uint64_t rows = 0;
  for (size_t i = 0; i < layers && i < now.counts.size(); ++i)
    for (size_t e = 0; e < E && e < now.counts[i].size(); ++e) {
      const uint64_t before = i < counts_at_window_start_.counts.size() ? counts_at_window_start_.counts[i][e] : 0;
      window[i][e] = now.counts[i][e] - before;
      rows += window[i][e];
    }
  const int64_t first = window_first_step_, last = step_;
  window_first_step_ = step_ + 1;
  counts_at_window_start_ = std::move(now);
  if (rows == 0) return moe_.placements();  // nothing routed: no evidence to move experts on

  // Payload: num_redundant, then [num_moe_layers][num_experts] window counts.
  std::vector<char> payload(sizeof(int64_t));
  const int64_t r = num_redundant;
  std::memcpy(payload.data(), &r, sizeof r);
  for (const auto& layer : window) {
    const char* p = reinterpret_cast<const char*>(layer.data());
    payload.insert(payload.end(), p, p + layer.size() * sizeof(uint64_t));
  }
  double before = 0, after = 0;
  for (size_t i = 0; i < layers; ++i) before = std::max(before, load_imbalance(moe_.placements()[i], window[i]));
  try {
    if (comm_.size() > 1) send_plan(PlanKind::kRebalance, payload);
    apply_rebalance(payload);
    if (comm_.size() > 1) comm_.barrier();
  } catch (const CommError& e) {
    fail(e.what());
  } catch (const std::exception& e) {
    fail(std::string("rank 0 failed to rebalance: ") + e.what());
  }
  for (size_t i = 0; i < layers; ++i) after = std::max(after, load_imbalance(moe_.placements()[i], window[i]));
  EplbStatus status;
  {
    std::lock_guard<std::mutex> lock(stats_mutex_);
    status = eplb_status_ = {.schedule = eplb_status_.schedule,
                             .rebalances = eplb_status_.rebalances + 1,
                             .window_first_step = first,
                             .window_last_step = last,
                             .window_routed_rows = rows,
                             .imbalance_before = before,
                             .imbalance_after = after};
  }
  spdlog::info("EPLB rebalance {} before step {}: placement from the routing of steps {}..{} ({} routed rows), "
               "{} replica slots per layer; worst layer's max/mean rank load {:.2f} -> {:.2f}; layer 0: {}",
               status.rebalances, step_ + 1, first, last, rows, num_redundant, before, after,
               moe_.placements().empty() ? std::string("-") : moe_.placements().front().describe());
  return moe_.placements();
}

void ExpertParallelExecutor::apply_rebalance(const std::vector<char>& payload) {
  const ModelConfig& c = model_->config;
  const size_t layers = moe_.placements().size(), E = size_t(c.num_experts);
  if (payload.size() != sizeof(int64_t) * (1 + layers * E))
    throw std::runtime_error("rebalance plan: " + std::to_string(payload.size()) + " bytes for " +
                             std::to_string(layers) + " layers of " + std::to_string(E) + " experts");
  int64_t num_redundant = 0;
  std::memcpy(&num_redundant, payload.data(), sizeof num_redundant);
  std::vector<ExpertPlacement> next;
  for (size_t i = 0; i < layers; ++i) {
    std::vector<uint64_t> load(E);
    std::memcpy(load.data(), payload.data() + sizeof(int64_t) * (1 + i * E), E * sizeof(uint64_t));
    next.push_back(balanced_placement(load, comm_.size(), int(num_redundant)));
  }
  // Reload only the layers whose share on this rank changed; between steps nothing reads them.
  const Checkpoint ckpt = Checkpoint::open(model_->dir);
  for (size_t i = 0, moe = 0; i < model_->weights.layers.size(); ++i) {
    LayerWeights& L = model_->weights.layers[i];
    if (!L.is_moe) continue;
    const std::vector<int32_t>& mine = next[moe++].rank_experts[size_t(comm_.rank())];
    if (mine == L.moe.expert_ids) continue;
    MoeWeights fresh = load_moe_layer(c, ckpt, *model_->backend, int(i), mine);
    L.moe.gate_up = std::move(fresh.gate_up);
    L.moe.down = std::move(fresh.down);
    L.moe.expert_ids = std::move(fresh.expert_ids);
  }
  moe_.set_placements(std::move(next));
  std::lock_guard<std::mutex> lock(stats_mutex_);
  placements_snapshot_ = moe_.placements();
}

void ExpertParallelExecutor::heartbeat_loop() {
  const auto interval = std::max(std::chrono::milliseconds(1), comm_.options().timeout / 4);
  std::unique_lock<std::mutex> lock(comm_mutex_);
  while (!stopped_) {
    wake_.wait_until(lock, last_contact_ + interval);
    if (stopped_) break;
    if (std::chrono::steady_clock::now() < last_contact_ + interval) continue;
    try {
      send_plan(PlanKind::kHeartbeat, {});
      comm_.barrier();
    } catch (const CommError& e) {
      fail(e.what());
    }
  }
}

void ExpertParallelExecutor::routing_counts(RoutingCounts& out) const {
  std::lock_guard<std::mutex> lock(stats_mutex_);
  for (const RoutingCounts& rc : rank_routing_) {
    if (rc.counts.empty()) continue;
    if (out.counts.empty()) {
      out.moe_layer_ids = rc.moe_layer_ids;
      out.counts.assign(rc.counts.size(), std::vector<uint64_t>(rc.counts.front().size(), 0));
    }
    for (size_t i = 0; i < rc.counts.size() && i < out.counts.size(); ++i)
      for (size_t e = 0; e < rc.counts[i].size() && e < out.counts[i].size(); ++e) out.counts[i][e] += rc.counts[i][e];
  }
}

std::vector<EpTrafficStats> ExpertParallelExecutor::rank_stats() const {
  std::lock_guard<std::mutex> lock(stats_mutex_);
  return rank_traffic_;
}

}  // namespace sy
