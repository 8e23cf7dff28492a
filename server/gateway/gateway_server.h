// The gateway's HTTP server (client -> here -> routes -> Upstream). Owns the cpp-httplib server,
// the API-key check that runs before routing, OpenAI-shaped bodies for every error httplib
// produces itself (unknown route, body too large), and one log line per request.
#pragma once

#include <memory>
#include <string>

#include <httplib.h>

#include "server/gateway/auth.h"
#include "server/gateway/completion_route.h"
#include "server/gateway/gateway_metrics.h"
#include "server/gateway/gateway_options.h"
#include "server/gateway/model_catalog.h"
#include "server/gateway/upstream.h"

namespace sy::gateway {

class GatewayServer {
 public:
  GatewayServer(GatewayOptions options, Upstream& upstream);

  // Binds and serves (and the admin /metrics server when configured) until stop(); false when
  // an address cannot be bound.
  bool listen();
  void stop();

 private:
  void install_routes();
  void models(httplib::Response& res);
  void health(httplib::Response& res);

  GatewayOptions options_;
  Upstream& upstream_;
  ApiKeyCheck api_key_;
  GatewayMetrics metrics_;
  ModelCatalog catalog_;
  CompletionRoute completions_;
  httplib::Server http_;
  httplib::Server admin_;  // GET /metrics only
};

}  // namespace sy::gateway
