// switchyard-gateway: OpenAI-compatible HTTP in front of switchyard-server's gRPC API.
// main: flags -> gRPC upstream -> HTTP server; SIGINT/SIGTERM stop accepting and exit 0.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <thread>

#include <spdlog/spdlog.h>

#include "server/gateway/gateway_options.h"
#include "server/gateway/gateway_server.h"
#include "server/gateway/upstream_grpc.h"

int main(int argc, char** argv) {
  using namespace sy::gateway;
  std::vector<std::string> args(argv + 1, argv + argc);
  auto parsed = parse_gateway_options(args, std::getenv("SWITCHYARD_API_KEY"));
  if (auto* message = std::get_if<std::string>(&parsed)) {
    std::cerr << "switchyard-gateway: " << *message << "\n";
    return 2;
  }
  GatewayOptions options = std::get<GatewayOptions>(parsed);
  if (options.show_help) {
    std::cout << gateway_usage();
    return 0;
  }
  spdlog::set_level(spdlog::level::from_str(options.log_level));
  if (options.probe) {
    bool serving = make_grpc_upstream(options)->serving();
    std::cout << options.upstream << (serving ? " SERVING\n" : " not serving\n");
    return serving ? 0 : 1;
  }

  // Writes to a client that went away must fail with EPIPE, not kill the process. Block the stop
  // signals in every thread; one thread waits for them and stops the server.
  std::signal(SIGPIPE, SIG_IGN);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::unique_ptr<Upstream> upstream = make_grpc_upstream(options);
  GatewayServer server(options, *upstream);
  std::thread signal_waiter([&server, stop_signals] {
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    spdlog::info("switchyard-gateway: signal {}, stopping", signal_number);
    server.stop();
  });
  bool listened = server.listen();
  if (!listened) {
    spdlog::error("switchyard-gateway: cannot listen on {}:{}", options.listen_host,
                  options.listen_port);
    signal_waiter.detach();
    return 1;
  }
  signal_waiter.join();
  return 0;
}
