// API-key check for the gateway (HTTP request -> here -> routes). When a key is configured
// (--api-key or SWITCHYARD_API_KEY) every route but /health needs `Authorization: Bearer <key>`.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sy::gateway {

// The token of an "Authorization: Bearer <token>" header value (scheme case-insensitive).
std::optional<std::string_view> bearer_token(std::string_view authorization_header);

// Compares in time that depends only on the lengths, not on where the first difference is, so
// a client cannot find the key byte by byte from response times.
bool constant_time_equals(std::string_view a, std::string_view b);

class ApiKeyCheck {
 public:
  explicit ApiKeyCheck(std::string api_key) : api_key_(std::move(api_key)) {}
  bool enabled() const { return !api_key_.empty(); }
  // True when no key is configured or the header carries the key.
  bool allows(std::string_view authorization_header) const;

 private:
  std::string api_key_;
};

}  // namespace sy::gateway
