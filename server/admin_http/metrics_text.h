// Prometheus text exposition of the engine's metrics, the gRPC status counts and the routing
// statistics. Pure function: the admin HTTP server serves its result at /metrics.
#pragma once

#include <string>

#include "engine/parallel/expert_parallel_executor.h"
#include "engine/serving/engine_metrics.h"
#include "engine/serving/routing_stats.h"
#include "server/grpc/inference_service.h"

namespace sy::server {

// Expert parallelism (--expert-parallel N): the per-rank KV share and live EPLB.
struct ExpertParallelMetrics {
  int num_ranks = 1;
  int64_t kv_blocks_per_rank = 0;
  EplbStatus eplb;
};

// ep: null when one process serves every expert.
std::string render_metrics(const EngineMetrics& m, const RoutingStatsSnapshot& routing,
                           const ServiceCounters& calls, const ExpertParallelMetrics* ep = nullptr);

}  // namespace sy::server
