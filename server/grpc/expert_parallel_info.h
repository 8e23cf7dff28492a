// GetModelInfo / GetRoutingStats fields for expert parallelism: the expert -> rank map, weight
// bytes per rank, and the load each rank carried. Position: InferenceService -> [these] ->
// ExpertParallelExecutor (rank 0's view of every rank).
#pragma once

#include <cstdint>

#include "server/grpc/served_model.h"
#include "switchyard/v1/inference.pb.h"

namespace sy::server {

// total_weight_bytes: the whole checkpoint's weight bytes (every expert once).
void fill_expert_parallel_info(const ServedModel& model, uint64_t total_weight_bytes,
                               switchyard::v1::ExpertParallelInfo* out);
// Adds per-rank load; reads the per-expert totals already in `stats->layers()`.
void fill_rank_loads(const ServedModel& model, switchyard::v1::RoutingStats* stats);

}  // namespace sy::server
