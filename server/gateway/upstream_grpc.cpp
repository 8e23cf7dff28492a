// Upstream over gRPC: Generate/Chat as callback-API streams, unary calls for the rest.
// A stream's reactor only queues messages (callbacks must not block); the HTTP thread that
// consumes them does the protobuf -> event translation, Detokenize lookups included.
#include "server/gateway/upstream_grpc.h"

#include <condition_variable>
#include <deque>
#include <mutex>

#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "server/gateway/proto_translation.h"
#include "server/gateway/status_mapping.h"
#include "server/gateway/token_texts.h"
#include "switchyard/v1/inference.grpc.pb.h"

namespace sy::gateway {
namespace {

// Unary calls (model list, detokenize, health) are quick; a stuck server must not hang HTTP.
constexpr std::chrono::seconds kUnaryDeadline{5};

std::chrono::system_clock::time_point deadline_after(std::chrono::duration<double> span) {
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(span);
}

// One streaming call. Owns itself until gRPC reports OnDone, so the HTTP side may drop its
// handle at any time (after cancelling).
class StreamCall final : public grpc::ClientReadReactor<pb::GenerateResponse> {
 public:
  StreamCall(Endpoint endpoint, double timeout_s) : endpoint_(endpoint) {
    context_.set_deadline(deadline_after(std::chrono::duration<double>(timeout_s)));
  }

  // `start_rpc` binds this reactor to the stub's Generate or Chat method with `request`, which
  // is kept as long as the call runs.
  void start(const std::function<void(grpc::ClientContext*, StreamCall*)>& start_rpc,
             std::shared_ptr<const google::protobuf::Message> request,
             std::shared_ptr<StreamCall> self) {
    request_ = std::move(request);
    self_ = std::move(self);
    start_rpc(&context_, this);
    StartRead(&incoming_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // stream over; OnDone follows with the status
    {
      std::lock_guard lock(mutex_);
      messages_.push_back(std::move(incoming_));
    }
    ready_.notify_one();
    incoming_.Clear();
    StartRead(&incoming_);
  }

  void OnDone(const grpc::Status& status) override {
    std::shared_ptr<StreamCall> keep_alive;
    {
      std::lock_guard lock(mutex_);
      status_ = status;
      keep_alive = std::move(self_);  // released after the lock, when this scope ends
    }
    ready_.notify_one();
  }

  // Next message, or the final status once every message was taken. nullopt after `wait`.
  std::optional<std::variant<pb::GenerateResponse, grpc::Status>> next(
      std::chrono::milliseconds wait) {
    std::unique_lock lock(mutex_);
    ready_.wait_for(lock, wait, [&] { return !messages_.empty() || status_.has_value(); });
    if (!messages_.empty()) {
      pb::GenerateResponse message = std::move(messages_.front());
      messages_.pop_front();
      return message;
    }
    if (status_) return *status_;
    return std::nullopt;
  }

  void cancel() { context_.TryCancel(); }
  Endpoint endpoint() const { return endpoint_; }

 private:
  Endpoint endpoint_;
  grpc::ClientContext context_;
  pb::GenerateResponse incoming_;  // written by gRPC during a read
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<pb::GenerateResponse> messages_;
  std::optional<grpc::Status> status_;
  std::shared_ptr<const google::protobuf::Message> request_;
  std::shared_ptr<StreamCall> self_;
};

class GrpcGenerationStream final : public GenerationStream {
 public:
  GrpcGenerationStream(std::shared_ptr<StreamCall> call, TokenTexts& token_texts)
      : call_(std::move(call)), token_texts_(token_texts) {}
  ~GrpcGenerationStream() override {
    if (!ended_) call_->cancel();  // abandoned mid-way: free the server's resources
  }

  std::optional<StreamItem> next(std::chrono::milliseconds wait) override {
    if (ended_) return StreamItem{StreamItem::Kind::kEnd, {}, {}};
    auto item = call_->next(wait);
    if (!item) return std::nullopt;
    if (auto* message = std::get_if<pb::GenerateResponse>(&*item)) {
      StreamItem out{StreamItem::Kind::kEvent, {}, {}};
      out.event = to_event(*message, [&](int32_t id) { return token_texts_.text(id); });
      return out;
    }
    ended_ = true;
    const grpc::Status& status = std::get<grpc::Status>(*item);
    if (status.ok()) return StreamItem{StreamItem::Kind::kEnd, {}, {}};
    return StreamItem{StreamItem::Kind::kError, {},
                      api_error_from_status(status.error_code(), status.error_message(),
                                            call_->endpoint())};
  }

  void cancel() override { call_->cancel(); }

 private:
  std::shared_ptr<StreamCall> call_;
  TokenTexts& token_texts_;
  bool ended_ = false;
};

// grpc.health.v1.Health/Check through the generic stub: the health proto's C++ stubs are not
// installed by Debian's grpc++, and the messages are one field each. Request {service: ""}
// encodes to zero bytes; the response is field 1 (varint) = 1 for SERVING.
bool check_health(grpc::GenericStub& stub) {
  grpc::ClientContext context;
  context.set_deadline(deadline_after(kUnaryDeadline));
  grpc::ByteBuffer request;
  grpc::Slice empty("");
  request = grpc::ByteBuffer(&empty, 1);
  grpc::ByteBuffer response;
  std::mutex mutex;
  std::condition_variable done;
  std::optional<grpc::Status> result;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                 &response, [&](grpc::Status status) {
                   std::lock_guard lock(mutex);
                   result = std::move(status);
                   done.notify_one();
                 });
  std::unique_lock lock(mutex);
  done.wait(lock, [&] { return result.has_value(); });
  if (!result->ok()) return false;
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return false;
  std::string bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return bytes.size() >= 2 && bytes[0] == 0x08 && bytes[1] == 0x01;
}

class GrpcUpstream final : public Upstream {
 public:
  explicit GrpcUpstream(const GatewayOptions& options)
      : channel_(grpc::CreateChannel(options.upstream, grpc::InsecureChannelCredentials())),
        stub_(pb::Inference::NewStub(channel_)),
        generic_(channel_),
        request_timeout_s_(options.request_timeout_s),
        token_texts_([this](int32_t id) { return detokenize(id); }),
        started_(static_cast<int64_t>(std::time(nullptr))) {}

  std::unique_ptr<GenerationStream> generate(const GenerationRequest& request,
                                             size_t prompt_index) override {
    auto call = std::make_shared<StreamCall>(request.endpoint, request_timeout_s_);
    std::string request_id = request.id + generation_suffix(request, prompt_index);
    if (request.endpoint == Endpoint::kChatCompletions) {
      auto message = std::make_shared<pb::ChatRequest>(to_chat_request(request, request_id));
      call->start(
          [this, &message](grpc::ClientContext* context, StreamCall* reactor) {
            stub_->async()->Chat(context, message.get(), reactor);
          },
          message, call);
    } else {
      auto message = std::make_shared<pb::GenerateRequest>(
          to_generate_request(request, prompt_index, request_id));
      call->start(
          [this, &message](grpc::ClientContext* context, StreamCall* reactor) {
            stub_->async()->Generate(context, message.get(), reactor);
          },
          message, call);
    }
    return std::make_unique<GrpcGenerationStream>(std::move(call), token_texts_);
  }

  std::variant<std::vector<ModelCard>, ApiError> list_models() override {
    grpc::ClientContext context;
    context.set_deadline(deadline_after(kUnaryDeadline));
    pb::ListModelsResponse response;
    grpc::Status status = stub_->ListModels(&context, pb::ListModelsRequest(), &response);
    if (!status.ok()) {
      return api_error_from_status(status.error_code(), status.error_message(),
                                   Endpoint::kChatCompletions);
    }
    std::vector<ModelCard> models;
    for (const pb::ModelCard& card : response.models()) {
      models.push_back({card.id(), started_, "switchyard"});
    }
    return models;
  }

  bool serving() override { return check_health(generic_); }

 private:
  // Completions with several prompts: "<id>-<prompt index>" so server logs tell them apart.
  static std::string generation_suffix(const GenerationRequest& request, size_t prompt_index) {
    if (request.prompts.size() <= 1) return "";
    std::string suffix = std::to_string(prompt_index);
    return suffix.insert(0, 1, '-');
  }

  std::optional<std::string> detokenize(int32_t id) {
    grpc::ClientContext context;
    context.set_deadline(deadline_after(kUnaryDeadline));
    pb::DetokenizeRequest request;
    request.add_token_ids(id);
    request.set_skip_special_tokens(false);
    pb::DetokenizeResponse response;
    grpc::Status status = stub_->Detokenize(&context, request, &response);
    if (!status.ok()) {
      spdlog::warn("Detokenize({}) failed: {}", id, status.error_message());
      return std::nullopt;
    }
    return response.text();
  }

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::Inference::Stub> stub_;
  grpc::GenericStub generic_;
  double request_timeout_s_;
  TokenTexts token_texts_;
  int64_t started_;
};

}  // namespace

std::unique_ptr<Upstream> make_grpc_upstream(const GatewayOptions& options) {
  return std::make_unique<GrpcUpstream>(options);
}

}  // namespace sy::gateway
