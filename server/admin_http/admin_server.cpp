#include "server/admin_http/admin_server.h"

#include <stdexcept>

#include <httplib.h>

namespace sy::server {

AdminServer::AdminServer(std::function<std::string()> metrics, std::function<bool()> ready)
    : http_(std::make_unique<httplib::Server>()) {
  http_->Get("/metrics", [metrics](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics(), "text/plain; version=0.0.4; charset=utf-8");
  });
  http_->Get("/health", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok\n", "text/plain"); });
  http_->Get("/ready", [ready](const httplib::Request&, httplib::Response& res) {
    const bool ok = ready();
    res.status = ok ? 200 : 503;
    res.set_content(ok ? "ready\n" : "not ready\n", "text/plain");
  });
}

AdminServer::~AdminServer() { stop(); }

int AdminServer::start(const std::string& host, int port) {
  const int bound = port == 0 ? http_->bind_to_any_port(host) : (http_->bind_to_port(host, port) ? port : -1);
  if (bound < 0) throw std::runtime_error("admin HTTP: cannot listen on " + host + ":" + std::to_string(port));
  thread_ = std::thread([this] { http_->listen_after_bind(); });
  return bound;
}

void AdminServer::stop() {
  if (thread_.joinable()) {
    http_->stop();
    thread_.join();
  }
}

}  // namespace sy::server
