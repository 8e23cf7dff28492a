// Token text cache.
#include "server/gateway/token_texts.h"

namespace sy::gateway {

std::string TokenTexts::text(int32_t id) {
  {
    std::lock_guard lock(mutex_);
    if (auto it = texts_.find(id); it != texts_.end()) return it->second;
  }
  // Fetched outside the lock: a slow call must not stall other requests' cached lookups.
  std::optional<std::string> fetched = detokenize_(id);
  if (!fetched) {
    std::string placeholder = std::to_string(id);
    return placeholder.insert(0, 1, '<').append(1, '>');
  }
  std::lock_guard lock(mutex_);
  if (texts_.size() < kMaxEntries) texts_.emplace(id, *fetched);
  return *fetched;
}

}  // namespace sy::gateway
