// InferenceService: switchyard.v1.Inference on gRPC's callback API (no thread per stream).
// Position: client -> [gRPC service: validate, queue slot, tokenize] -> engine -> stream back.
// Order of checks for a generation: draining (UNAVAILABLE) -> fields (INVALID_ARGUMENT) ->
// queue slot (RESOURCE_EXHAUSTED, before any tokenizing) -> tokenize/template -> engine
// admission (INVALID_ARGUMENT when it can never fit).
// Generate and Chat take their requests as raw bytes and parse them here: protobuf refuses a
// string field with invalid UTF-8, and gRPC would answer that with UNIMPLEMENTED; parsing it
// ourselves turns it into INVALID_ARGUMENT like every other bad input.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "server/grpc/served_model.h"
#include "switchyard/v1/inference.grpc.pb.h"

namespace sy::server {

// Calls answered with each status code (index: grpc::StatusCode, 0..16), for /metrics.
struct ServiceCounters {
  std::array<std::atomic<uint64_t>, 17> calls_by_code{};
  void count(int code) {
    if (code >= 0 && code < 17) calls_by_code[static_cast<size_t>(code)].fetch_add(1);
  }
};

using InferenceServiceBase = ::switchyard::v1::Inference::WithRawCallbackMethod_Generate<
    ::switchyard::v1::Inference::WithRawCallbackMethod_Chat<::switchyard::v1::Inference::CallbackService>>;

class InferenceService final : public InferenceServiceBase {
 public:
  InferenceService(ServedModel& model, ServiceCounters& counters) : model_(model), counters_(counters) {}

  // After this, new generations get UNAVAILABLE; running ones continue.
  void start_draining() { draining_.store(true); }
  bool draining() const { return draining_.load(); }

  // request: a serialized GenerateRequest / ChatRequest; the stream carries GenerateResponse.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Generate(grpc::CallbackServerContext* ctx,
                                                       const grpc::ByteBuffer* request) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Chat(grpc::CallbackServerContext* ctx,
                                                   const grpc::ByteBuffer* request) override;
  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* ctx, const ::switchyard::v1::TokenizeRequest* req,
                                     ::switchyard::v1::TokenizeResponse* resp) override;
  grpc::ServerUnaryReactor* Detokenize(grpc::CallbackServerContext* ctx, const ::switchyard::v1::DetokenizeRequest* req,
                                       ::switchyard::v1::DetokenizeResponse* resp) override;
  grpc::ServerUnaryReactor* ListModels(grpc::CallbackServerContext* ctx, const ::switchyard::v1::ListModelsRequest* req,
                                       ::switchyard::v1::ListModelsResponse* resp) override;
  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* ctx, const ::switchyard::v1::GetModelInfoRequest* req,
                                         ::switchyard::v1::ModelInfo* resp) override;
  grpc::ServerUnaryReactor* GetRoutingStats(grpc::CallbackServerContext* ctx,
                                            const ::switchyard::v1::GetRoutingStatsRequest* req,
                                            ::switchyard::v1::RoutingStats* resp) override;

 private:
  grpc::ServerUnaryReactor* finish_unary(grpc::CallbackServerContext* ctx, const grpc::Status& s);

  ServedModel& model_;
  ServiceCounters& counters_;
  std::atomic<bool> draining_{false};
};

}  // namespace sy::server
