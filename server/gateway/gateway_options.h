// switchyard-gateway command-line flags (process start -> here -> GatewayServer).
#pragma once

#include <cstddef>
#include <string>
#include <variant>
#include <vector>

namespace sy::gateway {

struct GatewayOptions {
  std::string listen_host = "0.0.0.0";
  int listen_port = 8000;
  std::string upstream = "localhost:50051";  // switchyard-server gRPC address
  std::string admin_host;                    // GET /metrics; empty: no admin server
  int admin_port = 0;
  std::string api_key;                       // empty: no authentication
  size_t max_body_bytes = 8 << 20;
  double request_timeout_s = 600.0;  // upstream deadline per generation -> 504
  double read_timeout_s = 30.0;      // receiving one HTTP request
  double write_timeout_s = 30.0;     // one write to a slow client
  double keepalive_interval_s = 2.0;  // SSE comment after this much upstream silence
  int http_threads = 128;             // each open stream holds one
  std::string log_level = "info";
  bool show_help = false;
  bool probe = false;  // check the upstream's gRPC health once and exit (container healthcheck)
};

// Help text printed by --help; documents every flag.
std::string gateway_usage();

// Parses argv (without argv[0]). `env_api_key` is $SWITCHYARD_API_KEY (nullptr when unset);
// --api-key overrides it. Returns the options or a message naming the bad flag.
std::variant<GatewayOptions, std::string> parse_gateway_options(
    const std::vector<std::string>& args, const char* env_api_key);

}  // namespace sy::gateway
