// Expert-parallel MoE block (engine/parallel/ep_moe.h).
#include "engine/parallel/ep_moe.h"

#include <numeric>
#include <stdexcept>
#include <string>

#include "engine/model/scratch_arena.h"

namespace sy {
namespace {

using Clock = std::chrono::steady_clock;

template <typename T>
T* upload(Backend& be, ScratchArena& scratch, const char* name, const std::vector<T>& v) {
  T* d = scratch.get<T>(name, v.empty() ? 1 : v.size());
  if (!v.empty()) be.copy_from_host(d, v.data(), v.size() * sizeof(T));
  return d;
}

}  // namespace

ExpertParallelMoe::ExpertParallelMoe(Backend& be, const ModelConfig& config, Communicator& comm,
                                     std::vector<ExpertPlacement> placements)
    : be_(be), config_(config), comm_(comm) {
  if (!comm_.device_buffers() && !be_.host_accessible())
    throw std::invalid_argument("expert parallelism: the " + comm_.name() + " communicator moves host memory but the " +
                                be_.name() + " backend's buffers are device memory; use the NCCL communicator");
  set_placements(std::move(placements));
}

void ExpertParallelMoe::set_placements(std::vector<ExpertPlacement> placements) {
  if (!placements_.empty() && placements.size() != placements_.size())
    throw std::invalid_argument("expert parallelism: " + std::to_string(placements.size()) + " placements for " +
                                std::to_string(placements_.size()) + " MoE layers");
  placements_ = std::move(placements);
  for (size_t i = 0; i < placements_.size(); ++i) {
    const ExpertPlacement& p = placements_[i];
    p.validate();
    if (p.num_experts != config_.num_experts || p.num_ranks != comm_.size())
      throw std::invalid_argument("expert parallelism: placement of MoE layer " + std::to_string(i) + " is for " +
                                  std::to_string(p.num_experts) + " experts on " + std::to_string(p.num_ranks) +
                                  " ranks; the model has " + std::to_string(config_.num_experts) + " experts and the job " +
                                  std::to_string(comm_.size()) + " ranks");
  }
}

ExpertParallelMoe::Layout ExpertParallelMoe::make_layout(const ExpertPlacement& p,
                                                         const std::vector<int32_t>& topk_ids) const {
  const int R = comm_.size(), me = comm_.rank(), S = p.max_slots(), E = p.num_experts;
  const size_t num_pairs = topk_ids.size();
  Layout L;
  L.slot_counts.assign(size_t(R) * S, 0);
  L.expert_offsets.assign(size_t(E) + 1, 0);
  std::vector<int32_t> key(num_pairs);          // destination (rank * S + slot) of each pair
  std::vector<int32_t> seen(size_t(E), 0);      // pairs of each expert so far: replicas take turns
  for (size_t pair = 0; pair < num_pairs; ++pair) {
    const int32_t e = topk_ids[pair];
    if (e < 0 || e >= E)
      throw std::runtime_error("expert parallelism: router chose expert " + std::to_string(e) + " outside [0, " +
                               std::to_string(E) + ")");
    const auto& holders = p.expert_ranks[size_t(e)];
    // Start each source rank at a different replica so small batches spread too.
    const int dest = holders[size_t(seen[size_t(e)]++ + me) % holders.size()];
    key[pair] = dest * S + p.slot_of(dest, e);
    ++L.slot_counts[size_t(key[pair])];
    ++L.expert_offsets[size_t(e) + 1];
  }
  std::partial_sum(L.expert_offsets.begin(), L.expert_offsets.end(), L.expert_offsets.begin());
  // Counting sort by destination key, stable in pair order.
  std::vector<int64_t> next(L.slot_counts.size(), 0);
  for (size_t k = 1; k < next.size(); ++k) next[k] = next[k - 1] + L.slot_counts[k - 1];
  L.send_pairs.resize(num_pairs);
  L.pair_to_row.resize(num_pairs);
  for (size_t pair = 0; pair < num_pairs; ++pair) {
    const int64_t row = next[size_t(key[pair])]++;
    L.send_pairs[size_t(row)] = int32_t(pair);
    L.pair_to_row[pair] = int32_t(row);
  }
  return L;
}

void ExpertParallelMoe::run(int moe_index, const MoeWeights& w, const MoeBlockArgs& a, ScratchArena& scratch) {
  const ExpertPlacement& P = placements_.at(size_t(moe_index));
  const int R = comm_.size(), me = comm_.rank(), S = P.max_slots(), local_slots = P.num_slots(me);
  const DType act = config_.dtype;
  const int64_t T = a.num_tokens, D = config_.hidden_size, I = config_.moe_intermediate_size;
  const int K = config_.top_k;
  const int64_t row_bytes = D * int64_t(dtype_size(act));
  if (w.expert_ids != P.rank_experts[size_t(me)])
    throw std::logic_error("expert parallelism: MoE layer " + std::to_string(moe_index) + " on rank " +
                           std::to_string(me) + " has loaded different experts than its placement holds");

  // 1. Route this rank's tokens (the router weights are replicated on every rank).
  std::vector<int32_t> topk_ids(size_t(T * K));
  const float* topk_weights = nullptr;
  if (T > 0) {
    topk_weights = route_tokens(be_, config_, w, a, scratch);
    be_.copy_to_host(topk_ids.data(), a.topk_ids, topk_ids.size() * sizeof(int32_t));
  }
  const Layout L = make_layout(P, topk_ids);
  be_.copy_from_host(a.expert_offsets, L.expert_offsets.data(), L.expert_offsets.size() * sizeof(int32_t));

  // 2. Notify: rows for each (source, my slot).
  const auto t_notify = Clock::now();
  std::vector<int64_t> recv_counts(size_t(R) * S);  // [source rank][my slot]
  comm_.all_to_all(L.slot_counts, recv_counts, S);
  std::vector<int64_t> send_bytes(size_t(R), 0), recv_bytes(size_t(R), 0), recv_row0(size_t(R) + 1, 0);
  for (int r = 0; r < R; ++r) {
    int64_t out = 0, in = 0;
    for (int s = 0; s < S; ++s) out += L.slot_counts[size_t(r) * S + s], in += recv_counts[size_t(r) * S + s];
    send_bytes[size_t(r)] = out * row_bytes;
    recv_bytes[size_t(r)] = in * row_bytes;
    recv_row0[size_t(r) + 1] = recv_row0[size_t(r)] + in;
  }
  const int64_t rows_out = int64_t(L.send_pairs.size()), rows_in = recv_row0[size_t(R)];

  // 3. Dispatch: token rows in send order, to the ranks that hold their experts.
  void* x_send = scratch.get("ep.x_send", size_t(rows_out * row_bytes));  // [rows_out, D]
  if (rows_out > 0)
    be_.moe_permute({.x = a.x, .x_sorted = x_send, .sorted_pairs = upload(be_, scratch, "ep.send_pairs", L.send_pairs),
                     .dtype = act, .num_rows = rows_out, .hidden = D, .top_k = K});
  void* x_recv = scratch.get("ep.x_recv", size_t(rows_in * row_bytes));  // [rows_in, D] by source, then slot
  be_.synchronize();
  comm_.all_to_all_v(x_send, send_bytes, x_recv, recv_bytes);
  stats_.dispatch_time += Clock::now() - t_notify;

  // 4. Local experts: regroup arrivals by slot (grouped GEMM wants one segment per expert),
  //    run gate_up -> SwiGLU -> down, and put the outputs back in arrival order.
  std::vector<int32_t> by_slot(static_cast<size_t>(rows_in)), arrival_to_local(static_cast<size_t>(rows_in));
  std::vector<int32_t> slot_offsets(size_t(local_slots) + 1, 0);  // [local_slots + 1]
  {
    std::vector<int64_t> cursor(recv_row0.begin(), recv_row0.end() - 1);  // next arrival row per source
    int32_t pos = 0;
    for (int s = 0; s < local_slots; ++s) {
      for (int r = 0; r < R; ++r)
        for (int64_t j = 0; j < recv_counts[size_t(r) * S + s]; ++j) {
          const int64_t arrival = cursor[size_t(r)]++;
          by_slot[size_t(pos)] = int32_t(arrival);
          arrival_to_local[size_t(arrival)] = pos++;
        }
      slot_offsets[size_t(s) + 1] = pos;
    }
  }
  void* y_recv = scratch.get("ep.y_recv", size_t(rows_in * row_bytes));  // [rows_in, D] arrival order
  if (rows_in > 0) {
    const size_t es = dtype_size(act);
    void* x_local = scratch.get("ep.x_local", size_t(rows_in * row_bytes));  // [rows_in, D] by slot
    be_.moe_permute({.x = x_recv, .x_sorted = x_local, .sorted_pairs = upload(be_, scratch, "ep.by_slot", by_slot),
                     .dtype = act, .num_rows = rows_in, .hidden = D, .top_k = 1});
    const int32_t* d_offsets = upload(be_, scratch, "ep.slot_offsets", slot_offsets);
    void* gate_up = scratch.get("ep.gate_up", size_t(rows_in * 2 * I) * es);  // [rows_in, 2I]
    be_.grouped_gemm({.x = x_local, .w = w.gate_up.data(), .y = gate_up, .expert_offsets = d_offsets,
                      .act_dtype = act, .w_dtype = w.gate_up.dtype, .num_experts = local_slots, .n = 2 * I, .k = D,
                      .total_rows = rows_in});
    void* hidden = scratch.get("ep.hidden", size_t(rows_in * I) * es);  // [rows_in, I]
    be_.glu({.gate_up = gate_up, .out = hidden, .dtype = act, .rows = rows_in, .inter = I});
    void* y_local = scratch.get("ep.y_local", size_t(rows_in * row_bytes));  // [rows_in, D] by slot
    be_.grouped_gemm({.x = hidden, .w = w.down.data(), .y = y_local, .expert_offsets = d_offsets, .act_dtype = act,
                      .w_dtype = w.down.dtype, .num_experts = local_slots, .n = D, .k = I, .total_rows = rows_in});
    be_.moe_permute({.x = y_local, .x_sorted = y_recv,
                     .sorted_pairs = upload(be_, scratch, "ep.arrival_to_local", arrival_to_local), .dtype = act,
                     .num_rows = rows_in, .hidden = D, .top_k = 1});
  }

  // 5. Combine: outputs travel back the way their inputs came, landing in send order.
  void* y_back = scratch.get("ep.y_back", size_t(rows_out * row_bytes));  // [rows_out, D] send order
  be_.synchronize();
  const auto t_combine = Clock::now();
  comm_.all_to_all_v(y_recv, recv_bytes, y_back, send_bytes);
  stats_.combine_time += Clock::now() - t_combine;
  if (T > 0) {
    be_.moe_combine({.y_sorted = y_back, .pair_to_row = upload(be_, scratch, "ep.pair_to_row", L.pair_to_row),
                     .topk_ids = a.topk_ids, .topk_weights = topk_weights, .out = a.out, .dtype = act,
                     .num_tokens = T, .hidden = D, .top_k = K, .round_weights = config_.arch != Architecture::kMixtral});
    add_shared_expert(be_, config_, w, a, scratch);
  }

  for (int r = 0; r < R; ++r)
    if (r != me) stats_.bytes_sent += send_bytes[size_t(r)] + recv_bytes[size_t(r)];
  stats_.rows_dispatched += rows_out;
  stats_.rows_computed += rows_in;
}

}  // namespace sy
