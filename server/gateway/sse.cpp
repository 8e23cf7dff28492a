// SSE frames.
#include "server/gateway/sse.h"

namespace sy::gateway {

std::string sse_data_frame(const nlohmann::json& payload) {
  // dump() escapes control characters, so the JSON never contains a raw newline.
  return "data: " + payload.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
         "\n\n";
}

std::string sse_done_frame() { return "data: [DONE]\n\n"; }

std::string sse_comment_frame(const std::string& text) {
  std::string line;
  for (char c : text) line += (c == '\n' || c == '\r') ? ' ' : c;
  return ": " + line + "\n\n";
}

}  // namespace sy::gateway
