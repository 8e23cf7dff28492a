// RoutingStatsTracker: per-layer, per-expert routed-token counts since start and over a recent
// window, with their imbalance (max/mean, coefficient of variation, dead experts).
// Position in the flow: runner (router counts) -> [routing stats] -> metrics, gRPC, logs.
// The engine thread records the executor's cumulative counts every so often; readers on
// other threads take snapshots.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

#include "engine/model/executor.h"

namespace sy {

struct RoutingImbalance {
  double max_over_mean = 0;  // 1 = perfectly balanced; 0 when nothing was routed
  double cv = 0;             // stddev / mean of the per-expert counts
  int32_t dead_experts = 0;  // experts with no routed token
};

struct LayerRoutingStats {
  int32_t layer = 0;                    // model layer index
  std::vector<uint64_t> total_counts;   // [num_experts] since start
  std::vector<uint64_t> window_counts;  // [num_experts] over the recent window
  RoutingImbalance total, window;
};

struct RoutingStatsSnapshot {
  double window_seconds = 0;  // span the window counts actually cover
  std::vector<LayerRoutingStats> layers;
};

RoutingImbalance routing_imbalance(const std::vector<uint64_t>& counts);

class RoutingStatsTracker {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RoutingStatsTracker(std::chrono::milliseconds window) : window_(window) {}

  void record(const RoutingCounts& cumulative, Clock::time_point now);
  RoutingStatsSnapshot snapshot() const;

 private:
  struct Sample {
    Clock::time_point time;
    RoutingCounts counts;
  };
  std::chrono::milliseconds window_;
  mutable std::mutex mu_;
  std::deque<Sample> samples_;  // oldest first; the first is the window's baseline
};

}  // namespace sy
