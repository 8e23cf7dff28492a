// EngineMetrics: counters and gauges of the serving engine, copied out for /metrics and
// GetModelInfo. Updated on the engine thread, read from any thread through Engine::metrics().
#pragma once

#include <array>
#include <cstdint>

#include "engine/serving/histogram.h"
#include "engine/serving/request.h"

namespace sy {

struct EngineMetrics {
  // Finished requests by reason (indexed by FinishReason).
  std::array<uint64_t, 6> requests_finished{};
  uint64_t prompt_tokens = 0;      // of finished and running requests, at submission
  uint64_t generation_tokens = 0;  // sampled tokens
  uint64_t steps = 0;
  uint64_t preemptions = 0;
  uint64_t prefix_cache_queried_tokens = 0;
  uint64_t prefix_cache_hit_tokens = 0;
  Histogram ttft_seconds{Histogram::latency_buckets()};
  Histogram inter_token_seconds{Histogram::latency_buckets()};
  Histogram request_seconds{Histogram::latency_buckets()};

  // Gauges at the end of the last step.
  int64_t requests_queued = 0;   // submitted, none of their sequences admitted yet
  int64_t requests_active = 0;   // submitted and not finished
  int64_t seqs_waiting = 0;
  int64_t seqs_running = 0;
  int64_t kv_blocks_total = 0;
  int64_t kv_blocks_used = 0;    // referenced by a sequence
  int64_t kv_blocks_cached = 0;  // holding a prefix-cache entry (used or free)
  int32_t block_size = 0;
};

}  // namespace sy
