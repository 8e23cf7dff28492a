// Request bodies -> JSON for the gateway (HTTP request -> here -> OpenAI translation).
// Untrusted input: the nesting depth is bounded before parsing (a body of 100k '[' must be a
// 400, not a stack overflow in a recursive walk later), and parse errors become ApiErrors.
#pragma once

#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "server/gateway/api_error.h"

namespace sy::gateway {

// Deepest nesting an OpenAI request needs is ~6 (tools -> function -> parameters -> JSON schema);
// 64 leaves room for real JSON schemas while bounding recursion.
inline constexpr int kMaxJsonDepth = 64;

// Largest depth of arrays/objects in `text`, ignoring brackets inside strings. Stops counting
// (and returns a value > limit) as soon as `limit` is exceeded.
int json_nesting_depth(std::string_view text, int limit);

// Parses an HTTP body that must be a JSON object.
std::variant<nlohmann::json, ApiError> parse_json_object(std::string_view body,
                                                         int max_depth = kMaxJsonDepth);

}  // namespace sy::gateway
