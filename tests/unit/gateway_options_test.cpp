// switchyard-gateway flags and its Prometheus text.
#include <gtest/gtest.h>

#include "server/gateway/gateway_metrics.h"
#include "server/gateway/gateway_options.h"

namespace sy::gateway {
namespace {

GatewayOptions parse_ok(const std::vector<std::string>& args, const char* env_key = nullptr) {
  auto result = parse_gateway_options(args, env_key);
  if (auto* message = std::get_if<std::string>(&result)) {
    ADD_FAILURE() << *message;
    return {};
  }
  return std::get<GatewayOptions>(result);
}

std::string parse_error(const std::vector<std::string>& args) {
  auto result = parse_gateway_options(args, nullptr);
  EXPECT_TRUE(std::holds_alternative<std::string>(result));
  return std::holds_alternative<std::string>(result) ? std::get<std::string>(result) : "";
}

TEST(GatewayOptions, Defaults) {
  GatewayOptions o = parse_ok({});
  EXPECT_EQ(o.listen_host, "0.0.0.0");
  EXPECT_EQ(o.listen_port, 8000);
  EXPECT_EQ(o.upstream, "localhost:50051");
  EXPECT_TRUE(o.api_key.empty());
  EXPECT_TRUE(o.admin_host.empty());
}

TEST(GatewayOptions, EveryFlagInBothSpellings) {
  GatewayOptions o = parse_ok({"--listen", "127.0.0.1:9000", "--upstream=srv:6000", "--api-key",
                               "k", "--max-body-bytes", "1024", "--request-timeout", "0.5",
                               "--read-timeout=3", "--write-timeout", "4",
                               "--keepalive-interval", "0.25", "--http-threads", "8",
                               "--log-level", "debug", "--admin-listen", "[::1]:9100"});
  EXPECT_EQ(o.listen_host, "127.0.0.1");
  EXPECT_EQ(o.listen_port, 9000);
  EXPECT_EQ(o.upstream, "srv:6000");
  EXPECT_EQ(o.api_key, "k");
  EXPECT_EQ(o.max_body_bytes, 1024u);
  EXPECT_EQ(o.request_timeout_s, 0.5);
  EXPECT_EQ(o.read_timeout_s, 3.0);
  EXPECT_EQ(o.write_timeout_s, 4.0);
  EXPECT_EQ(o.keepalive_interval_s, 0.25);
  EXPECT_EQ(o.http_threads, 8);
  EXPECT_EQ(o.log_level, "debug");
  EXPECT_EQ(o.admin_host, "::1");
  EXPECT_EQ(o.admin_port, 9100);
}

TEST(GatewayOptions, ApiKeyFromEnvironmentUnlessTheFlagIsGiven) {
  EXPECT_EQ(parse_ok({}, "env-key").api_key, "env-key");
  EXPECT_EQ(parse_ok({"--api-key", "flag-key"}, "env-key").api_key, "flag-key");
}

TEST(GatewayOptions, BadFlagsAreNamed) {
  EXPECT_NE(parse_error({"--bogus"}).find("--bogus"), std::string::npos);
  EXPECT_NE(parse_error({"--listen"}).find("needs a value"), std::string::npos);
  EXPECT_NE(parse_error({"--listen", "8000"}).find("--listen"), std::string::npos);
  EXPECT_NE(parse_error({"--listen", "h:70000"}).find("--listen"), std::string::npos);
  EXPECT_NE(parse_error({"--upstream", "h:0"}).find("--upstream"), std::string::npos);
  EXPECT_NE(parse_error({"--max-body-bytes", "0"}).find("--max-body-bytes"), std::string::npos);
  EXPECT_NE(parse_error({"--request-timeout", "-1"}).find("--request-timeout"),
            std::string::npos);
  EXPECT_NE(parse_error({"--log-level", "loud"}).find("--log-level"), std::string::npos);
}

TEST(GatewayOptions, HelpDocumentsEveryFlag) {
  EXPECT_TRUE(parse_ok({"--help"}).show_help);
  EXPECT_TRUE(parse_ok({"--probe", "--upstream", "h:1"}).probe);
  std::string usage = gateway_usage();
  for (const char* flag :
       {"--listen", "--upstream", "--api-key", "SWITCHYARD_API_KEY", "--max-body-bytes",
        "--request-timeout", "--read-timeout", "--write-timeout", "--keepalive-interval",
        "--http-threads", "--log-level", "--admin-listen", "--probe"}) {
    EXPECT_NE(usage.find(flag), std::string::npos) << flag;
  }
}

TEST(GatewayMetrics, RendersCountersWithBoundedRouteLabels) {
  GatewayMetrics metrics;
  metrics.count_request("/v1/completions", 200, 0.5);
  metrics.count_request("/v1/completions", 200, 0.25);
  metrics.count_request("/random/path", 404, 0.001);
  metrics.stream_opened();
  metrics.stream_opened();
  metrics.stream_closed();
  metrics.client_disconnected();
  std::string text = metrics.render();
  EXPECT_NE(text.find("switchyard_gateway_requests_total{route=\"/v1/completions\",status=\"200\"} 2"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("switchyard_gateway_requests_total{route=\"other\",status=\"404\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("switchyard_gateway_request_duration_seconds_sum{route=\"/v1/completions\"} "
                      "0.75"),
            std::string::npos);
  EXPECT_NE(text.find("switchyard_gateway_open_streams 1\n"), std::string::npos);
  EXPECT_NE(text.find("switchyard_gateway_client_disconnects_total 1\n"), std::string::npos);
}

}  // namespace
}  // namespace sy::gateway
