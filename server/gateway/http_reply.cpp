// JSON and error responses.
#include "server/gateway/http_reply.h"

namespace sy::gateway {

void write_json(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                  "application/json");
}

void write_error(httplib::Response& res, const ApiError& error) {
  if (error.retry_after_seconds > 0) {
    res.set_header("Retry-After", std::to_string(error.retry_after_seconds));
  }
  if (error.http_status == 401) res.set_header("WWW-Authenticate", "Bearer");
  write_json(res, error.http_status, error.to_json());
}

}  // namespace sy::gateway
