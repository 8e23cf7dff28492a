// OpenAI-shaped errors for the HTTP gateway (request -> gateway -> gRPC server).
// Every failure the gateway returns, whether found while parsing the HTTP request or reported by
// the upstream server as a gRPC status, becomes one ApiError and is written as
//   {"error": {"message": ..., "type": ..., "param": ..., "code": ...}}
// with the HTTP status the official OpenAI SDKs map to their exception classes.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace sy::gateway {

struct ApiError {
  int http_status = 500;
  std::string message;
  std::string type;                  // "invalid_request_error", "authentication_error", ...
  std::optional<std::string> param;  // request field at fault, JSON null when unknown
  std::optional<std::string> code;   // machine-readable reason, e.g. "context_length_exceeded"
  int retry_after_seconds = 0;       // > 0: sent as Retry-After (429, 503)

  nlohmann::json to_json() const;
};

// 400: the request is wrong; `param` names the field ("messages[1].content", "temperature").
ApiError invalid_request(std::string message, std::optional<std::string> param = std::nullopt,
                         std::optional<std::string> code = std::nullopt);
// 401: API key missing or wrong.
ApiError unauthorized(std::string message);
// 404: unknown model or route.
ApiError model_not_found(const std::string& model);
ApiError route_not_found(const std::string& method, const std::string& path);
// 413: body larger than --max-body-bytes.
ApiError body_too_large(size_t limit_bytes);
// 500: a bug or an unexpected upstream answer; never for a client mistake.
ApiError internal_error(std::string message);

}  // namespace sy::gateway
