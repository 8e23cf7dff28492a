#include "engine/serving/routing_stats.h"

#include <algorithm>
#include <cmath>

namespace sy {

RoutingImbalance routing_imbalance(const std::vector<uint64_t>& counts) {
  RoutingImbalance r;
  if (counts.empty()) return r;
  double sum = 0, max = 0;
  for (uint64_t c : counts) {
    sum += static_cast<double>(c);
    max = std::max(max, static_cast<double>(c));
    r.dead_experts += c == 0;
  }
  const double mean = sum / static_cast<double>(counts.size());
  if (mean == 0) return r;
  double var = 0;
  for (uint64_t c : counts) var += (static_cast<double>(c) - mean) * (static_cast<double>(c) - mean);
  var /= static_cast<double>(counts.size());
  r.max_over_mean = max / mean;
  r.cv = std::sqrt(var) / mean;
  return r;
}

void RoutingStatsTracker::record(const RoutingCounts& cumulative, Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  samples_.push_back({now, cumulative});
  // Keep one sample at or before the window start as the baseline.
  while (samples_.size() > 2 && samples_[1].time <= now - window_) samples_.pop_front();
}

RoutingStatsSnapshot RoutingStatsTracker::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  RoutingStatsSnapshot snap;
  if (samples_.empty()) return snap;
  const Sample& latest = samples_.back();
  const Sample& base = samples_.front();
  snap.window_seconds = std::chrono::duration<double>(latest.time - base.time).count();
  for (size_t l = 0; l < latest.counts.counts.size(); ++l) {
    LayerRoutingStats s;
    s.layer = l < latest.counts.moe_layer_ids.size() ? latest.counts.moe_layer_ids[l]
                                                     : static_cast<int32_t>(l);
    s.total_counts = latest.counts.counts[l];
    s.window_counts = s.total_counts;
    if (&base != &latest && l < base.counts.counts.size() &&
        base.counts.counts[l].size() == s.total_counts.size())
      for (size_t e = 0; e < s.window_counts.size(); ++e)
        s.window_counts[e] -= base.counts.counts[l][e];
    s.total = routing_imbalance(s.total_counts);
    s.window = routing_imbalance(s.window_counts);
    snap.layers.push_back(std::move(s));
  }
  return snap;
}

}  // namespace sy
