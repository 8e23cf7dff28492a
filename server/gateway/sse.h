// Server-sent-event framing for streamed OpenAI responses (chunks -> here -> HTTP body).
// Each chunk is one `data: <json>\n\n` frame; the stream ends with `data: [DONE]\n\n`. Comment
// frames (`: …`) keep idle connections alive and reveal disconnected clients while a request
// waits in the server's queue; SSE clients, the OpenAI SDKs included, skip them.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace sy::gateway {

// Compact JSON, invalid UTF-8 replaced by U+FFFD: a frame is always valid UTF-8 on one line.
std::string sse_data_frame(const nlohmann::json& payload);
std::string sse_done_frame();
std::string sse_comment_frame(const std::string& text);

}  // namespace sy::gateway
