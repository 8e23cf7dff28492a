// OpenAI-shaped errors: constructors for the gateway's own failures and the JSON body.
#include "server/gateway/api_error.h"

namespace sy::gateway {

nlohmann::json ApiError::to_json() const {
  nlohmann::json error = {
      {"message", message},
      {"type", type},
      {"param", param ? nlohmann::json(*param) : nlohmann::json(nullptr)},
      {"code", code ? nlohmann::json(*code) : nlohmann::json(nullptr)},
  };
  return {{"error", std::move(error)}};
}

ApiError invalid_request(std::string message, std::optional<std::string> param,
                         std::optional<std::string> code) {
  return {400, std::move(message), "invalid_request_error", std::move(param), std::move(code), 0};
}

ApiError unauthorized(std::string message) {
  return {401, std::move(message), "authentication_error", std::nullopt, "invalid_api_key", 0};
}

ApiError model_not_found(const std::string& model) {
  return {404, "The model '" + model + "' does not exist; GET /v1/models lists the served ones.",
          "invalid_request_error", "model", "model_not_found", 0};
}

ApiError route_not_found(const std::string& method, const std::string& path) {
  return {404, "Unknown route: " + method + " " + path +
                   " (served: POST /v1/chat/completions, POST /v1/completions, GET /v1/models, "
                   "GET /health)",
          "invalid_request_error", std::nullopt, "unknown_url", 0};
}

ApiError body_too_large(size_t limit_bytes) {
  return {413, "Request body exceeds the gateway limit of " + std::to_string(limit_bytes) +
                   " bytes (--max-body-bytes).",
          "invalid_request_error", std::nullopt, "request_too_large", 0};
}

ApiError internal_error(std::string message) {
  return {500, std::move(message), "internal_error", std::nullopt, std::nullopt, 0};
}

}  // namespace sy::gateway
