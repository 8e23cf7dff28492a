// Upstream over the public gRPC API switchyard.v1.Inference (gateway -> here -> server).
#pragma once

#include <memory>

#include "server/gateway/gateway_options.h"
#include "server/gateway/upstream.h"

namespace sy::gateway {

// One channel to options.upstream, shared by all requests (HTTP/2 multiplexes the streams).
std::unique_ptr<Upstream> make_grpc_upstream(const GatewayOptions& options);

}  // namespace sy::gateway
