// HTTP server wiring: routes, auth, error bodies, logging.
#include "server/gateway/gateway_server.h"

#include <chrono>
#include <exception>
#include <thread>

#include <spdlog/spdlog.h>

#include "server/gateway/http_reply.h"

#ifndef SWITCHYARD_VERSION
#error "SWITCHYARD_VERSION must be defined by the build"
#endif

namespace sy::gateway {
namespace {

std::chrono::microseconds to_micros(double seconds) {
  return std::chrono::microseconds(static_cast<int64_t>(seconds * 1e6));
}

// httplib serves a request, stream included, on one worker thread: the pre-routing handler stamps
// the start here and the logger reads it after the last byte.
thread_local std::chrono::steady_clock::time_point request_started;

}  // namespace

GatewayServer::GatewayServer(GatewayOptions options, Upstream& upstream)
    : options_(std::move(options)),
      upstream_(upstream),
      api_key_(options_.api_key),
      catalog_(upstream_),
      completions_(upstream_, catalog_, metrics_, options_, "switchyard-" SWITCHYARD_VERSION) {
  int threads = options_.http_threads;
  http_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http_.set_payload_max_length(options_.max_body_bytes);
  http_.set_read_timeout(to_micros(options_.read_timeout_s));
  http_.set_write_timeout(to_micros(options_.write_timeout_s));
  install_routes();
}

bool GatewayServer::listen() {
  std::thread admin_thread;
  if (!options_.admin_host.empty()) {
    admin_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics_.render(), "text/plain; version=0.0.4");
    });
    if (!admin_.bind_to_port(options_.admin_host, options_.admin_port)) {
      spdlog::error("switchyard-gateway: cannot bind the admin address {}:{}", options_.admin_host,
                    options_.admin_port);
      return false;
    }
    admin_thread = std::thread([this] { admin_.listen_after_bind(); });
  }
  spdlog::info("switchyard-gateway listening on {}:{} (upstream {}, auth {}, metrics {})",
               options_.listen_host, options_.listen_port, options_.upstream,
               api_key_.enabled() ? "on" : "off",
               options_.admin_host.empty()
                   ? std::string("off")
                   : options_.admin_host + ":" + std::to_string(options_.admin_port));
  bool served = http_.listen(options_.listen_host, options_.listen_port);
  admin_.stop();
  if (admin_thread.joinable()) admin_thread.join();
  return served;
}

void GatewayServer::stop() {
  http_.stop();
  admin_.stop();
}

void GatewayServer::install_routes() {
  // Every route but /health needs the key when one is configured.
  http_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    request_started = std::chrono::steady_clock::now();
    if (req.path == "/health" || api_key_.allows(req.get_header_value("Authorization"))) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    write_error(res, unauthorized(req.has_header("Authorization")
                                      ? "Incorrect API key provided."
                                      : "Missing API key: send 'Authorization: Bearer <key>'."));
    return httplib::Server::HandlerResponse::Handled;
  });

  http_.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    completions_.handle(Endpoint::kChatCompletions, req, res);
  });
  http_.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
    completions_.handle(Endpoint::kCompletions, req, res);
  });
  http_.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) { models(res); });
  http_.Get("/health", [this](const httplib::Request&, httplib::Response& res) { health(res); });

  // Errors httplib produces before a handler runs (no route, body over the limit) get the
  // OpenAI shape; responses a handler already filled are left alone.
  http_.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty() || res.content_length_ > 0) return;
    if (res.status == 404) {
      write_error(res, route_not_found(req.method, req.path));
    } else if (res.status == 413) {
      write_error(res, body_too_large(options_.max_body_bytes));
    } else if (res.status == 400) {
      write_error(res, invalid_request("Malformed HTTP request."));
    } else {
      ApiError error = internal_error("HTTP error");
      error.http_status = res.status;
      error.type = res.status < 500 ? "invalid_request_error" : "internal_error";
      write_error(res, error);
    }
  });
  http_.set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr failure) {
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(failure);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        spdlog::error("{} {}: internal error: {}", req.method, req.path, what);
        write_error(res, internal_error("Internal gateway error: " + what));
      });
  http_.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - request_started).count();
    metrics_.count_request(req.path, res.status, seconds);
    spdlog::info("{} {} -> {} in {:.3f} s ({})", req.method, req.path, res.status, seconds,
                 req.remote_addr);
  });
}

void GatewayServer::models(httplib::Response& res) {
  auto listed = catalog_.list();
  if (auto* error = std::get_if<ApiError>(&listed)) return write_error(res, *error);
  nlohmann::json data = nlohmann::json::array();
  for (const ModelCard& card : std::get<std::vector<ModelCard>>(listed)) {
    data.push_back(
        {{"id", card.id}, {"object", "model"}, {"created", card.created}, {"owned_by", card.owned_by}});
  }
  write_json(res, 200, {{"object", "list"}, {"data", std::move(data)}});
}

void GatewayServer::health(httplib::Response& res) {
  bool ok = upstream_.serving();
  write_json(res, ok ? 200 : 503,
             {{"status", ok ? "ok" : "unavailable"}, {"upstream", options_.upstream}});
}

}  // namespace sy::gateway
