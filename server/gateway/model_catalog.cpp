// Cached model list.
#include "server/gateway/model_catalog.h"

#include <algorithm>

namespace sy::gateway {

std::variant<std::vector<ModelCard>, ApiError> ModelCatalog::refresh_locked() {
  auto listed = upstream_.list_models();
  if (auto* models = std::get_if<std::vector<ModelCard>>(&listed)) {
    models_ = *models;
    fetched_at_ = std::chrono::steady_clock::now();
  }
  return listed;
}

std::variant<std::vector<ModelCard>, ApiError> ModelCatalog::list() {
  std::lock_guard lock(mutex_);
  if (!fetched_at_ || std::chrono::steady_clock::now() - *fetched_at_ > refresh_interval_) {
    return refresh_locked();
  }
  return models_;
}

std::optional<ApiError> ModelCatalog::check(const std::string& model) {
  std::lock_guard lock(mutex_);
  auto served = [&] {
    return std::any_of(models_.begin(), models_.end(),
                       [&](const ModelCard& card) { return card.id == model; });
  };
  if (fetched_at_ && served()) return std::nullopt;
  if (!fetched_at_ || std::chrono::steady_clock::now() - *fetched_at_ > refresh_interval_) {
    auto listed = refresh_locked();
    if (auto* error = std::get_if<ApiError>(&listed)) return *error;
    if (served()) return std::nullopt;
  }
  return model_not_found(model);
}

}  // namespace sy::gateway
