// switchyard-gateway flag parsing.
#include "server/gateway/gateway_options.h"

#include <charconv>
#include <cmath>
#include <functional>
#include <map>

namespace sy::gateway {
namespace {

bool parse_number(const std::string& text, double& out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && ptr == end && std::isfinite(out);
}

bool parse_integer(const std::string& text, long long& out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && ptr == end;
}

// "HOST:PORT" with the port last, so "[::1]:8000" and "0.0.0.0:8000" both work.
bool parse_host_port(const std::string& text, std::string& host, int& port) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  long long value = 0;
  if (!parse_integer(text.substr(colon + 1), value) || value < 0 || value > 65535) return false;
  host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  port = static_cast<int>(value);
  return true;
}

}  // namespace

std::string gateway_usage() {
  return R"(switchyard-gateway: OpenAI-compatible HTTP API in front of switchyard-server (gRPC).

Routes: POST /v1/chat/completions, POST /v1/completions, GET /v1/models, GET /health.
Stateless: every request becomes one gRPC call per prompt; tokenization and chat templates
happen in the server.

Usage: switchyard-gateway [flags]
  --listen HOST:PORT          HTTP address to serve on (default 0.0.0.0:8000)
  --upstream HOST:PORT        switchyard-server gRPC address (default localhost:50051)
  --admin-listen HOST:PORT    serve Prometheus metrics on GET /metrics at this address, apart
                              from the API port so scrapers need no API key (default: off)
  --api-key KEY               require "Authorization: Bearer KEY" on every route but /health
                              (default: $SWITCHYARD_API_KEY; unset or empty: no auth)
  --max-body-bytes N          largest request body; larger gets 413 (default 8388608)
  --request-timeout SECONDS   deadline of each upstream generation; past it the request gets
                              504 (default 600)
  --read-timeout SECONDS      time allowed to receive a request (default 30)
  --write-timeout SECONDS     time allowed for one write to a slow client (default 30)
  --keepalive-interval SECONDS
                              during a stream, send an SSE comment after this much silence
                              from the server; also how fast a vanished client is noticed
                              while its request waits (default 2)
  --http-threads N            HTTP worker threads; each open stream holds one (default 128)
  --log-level LEVEL           trace, debug, info, warn, error (default info)
  --probe                     do not serve: ask --upstream's grpc.health.v1 once and exit 0
                              when it is SERVING, 1 otherwise (container healthchecks)
  -h, --help                  print this help

/health answers 200 when the server reports SERVING on grpc.health.v1, else 503.
)";
}

std::variant<GatewayOptions, std::string> parse_gateway_options(
    const std::vector<std::string>& args, const char* env_api_key) {
  GatewayOptions options;
  if (env_api_key) options.api_key = env_api_key;

  auto seconds = [](double& field) {
    return [&field](const std::string& value) { return parse_number(value, field) && field > 0; };
  };
  using Setter = std::function<bool(const std::string&)>;
  const std::map<std::string, Setter> setters = {
      {"--listen",
       [&](const std::string& v) {
         return parse_host_port(v, options.listen_host, options.listen_port);
       }},
      {"--upstream",
       [&](const std::string& v) {
         std::string host;
         int port = 0;
         options.upstream = v;
         return parse_host_port(v, host, port) && port > 0;
       }},
      {"--admin-listen",
       [&](const std::string& v) {
         return parse_host_port(v, options.admin_host, options.admin_port);
       }},
      {"--api-key",
       [&](const std::string& v) {
         options.api_key = v;
         return true;
       }},
      {"--max-body-bytes",
       [&](const std::string& v) {
         long long n = 0;
         if (!parse_integer(v, n) || n < 1) return false;
         options.max_body_bytes = static_cast<size_t>(n);
         return true;
       }},
      {"--request-timeout", seconds(options.request_timeout_s)},
      {"--read-timeout", seconds(options.read_timeout_s)},
      {"--write-timeout", seconds(options.write_timeout_s)},
      {"--keepalive-interval", seconds(options.keepalive_interval_s)},
      {"--http-threads",
       [&](const std::string& v) {
         long long n = 0;
         if (!parse_integer(v, n) || n < 1 || n > 4096) return false;
         options.http_threads = static_cast<int>(n);
         return true;
       }},
      {"--log-level",
       [&](const std::string& v) {
         options.log_level = v;
         return v == "trace" || v == "debug" || v == "info" || v == "warn" || v == "error";
       }},
  };

  for (size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    if (flag == "-h" || flag == "--help") {
      options.show_help = true;
      continue;
    }
    if (flag == "--probe") {
      options.probe = true;
      continue;
    }
    std::string value;
    bool has_inline_value = false;
    if (size_t eq = flag.find('='); flag.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
      has_inline_value = true;
    }
    auto setter = setters.find(flag);
    if (setter == setters.end()) return "unknown flag " + flag + " (see --help)";
    if (!has_inline_value) {
      if (i + 1 >= args.size()) return flag + " needs a value (see --help)";
      value = args[++i];
    }
    if (!setter->second(value)) return "invalid value '" + value + "' for " + flag;
  }
  return options;
}

}  // namespace sy::gateway
