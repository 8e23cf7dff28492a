// Prometheus text exposition of the engine's metrics, the gRPC status counts and the routing
// statistics. Pure function: the admin HTTP server serves its result at /metrics.
#pragma once

#include <string>

#include "engine/serving/engine_metrics.h"
#include "engine/serving/routing_stats.h"
#include "server/grpc/inference_service.h"

namespace sy::server {

std::string render_metrics(const EngineMetrics& m, const RoutingStatsSnapshot& routing,
                           const ServiceCounters& calls);

}  // namespace sy::server
