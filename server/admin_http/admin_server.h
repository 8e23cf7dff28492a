// Admin HTTP endpoint (cpp-httplib) beside the gRPC port: /metrics (Prometheus text),
// /health (200 while the process serves), /ready (200 once the model is warmed up and until
// draining starts, 503 otherwise). Runs its own thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace sy::server {

class AdminServer {
 public:
  AdminServer(std::function<std::string()> metrics, std::function<bool()> ready);
  ~AdminServer();
  // Binds host:port (port 0: a free one) and serves on a thread; returns the bound port.
  // Throws std::runtime_error naming the address when binding fails.
  int start(const std::string& host, int port);
  void stop();

 private:
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
};

}  // namespace sy::server
