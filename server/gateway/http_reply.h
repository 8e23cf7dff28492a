// Writing JSON bodies and OpenAI errors into cpp-httplib responses (gateway handlers -> client).
#pragma once

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "server/gateway/api_error.h"

namespace sy::gateway {

// Compact JSON; invalid UTF-8 in strings is replaced rather than throwing.
void write_json(httplib::Response& res, int status, const nlohmann::json& body);
// Status, OpenAI error body, Retry-After (429/503) and WWW-Authenticate (401).
void write_error(httplib::Response& res, const ApiError& error);

}  // namespace sy::gateway
