// Which models the server serves, cached (HTTP handlers -> here -> Upstream::list_models).
// Lets the gateway answer an unknown model with 404 before starting a generation, and serves
// GET /v1/models. A miss refreshes the list, at most once per `refresh_interval`, so a model the
// server starts serving later is found without restarting the gateway.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "server/gateway/upstream.h"

namespace sy::gateway {

class ModelCatalog {
 public:
  explicit ModelCatalog(Upstream& upstream,
                        std::chrono::milliseconds refresh_interval = std::chrono::seconds(1))
      : upstream_(upstream), refresh_interval_(refresh_interval) {}

  // The served models, fetched now if the cache is empty or stale.
  std::variant<std::vector<ModelCard>, ApiError> list();
  // nullopt when `model` is served; else 404 (or the upstream error that prevented knowing).
  std::optional<ApiError> check(const std::string& model);

 private:
  std::variant<std::vector<ModelCard>, ApiError> refresh_locked();

  Upstream& upstream_;
  std::chrono::milliseconds refresh_interval_;
  std::mutex mutex_;
  std::vector<ModelCard> models_;
  std::optional<std::chrono::steady_clock::time_point> fetched_at_;
};

}  // namespace sy::gateway
