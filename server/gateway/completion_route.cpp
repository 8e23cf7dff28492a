// Completion routes: parse, check the model, run upstream, shape the answer.
#include "server/gateway/completion_route.h"

#include <ctime>
#include <memory>
#include <vector>

#include <spdlog/spdlog.h>

#include "server/gateway/http_reply.h"
#include "server/gateway/json_body.h"
#include "server/gateway/openai_response.h"
#include "server/gateway/sse.h"

namespace sy::gateway {
namespace {

// Completions with several prompts number the choices prompt by prompt.
int64_t index_offset(const GenerationRequest& request, size_t prompt_index) {
  return static_cast<int64_t>(prompt_index) * request.sampling.n;
}

size_t generation_count(const GenerationRequest& request) {
  return request.endpoint == Endpoint::kCompletions ? request.prompts.size() : 1;
}

// Blocks until the stream yields an item; the upstream deadline bounds the wait.
StreamItem next_item(GenerationStream& stream, std::chrono::milliseconds poll) {
  for (;;) {
    if (std::optional<StreamItem> item = stream.next(poll)) return std::move(*item);
  }
}

// State shared by the chunk provider calls and the releaser of one streamed response.
struct StreamState {
  StreamState(GenerationRequest r, StreamShaper s) : request(std::move(r)), shaper(std::move(s)) {}
  GenerationRequest request;
  StreamShaper shaper;
  std::unique_ptr<GenerationStream> current;
  size_t prompt_index = 0;
  std::optional<StreamItem> pending;  // read before the headers were sent
};

}  // namespace

CompletionRoute::CompletionRoute(Upstream& upstream, ModelCatalog& catalog,
                                 GatewayMetrics& metrics, const GatewayOptions& options,
                                 std::string system_fingerprint)
    : upstream_(upstream),
      catalog_(catalog),
      metrics_(metrics),
      keepalive_(static_cast<int64_t>(options.keepalive_interval_s * 1000)),
      system_fingerprint_(std::move(system_fingerprint)) {}

void CompletionRoute::handle(Endpoint endpoint, const httplib::Request& req,
                             httplib::Response& res) {
  auto body = parse_json_object(req.body);
  if (auto* error = std::get_if<ApiError>(&body)) return write_error(res, *error);
  auto parsed = endpoint == Endpoint::kChatCompletions
                    ? parse_chat_request(std::get<nlohmann::json>(body))
                    : parse_completion_request(std::get<nlohmann::json>(body));
  if (auto* error = std::get_if<ApiError>(&parsed)) return write_error(res, *error);
  GenerationRequest request = std::move(std::get<GenerationRequest>(parsed));
  request.id = new_response_id(endpoint);
  if (std::optional<ApiError> unknown = catalog_.check(request.model)) {
    return write_error(res, *unknown);
  }
  if (request.stream) {
    respond_stream(std::move(request), res);
  } else {
    respond_whole(std::move(request), res);
  }
}

void CompletionRoute::respond_whole(GenerationRequest request, httplib::Response& res) {
  ResponseMeta meta{request.endpoint, request.id,
                    static_cast<int64_t>(std::time(nullptr)), request.model, system_fingerprint_,
                    request.sampling.logprobs};
  ResponseAccumulator accumulator(meta);
  // Start every prompt first so the server batches them, then collect in order.
  std::vector<std::unique_ptr<GenerationStream>> streams;
  for (size_t i = 0; i < generation_count(request); ++i) {
    streams.push_back(upstream_.generate(request, i));
  }
  for (size_t i = 0; i < streams.size(); ++i) {
    for (;;) {
      StreamItem item = next_item(*streams[i], keepalive_);
      if (item.kind == StreamItem::Kind::kError) {
        for (auto& stream : streams) stream->cancel();
        return write_error(res, item.error);
      }
      if (item.kind == StreamItem::Kind::kEnd) break;
      accumulator.add(item.event, index_offset(request, i));
    }
  }
  write_json(res, 200, accumulator.to_json());
}

void CompletionRoute::respond_stream(GenerationRequest request, httplib::Response& res) {
  ResponseMeta meta{request.endpoint, request.id,
                    static_cast<int64_t>(std::time(nullptr)), request.model, system_fingerprint_,
                    request.sampling.logprobs};
  bool include_usage = request.include_usage;
  auto state = std::make_shared<StreamState>(std::move(request), StreamShaper(meta, include_usage));
  state->current = upstream_.generate(state->request, 0);
  StreamItem first = next_item(*state->current, keepalive_);
  if (first.kind == StreamItem::Kind::kError) return write_error(res, first.error);
  state->pending = std::move(first);

  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");  // nginx and friends: do not buffer the stream
  std::chrono::milliseconds keepalive = keepalive_;
  Upstream& upstream = upstream_;
  GatewayMetrics& metrics = metrics_;
  metrics.stream_opened();
  res.set_chunked_content_provider(
      "text/event-stream",
      [state, keepalive, &upstream](size_t, httplib::DataSink& sink) {
        auto send = [&](const std::string& frame) {
          if (sink.write(frame.data(), frame.size())) return true;
          state->current->cancel();  // client gone: free the server's KV blocks now
          return false;
        };
        for (;;) {
          std::optional<StreamItem> item = std::move(state->pending);
          state->pending.reset();
          if (!item) item = state->current->next(keepalive);
          if (!item) {
            // Silence (queued, long prefill): a comment both keeps proxies from timing out and
            // finds out whether the client is still there.
            if (!send(sse_comment_frame("keep-alive"))) return false;
            continue;
          }
          if (item->kind == StreamItem::Kind::kEvent) {
            nlohmann::json chunk = state->shaper.chunk(
                item->event, index_offset(state->request, state->prompt_index));
            if (!chunk.is_null() && !send(sse_data_frame(chunk))) return false;
            continue;
          }
          if (item->kind == StreamItem::Kind::kError) {
            // Headers are gone: report in-band, as OpenAI does; the SDK raises APIError.
            spdlog::warn("stream failed mid-way: {}", item->error.message);
            send(sse_data_frame(item->error.to_json()));
            sink.done();
            return true;
          }
          // kEnd: next prompt, or finish the stream.
          if (++state->prompt_index < generation_count(state->request)) {
            state->current = upstream.generate(state->request, state->prompt_index);
            continue;
          }
          if (state->request.include_usage && !send(sse_data_frame(state->shaper.usage_chunk()))) {
            return false;
          }
          if (!send(sse_done_frame())) return false;
          sink.done();
          return true;
        }
      },
      [state, &metrics](bool success) {
        metrics.stream_closed();
        if (!success) {
          metrics.client_disconnected();
          state->current->cancel();
        }
      });
}

}  // namespace sy::gateway
