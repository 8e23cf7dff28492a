#include "server/grpc/generate_reactor.h"

#include <grpcpp/impl/codegen/proto_utils.h>

#include "server/grpc/request_conversion.h"

namespace sy::server {

void GenerateReactor::start(RequestSpec spec, Engine::QueueSlot slot) {
  const Engine::SubmitResult r =
      engine_.submit(std::move(spec), [this](RequestOutput&& out) { on_engine_output(std::move(out)); },
                     std::move(slot));
  if (r.error) {
    const std::string field = r.error->field == "max_tokens" ? "sampling.max_tokens" : r.error->field;
    reject(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, field + ": " + r.error->message));
    return;
  }
  bool cancel_now;
  {
    std::lock_guard<std::mutex> lock(mu_);
    engine_id_ = r.request_id;
    cancel_now = cancelled_ && !engine_done_;
  }
  if (cancel_now) engine_.cancel(r.request_id);
}

void GenerateReactor::reject(const grpc::Status& status) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    engine_done_ = true;
    final_status_ = status;
  }
  pump();
}

void GenerateReactor::on_engine_output(RequestOutput&& out) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!broken_) {
      grpc::ByteBuffer bytes;
      bool own_buffer = false;
      grpc::SerializationTraits<::switchyard::v1::GenerateResponse>::Serialize(to_proto(out, request_id_), &bytes,
                                                                              &own_buffer);
      pending_.push_back(std::move(bytes));
    }
    if (out.finished) {
      engine_done_ = true;
      FinishReason reason = FinishReason::kNone;
      for (const SequenceDelta& d : out.sequences)
        if (d.finish_reason != FinishReason::kNone) reason = d.finish_reason;
      if (!out.error.empty())
        final_status_ = grpc::Status(grpc::StatusCode::INTERNAL, out.error);
      else if (reason == FinishReason::kDeadline)
        final_status_ = grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline exceeded");
      else if (reason == FinishReason::kAbort)
        final_status_ = draining_() ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is shutting down")
                                    : grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
      else
        final_status_ = grpc::Status::OK;
    }
  }
  pump();
}

void GenerateReactor::pump() {
  std::unique_lock<std::mutex> lock(mu_);
  if (writing_ || finish_called_) return;
  if (!pending_.empty() && !broken_) {
    in_flight_ = std::move(pending_.front());
    pending_.pop_front();
    writing_ = true;
    lock.unlock();
    StartWrite(&in_flight_);
    return;
  }
  if (engine_done_) {
    finish_called_ = true;
    const grpc::Status status = final_status_;
    lock.unlock();
    if (on_finish_) on_finish_(status);
    Finish(status);
  }
}

void GenerateReactor::OnWriteDone(bool ok) {
  uint64_t to_cancel = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    if (!ok && !broken_) {
      broken_ = true;
      pending_.clear();
      if (!engine_done_) to_cancel = engine_id_;
    }
  }
  if (to_cancel) engine_.cancel(to_cancel);
  pump();
}

void GenerateReactor::OnCancel() {
  uint64_t to_cancel = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    broken_ = true;
    pending_.clear();
    if (!engine_done_) to_cancel = engine_id_;
  }
  if (to_cancel) engine_.cancel(to_cancel);
  pump();
}

}  // namespace sy::server
