// Bounded JSON parsing for HTTP bodies.
#include "server/gateway/json_body.h"

#include <string>

namespace sy::gateway {

int json_nesting_depth(std::string_view text, int limit) {
  int depth = 0;
  int deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (++depth > deepest) {
          deepest = depth;
          if (deepest > limit) return deepest;
        }
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default:
        break;
    }
  }
  return deepest;
}

std::variant<nlohmann::json, ApiError> parse_json_object(std::string_view body, int max_depth) {
  if (body.empty()) {
    return invalid_request("Request body is empty; expected a JSON object.");
  }
  if (json_nesting_depth(body, max_depth) > max_depth) {
    return invalid_request("Request body nests arrays/objects deeper than " +
                           std::to_string(max_depth) + " levels.");
  }
  nlohmann::json parsed;
  try {
    parsed = nlohmann::json::parse(body);
  } catch (const nlohmann::json::parse_error& e) {
    // e.what() names the byte offset and what was expected there.
    return invalid_request("Request body is not valid JSON: " + std::string(e.what()));
  }
  if (!parsed.is_object()) {
    return invalid_request("Request body must be a JSON object, got " +
                           std::string(parsed.type_name()) + ".");
  }
  return parsed;
}

}  // namespace sy::gateway
