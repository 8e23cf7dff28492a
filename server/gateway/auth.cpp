// Bearer-token API-key check.
#include "server/gateway/auth.h"

#include <algorithm>
#include <cctype>

namespace sy::gateway {

std::optional<std::string_view> bearer_token(std::string_view header) {
  constexpr std::string_view kScheme = "bearer";
  if (header.size() <= kScheme.size()) return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) != kScheme[i]) return std::nullopt;
  }
  if (header[kScheme.size()] != ' ') return std::nullopt;
  std::string_view token = header.substr(kScheme.size() + 1);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty()) return std::nullopt;
  return token;
}

bool constant_time_equals(std::string_view a, std::string_view b) {
  // Walk the longer length every time; a length mismatch is folded into the result.
  size_t length = std::max(a.size(), b.size());
  volatile unsigned char difference = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < length; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    difference = difference | (x ^ y);
  }
  return difference == 0;
}

bool ApiKeyCheck::allows(std::string_view authorization_header) const {
  if (!enabled()) return true;
  std::optional<std::string_view> token = bearer_token(authorization_header);
  return token && constant_time_equals(*token, api_key_);
}

}  // namespace sy::gateway
