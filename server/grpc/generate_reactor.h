// GenerateReactor: one server-streaming Generate/Chat call bridged to one engine request.
// The engine calls the sink on its thread; messages queue here and are written one at a time
// (gRPC allows one outstanding write). The call finishes only after the engine's last message,
// so the sink never outlives the reactor. A client cancel or a failed write cancels the engine
// request, which frees its KV blocks at the start of the next step. Messages travel as
// serialized bytes: the service parses requests itself (see inference_service.h).
#pragma once

#include <deque>
#include <functional>
#include <mutex>
#include <string>

#include <grpcpp/grpcpp.h>

#include "engine/serving/engine.h"
#include "switchyard/v1/inference.pb.h"

namespace sy::server {

class GenerateReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  using OnFinish = std::function<void(const grpc::Status&)>;
  GenerateReactor(Engine& engine, std::string request_id, std::function<bool()> draining, OnFinish on_finish)
      : engine_(engine), request_id_(std::move(request_id)), draining_(std::move(draining)),
        on_finish_(std::move(on_finish)) {}

  // Submits to the engine, or finishes the call with the engine's rejection.
  void start(RequestSpec spec, Engine::QueueSlot slot);
  // Finishes the call before anything was submitted.
  void reject(const grpc::Status& status);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override { delete this; }

 private:
  void on_engine_output(RequestOutput&& out);  // engine thread
  void pump();                                 // starts the next write or the finish

  Engine& engine_;
  std::string request_id_;
  std::function<bool()> draining_;
  OnFinish on_finish_;

  std::mutex mu_;
  std::deque<grpc::ByteBuffer> pending_;  // serialized GenerateResponse messages
  grpc::ByteBuffer in_flight_;
  bool writing_ = false;
  bool broken_ = false;        // a write failed: the client is gone
  bool cancelled_ = false;     // OnCancel ran
  bool engine_done_ = false;   // the engine sent its last message
  bool finish_called_ = false;
  uint64_t engine_id_ = 0;     // 0 until submitted
  grpc::Status final_status_;
};

}  // namespace sy::server
