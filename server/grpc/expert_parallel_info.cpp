#include "server/grpc/expert_parallel_info.h"

#include <numeric>
#include <vector>

#include "engine/parallel/expert_parallel_executor.h"
#include "engine/parallel/placement.h"

namespace sy::server {

void fill_expert_parallel_info(const ServedModel& m, uint64_t total_weight_bytes,
                               switchyard::v1::ExpertParallelInfo* out) {
  const ExpertParallelExecutor& ep = *m.expert_parallel;
  const ModelConfig& c = m.model->config;
  // A snapshot: the engine thread may rebalance (and reload expert weights) meanwhile, so
  // nothing here reads the model's expert weights.
  const std::vector<ExpertPlacement> placements = ep.placements();
  const uint64_t per_expert = ep.bytes_per_expert();
  const uint64_t all_experts = per_expert * uint64_t(c.num_experts) * placements.size();
  const uint64_t shared = total_weight_bytes > all_experts ? total_weight_bytes - all_experts : 0;

  out->set_num_ranks(ep.num_ranks());
  std::vector<uint64_t> per_rank(size_t(ep.num_ranks()), shared);
  size_t moe_index = 0;
  for (int layer = 0; layer < c.num_layers && moe_index < placements.size(); ++layer) {
    if (!c.is_moe_layer(layer)) continue;
    const ExpertPlacement& p = placements[moe_index++];
    switchyard::v1::LayerPlacement* lp = out->add_layers();
    lp->set_layer(layer);
    for (int r = 0; r < p.num_ranks; ++r) {
      switchyard::v1::RankExperts* re = lp->add_ranks();
      re->set_rank(r);
      const auto& experts = p.rank_experts[size_t(r)];
      re->mutable_experts()->Add(experts.begin(), experts.end());
      re->set_expert_weight_bytes(per_expert * experts.size());
      per_rank[size_t(r)] += per_expert * experts.size();
    }
  }
  out->mutable_weight_bytes_per_rank()->Add(per_rank.begin(), per_rank.end());
  out->set_kv_blocks_per_rank(ep.local_kv_cache().num_blocks);
  const EplbStatus eplb = ep.eplb_status();
  switchyard::v1::EplbInfo* e = out->mutable_eplb();
  e->set_interval_steps(eplb.schedule.interval_steps);
  e->set_redundant_experts(eplb.schedule.num_redundant);
  e->set_rebalances(eplb.rebalances);
  e->set_window_first_step(eplb.window_first_step);
  e->set_window_last_step(eplb.window_last_step);
  e->set_window_routed_rows(eplb.window_routed_rows);
  e->set_imbalance_before(eplb.imbalance_before);
  e->set_imbalance_after(eplb.imbalance_after);
}

void fill_rank_loads(const ServedModel& m, switchyard::v1::RoutingStats* stats) {
  const ExpertParallelExecutor& ep = *m.expert_parallel;
  const std::vector<ExpertPlacement> placements = ep.placements();
  // Expected rows per rank: each expert's routed rows split evenly over its replicas.
  std::vector<double> rows(size_t(ep.num_ranks()), 0.0);
  for (int i = 0; i < stats->layers_size() && size_t(i) < placements.size(); ++i) {
    const auto& counts = stats->layers(i).total_counts();
    std::vector<uint64_t> load(counts.begin(), counts.end());
    std::vector<double> per_rank = rank_loads(placements[size_t(i)], load);
    for (size_t r = 0; r < per_rank.size() && r < rows.size(); ++r) rows[r] += per_rank[r];
  }
  const double total = std::accumulate(rows.begin(), rows.end(), 0.0);
  const std::vector<EpTrafficStats> traffic = ep.rank_stats();
  for (int r = 0; r < ep.num_ranks(); ++r) {
    switchyard::v1::RankLoad* out = stats->add_ranks();
    out->set_rank(r);
    if (size_t(r) < traffic.size()) {
      const EpTrafficStats& t = traffic[size_t(r)];
      out->set_rows_computed(uint64_t(t.rows_computed));
      out->set_rows_dispatched(uint64_t(t.rows_dispatched));
      out->set_bytes_sent(uint64_t(t.bytes_sent));
      out->set_bytes_received(uint64_t(t.bytes_received));
    }
    out->set_load_share(total > 0 ? rows[size_t(r)] / total : 0.0);
  }
}

}  // namespace sy::server
