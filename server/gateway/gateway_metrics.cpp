// Gateway Prometheus metrics.
#include "server/gateway/gateway_metrics.h"

#include <sstream>

namespace sy::gateway {
namespace {

std::string route_label(const std::string& path) {
  for (const char* route : {"/v1/chat/completions", "/v1/completions", "/v1/models", "/health",
                            "/metrics"}) {
    if (path == route) return path;
  }
  return "other";
}

}  // namespace

void GatewayMetrics::count_request(const std::string& path, int http_status, double seconds) {
  std::string route = route_label(path);
  std::lock_guard lock(mutex_);
  ++requests_[{route, http_status}];
  auto& [sum, count] = durations_[route];
  sum += seconds;
  ++count;
}

std::string GatewayMetrics::render() const {
  std::ostringstream out;
  std::lock_guard lock(mutex_);
  out << "# HELP switchyard_gateway_requests_total HTTP requests by route and status.\n"
      << "# TYPE switchyard_gateway_requests_total counter\n";
  for (const auto& [key, count] : requests_) {
    out << "switchyard_gateway_requests_total{route=\"" << key.first << "\",status=\""
        << key.second << "\"} " << count << "\n";
  }
  out << "# HELP switchyard_gateway_request_duration_seconds Time to the last byte (streams "
         "included).\n"
      << "# TYPE switchyard_gateway_request_duration_seconds summary\n";
  for (const auto& [route, stats] : durations_) {
    out << "switchyard_gateway_request_duration_seconds_sum{route=\"" << route << "\"} "
        << stats.first << "\n"
        << "switchyard_gateway_request_duration_seconds_count{route=\"" << route << "\"} "
        << stats.second << "\n";
  }
  out << "# HELP switchyard_gateway_open_streams SSE responses being streamed now.\n"
      << "# TYPE switchyard_gateway_open_streams gauge\n"
      << "switchyard_gateway_open_streams " << open_streams_.load() << "\n"
      << "# HELP switchyard_gateway_client_disconnects_total Streams cancelled upstream because "
         "the client went away.\n"
      << "# TYPE switchyard_gateway_client_disconnects_total counter\n"
      << "switchyard_gateway_client_disconnects_total " << disconnects_.load() << "\n";
  return out.str();
}

}  // namespace sy::gateway
