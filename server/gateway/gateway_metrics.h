// Prometheus counters of the gateway itself (HTTP handlers -> here -> GET /metrics).
// The server exports the engine's metrics; these cover what only the gateway sees: requests by
// route and HTTP status, open SSE streams, client disconnects that cancelled a generation.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace sy::gateway {

class GatewayMetrics {
 public:
  // `route` is one of the served paths, or "other" for anything else (bounded label values).
  void count_request(const std::string& path, int http_status, double seconds);
  void stream_opened() { open_streams_.fetch_add(1); }
  void stream_closed() { open_streams_.fetch_sub(1); }
  void client_disconnected() { disconnects_.fetch_add(1); }

  // Prometheus text exposition format 0.0.4.
  std::string render() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;  // (route, status) -> count
  std::map<std::string, std::pair<double, uint64_t>> durations_;  // route -> (sum s, count)
  std::atomic<int64_t> open_streams_{0};
  std::atomic<uint64_t> disconnects_{0};
};

}  // namespace sy::gateway
