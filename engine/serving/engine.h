// Engine: the continuous-batching loop. One thread runs
//     step = schedule -> run -> postprocess
// (nano-vllm's LLMEngine.step): the scheduler picks what runs (admission, preemption, chunked
// prefill, decodes), the ModelExecutor computes logits, the sampler picks tokens, postprocess
// appends them, detokenizes, checks stop conditions and streams deltas to each request's sink.
// submit() and cancel() are safe from any thread; cancels, deadlines and new requests are
// taken at the start of each step, so a cancelled request's KV blocks are free one step later.
//
// Position in the flow: server (validate, tokenize) -> [engine: scheduler -> runner ->
// sampler -> detokenizer] -> server (stream to the client).
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/model/executor.h"
#include "engine/serving/engine_metrics.h"
#include "engine/serving/request.h"
#include "engine/serving/request_validation.h"
#include "engine/serving/routing_stats.h"
#include "engine/serving/sampler.h"
#include "engine/serving/scheduler.h"
#include "engine/serving/text_stream.h"

namespace sy {

struct EngineConfig {
  SchedulerConfig scheduler;     // max_model_len 0: the executor's
  int32_t max_queued_requests = 256;  // beyond: RESOURCE_EXHAUSTED before tokenizing
  std::vector<int32_t> eos_token_ids;  // config.json + generation_config.json
  std::chrono::milliseconds routing_window{60000};
  std::chrono::milliseconds routing_sample_period{250};
};

class Engine {
 public:
  // text_streams may be empty (token ids only: no text, no stop strings).
  Engine(std::shared_ptr<ModelExecutor> executor, TextStreamFactory text_streams,
         EngineConfig config);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  void start();
  // Finishes every unfinished request with kAbort and joins the loop thread.
  void stop();

  // A place in the waiting queue, taken before tokenizing so that a full queue costs nothing.
  class QueueSlot {
   public:
    QueueSlot() = default;
    explicit QueueSlot(std::atomic<int64_t>* counter) : counter_(counter) {}
    QueueSlot(QueueSlot&& o) noexcept : counter_(o.counter_) { o.counter_ = nullptr; }
    QueueSlot& operator=(QueueSlot&& o) noexcept {
      std::swap(counter_, o.counter_);
      return *this;
    }
    ~QueueSlot() { if (counter_) counter_->fetch_sub(1); }
    bool valid() const { return counter_ != nullptr; }
    void consume() { counter_ = nullptr; }  // the request now owns the slot

   private:
    std::atomic<int64_t>* counter_ = nullptr;
  };
  std::optional<QueueSlot> reserve_queue_slot();

  struct SubmitResult {
    uint64_t request_id = 0;
    std::optional<FieldError> error;  // set: rejected, the sink will never be called
  };
  // Rejects at once what can never run (prompt + max_tokens beyond the context or the cache).
  SubmitResult submit(RequestSpec spec, OutputSink sink, QueueSlot slot);
  void cancel(uint64_t request_id);

  EngineMetrics metrics() const;
  RoutingStatsSnapshot routing_stats() const { return routing_.snapshot(); }
  int32_t max_model_len() const { return config_.scheduler.max_model_len; }
  int32_t vocab_size() const { return vocab_size_; }
  const EngineConfig& config() const { return config_; }
  int64_t num_active_requests() const { return active_requests_.load(); }

 private:
  void loop();
  void take_inbox();
  void check_deadlines();
  void step();
  void add_request(std::unique_ptr<Request> req);
  // Appends `token` to seq and applies the stop rules; fills the sequence's delta.
  void append_token(Request& req, Sequence& seq, int32_t token, const SampledToken& sampled,
                    SequenceDelta& delta);
  void finish_sequence(Request& req, Sequence& seq, FinishReason reason, SequenceDelta& delta);
  // Finishes every unfinished sequence of the request with `reason` and sends the last message.
  void finish_request(Request& req, FinishReason reason, const std::string& error = {});
  void emit(Request& req, std::vector<SequenceDelta>&& deltas);
  void release_queue_slot(Request& req);
  void update_gauges();

  std::shared_ptr<ModelExecutor> executor_;
  TextStreamFactory text_streams_;
  EngineConfig config_;
  int32_t vocab_size_ = 0;
  int32_t block_size_ = 0;
  Scheduler scheduler_;
  Sampler sampler_;
  RoutingStatsTracker routing_;
  Clock::time_point last_routing_sample_{};

  // Inbox, shared with submit()/cancel().
  std::mutex inbox_mu_;
  std::condition_variable inbox_cv_;
  std::vector<std::unique_ptr<Request>> inbox_;
  std::vector<uint64_t> cancels_;
  bool stopping_ = false;
  std::atomic<uint64_t> next_request_id_{1};
  std::atomic<int64_t> queued_requests_{0};
  std::atomic<int64_t> active_requests_{0};
  std::mt19937_64 seed_rng_{std::random_device{}()};  // under inbox_mu_

  // Engine-thread state.
  std::unordered_map<uint64_t, std::unique_ptr<Request>> requests_;
  int64_t next_sequence_id_ = 1;
  uint64_t next_arrival_ = 0;
  std::vector<float> logits_;

  mutable std::mutex metrics_mu_;
  EngineMetrics metrics_;

  std::thread thread_;
};

}  // namespace sy
