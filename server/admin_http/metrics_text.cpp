#include "server/admin_http/metrics_text.h"

#include <cstdio>

#include <grpcpp/support/status_code_enum.h>

namespace sy::server {
namespace {

const char* status_code_name(int code) {
  static const char* names[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
                                "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
                                "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
                                "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
  return code >= 0 && code < 17 ? names[code] : "UNKNOWN";
}

class Writer {
 public:
  void header(const char* name, const char* type, const char* help) {
    out_ += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  void sample(const std::string& name, const std::string& labels, double value) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", value);
    out_ += name + (labels.empty() ? "" : "{" + labels + "}") + " " + buf + "\n";
  }
  void scalar(const char* name, const char* type, const char* help, double value) {
    header(name, type, help);
    sample(name, "", value);
  }
  void histogram(const char* name, const char* help, const Histogram& h) {
    header(name, "histogram", help);
    uint64_t cumulative = 0;
    const auto& bounds = h.upper_bounds();
    for (size_t i = 0; i < bounds.size(); ++i) {
      cumulative += h.bucket_counts()[i];
      char le[32];
      std::snprintf(le, sizeof le, "%g", bounds[i]);
      sample(std::string(name) + "_bucket", std::string("le=\"") + le + "\"", static_cast<double>(cumulative));
    }
    sample(std::string(name) + "_bucket", "le=\"+Inf\"", static_cast<double>(h.count()));
    sample(std::string(name) + "_sum", "", h.sum());
    sample(std::string(name) + "_count", "", static_cast<double>(h.count()));
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace

std::string render_metrics(const EngineMetrics& m, const RoutingStatsSnapshot& routing,
                           const ServiceCounters& calls, const ExpertParallelMetrics* ep) {
  Writer w;
  w.header("switchyard_requests_finished_total", "counter", "Finished generation requests by finish reason.");
  for (int r = 1; r < 6; ++r)
    w.sample("switchyard_requests_finished_total",
             std::string("reason=\"") + finish_reason_name(static_cast<FinishReason>(r)) + "\"",
             static_cast<double>(m.requests_finished[static_cast<size_t>(r)]));
  w.header("switchyard_grpc_calls_total", "counter", "gRPC calls answered, by status code.");
  for (int c = 0; c < 17; ++c) {
    const uint64_t n = calls.calls_by_code[static_cast<size_t>(c)].load();
    if (n || c == 0 || c == 3 || c == 8)
      w.sample("switchyard_grpc_calls_total", std::string("code=\"") + status_code_name(c) + "\"", static_cast<double>(n));
  }
  w.scalar("switchyard_prompt_tokens_total", "counter", "Prompt tokens of submitted requests.", static_cast<double>(m.prompt_tokens));
  w.scalar("switchyard_generation_tokens_total", "counter", "Generated (sampled) tokens.", static_cast<double>(m.generation_tokens));
  w.histogram("switchyard_time_to_first_token_seconds", "Time from submission to the first token.", m.ttft_seconds);
  w.histogram("switchyard_inter_token_latency_seconds", "Time between consecutive messages of a request.", m.inter_token_seconds);
  w.histogram("switchyard_request_duration_seconds", "Time from submission to the last message.", m.request_seconds);
  w.scalar("switchyard_requests_queued", "gauge", "Requests waiting for their first admission.", static_cast<double>(m.requests_queued));
  w.scalar("switchyard_requests_active", "gauge", "Requests submitted and not finished.", static_cast<double>(m.requests_active));
  w.scalar("switchyard_sequences_running", "gauge", "Sequences holding KV blocks.", static_cast<double>(m.seqs_running));
  w.scalar("switchyard_sequences_waiting", "gauge", "Sequences in the waiting queue.", static_cast<double>(m.seqs_waiting));
  w.scalar("switchyard_kv_blocks_total", "gauge", "KV-cache blocks.", static_cast<double>(m.kv_blocks_total));
  w.scalar("switchyard_kv_blocks_used", "gauge", "KV-cache blocks referenced by a sequence.", static_cast<double>(m.kv_blocks_used));
  w.scalar("switchyard_kv_blocks_cached", "gauge", "KV-cache blocks holding a prefix-cache entry.", static_cast<double>(m.kv_blocks_cached));
  w.scalar("switchyard_prefix_cache_queried_tokens_total", "counter", "Tokens looked up in the prefix cache at admission.",
           static_cast<double>(m.prefix_cache_queried_tokens));
  w.scalar("switchyard_prefix_cache_hit_tokens_total", "counter", "Tokens found in the prefix cache.",
           static_cast<double>(m.prefix_cache_hit_tokens));
  w.scalar("switchyard_prefix_cache_hit_rate", "gauge", "Hit tokens / queried tokens since start.",
           m.prefix_cache_queried_tokens ? static_cast<double>(m.prefix_cache_hit_tokens) / static_cast<double>(m.prefix_cache_queried_tokens) : 0.0);
  w.scalar("switchyard_preemptions_total", "counter", "Sequences preempted (recomputed later) for KV space.", static_cast<double>(m.preemptions));
  w.scalar("switchyard_engine_steps_total", "counter", "Engine steps run.", static_cast<double>(m.steps));

  w.header("switchyard_expert_routed_tokens_total", "counter", "Tokens routed to each expert, per MoE layer.");
  for (const LayerRoutingStats& l : routing.layers)
    for (size_t e = 0; e < l.total_counts.size(); ++e)
      w.sample("switchyard_expert_routed_tokens_total",
               "layer=\"" + std::to_string(l.layer) + "\",expert=\"" + std::to_string(e) + "\"",
               static_cast<double>(l.total_counts[e]));
  struct Stat {
    const char* name;
    const char* help;
    double (*get)(const RoutingImbalance&);
  };
  const Stat stats[] = {
      {"switchyard_routing_max_over_mean", "Busiest expert's tokens over the mean, per layer (1 = balanced).",
       [](const RoutingImbalance& r) { return r.max_over_mean; }},
      {"switchyard_routing_coefficient_of_variation", "Stddev / mean of per-expert tokens, per layer.",
       [](const RoutingImbalance& r) { return r.cv; }},
      {"switchyard_routing_dead_experts", "Experts that received no token, per layer.",
       [](const RoutingImbalance& r) { return static_cast<double>(r.dead_experts); }},
  };
  for (const Stat& s : stats) {
    w.header(s.name, "gauge", s.help);
    for (const LayerRoutingStats& l : routing.layers) {
      const std::string layer = "layer=\"" + std::to_string(l.layer) + "\"";
      w.sample(s.name, layer + ",span=\"total\"", s.get(l.total));
      w.sample(s.name, layer + ",span=\"window\"", s.get(l.window));
    }
  }
  if (ep) {
    w.scalar("switchyard_expert_parallel_ranks", "gauge", "Ranks sharing the experts (--expert-parallel).",
             static_cast<double>(ep->num_ranks));
    w.scalar("switchyard_kv_blocks_per_rank", "gauge",
             "KV-cache blocks each rank holds (its partition; switchyard_kv_blocks_total counts every rank's).",
             static_cast<double>(ep->kv_blocks_per_rank));
    w.scalar("switchyard_eplb_rebalances_total", "counter", "Live EPLB rebalances of the expert placement.",
             static_cast<double>(ep->eplb.rebalances));
    w.scalar("switchyard_eplb_window_routed_rows", "gauge",
             "Routed (token, expert) rows in the window the current placement was computed from.",
             static_cast<double>(ep->eplb.window_routed_rows));
    w.scalar("switchyard_eplb_imbalance_after", "gauge",
             "Worst layer's max/mean rank load over that window under the current placement (1 = balanced).",
             ep->eplb.imbalance_after);
  }
  return w.take();
}

}  // namespace sy::server
