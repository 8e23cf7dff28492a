// POST /v1/chat/completions and POST /v1/completions (HTTP -> OpenAI translation -> Upstream).
// Non-streaming: every prompt's generation runs at once on the server; the answer is one JSON
// body. Streaming: the first upstream item is awaited before the headers go out, so a request the
// server rejects still gets its HTTP status (400, 429, ...); then each event becomes one SSE
// chunk. A failed write (client gone) cancels the upstream call, which frees its KV blocks.
#pragma once

#include <chrono>
#include <string>

#include <httplib.h>

#include "server/gateway/gateway_metrics.h"
#include "server/gateway/gateway_options.h"
#include "server/gateway/model_catalog.h"
#include "server/gateway/openai_request.h"
#include "server/gateway/upstream.h"

namespace sy::gateway {

class CompletionRoute {
 public:
  CompletionRoute(Upstream& upstream, ModelCatalog& catalog, GatewayMetrics& metrics,
                  const GatewayOptions& options, std::string system_fingerprint);

  void handle(Endpoint endpoint, const httplib::Request& req, httplib::Response& res);

 private:
  void respond_whole(GenerationRequest request, httplib::Response& res);
  void respond_stream(GenerationRequest request, httplib::Response& res);

  Upstream& upstream_;
  ModelCatalog& catalog_;
  GatewayMetrics& metrics_;
  std::chrono::milliseconds keepalive_;
  std::string system_fingerprint_;
};

}  // namespace sy::gateway
