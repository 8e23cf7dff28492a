#include "engine/serving/engine.h"

#include <algorithm>
#include <spdlog/spdlog.h>

#include "engine/serving/batch_builder.h"

namespace sy {
namespace {

EngineConfig resolve_config(EngineConfig c, const ModelExecutor& executor) {
  const int32_t model_len = executor.max_model_len();
  if (c.scheduler.max_model_len <= 0 || c.scheduler.max_model_len > model_len)
    c.scheduler.max_model_len = model_len;
  return c;
}

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kNone: return "none";
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kAbort: return "abort";
    case FinishReason::kDeadline: return "deadline";
    case FinishReason::kError: return "error";
  }
  return "?";
}

Engine::Engine(std::shared_ptr<ModelExecutor> executor, TextStreamFactory text_streams,
               EngineConfig config)
    : executor_(std::move(executor)),
      text_streams_(std::move(text_streams)),
      config_(resolve_config(std::move(config), *executor_)),
      vocab_size_(executor_->vocab_size()),
      block_size_(executor_->kv_cache().block_size),
      scheduler_(config_.scheduler, executor_->kv_cache().num_blocks, executor_->kv_cache().block_size),
      routing_(config_.routing_window) {
  metrics_.kv_blocks_total = executor_->kv_cache().num_blocks;
  metrics_.block_size = block_size_;
}

Engine::~Engine() { stop(); }

void Engine::start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
}

void Engine::stop() {
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    stopping_ = true;
  }
  inbox_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::optional<Engine::QueueSlot> Engine::reserve_queue_slot() {
  int64_t cur = queued_requests_.load();
  while (cur < config_.max_queued_requests)
    if (queued_requests_.compare_exchange_weak(cur, cur + 1)) return QueueSlot(&queued_requests_);
  return std::nullopt;
}

Engine::SubmitResult Engine::submit(RequestSpec spec, OutputSink sink, QueueSlot slot) {
  SubmitResult result;
  const int32_t prompt_len = static_cast<int32_t>(spec.prompt_token_ids.size());
  int32_t max_tokens = spec.params.max_tokens;
  const char* length_field = max_tokens > 0 ? "max_tokens" : "prompt";
  if (max_tokens == 0) max_tokens = config_.scheduler.max_model_len - prompt_len;
  if (max_tokens <= 0) {
    result.error = FieldError{"prompt", std::to_string(prompt_len) + " tokens leave no room to generate within max_model_len " +
                                            std::to_string(config_.scheduler.max_model_len)};
    return result;
  }
  if (auto why = scheduler_.check_fits(prompt_len, max_tokens); !why.empty()) {
    result.error = FieldError{length_field, why};
    return result;
  }

  auto req = std::make_unique<Request>();
  req->id = next_request_id_.fetch_add(1);
  req->max_tokens = max_tokens;
  req->arrival_time = Clock::now();
  req->sink = std::move(sink);
  const int32_t n = spec.params.n;
  for (int32_t i = 0; i < n; ++i) {
    auto seq = std::make_unique<Sequence>();
    seq->index = i;
    seq->request = req.get();
    seq->token_ids = spec.prompt_token_ids;
    seq->num_prompt_tokens = prompt_len;
    req->seqs.push_back(std::move(seq));
    if (text_streams_) req->text_streams.push_back(text_streams_(spec.params));
  }
  req->finish_reasons.assign(n, FinishReason::kNone);
  if (spec.params.min_tokens > 0) {
    req->min_tokens_mask = spec.params.stop_token_ids;
    if (!spec.params.ignore_eos)
      req->min_tokens_mask.insert(req->min_tokens_mask.end(), config_.eos_token_ids.begin(),
                                  config_.eos_token_ids.end());
  }
  req->spec = std::move(spec);
  result.request_id = req->id;
  slot.consume();
  active_requests_.fetch_add(1);
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    req->seed = req->spec.params.seed ? *req->spec.params.seed : seed_rng_();
    inbox_.push_back(std::move(req));
  }
  inbox_cv_.notify_one();
  return result;
}

void Engine::cancel(uint64_t request_id) {
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    cancels_.push_back(request_id);
  }
  inbox_cv_.notify_one();
}

EngineMetrics Engine::metrics() const {
  std::lock_guard<std::mutex> lock(metrics_mu_);
  return metrics_;
}

void Engine::loop() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(inbox_mu_);
      inbox_cv_.wait(lock, [&] {
        return stopping_ || !inbox_.empty() || !cancels_.empty() || scheduler_.has_work();
      });
      if (stopping_) break;
    }
    take_inbox();
    check_deadlines();
    if (scheduler_.has_work()) {
      try {
        step();
      } catch (const std::exception& e) {
        // A failed forward pass: fail what was running, keep serving the rest.
        spdlog::error("engine step failed: {}", e.what());
        std::vector<Request*> running;
        for (auto& [id, req] : requests_)
          for (auto& seq : req->seqs)
            if (seq->status == SequenceStatus::kRunning) {
              running.push_back(req.get());
              break;
            }
        for (Request* req : running) finish_request(*req, FinishReason::kError, e.what());
      }
    }
    const auto now = Clock::now();
    // Also sample when going idle, so the counts never lag behind the last step.
    if (now - last_routing_sample_ >= config_.routing_sample_period || !scheduler_.has_work()) {
      RoutingCounts counts;
      executor_->routing_counts(counts);
      routing_.record(counts, now);
      last_routing_sample_ = now;
    }
    update_gauges();
  }
  // Shutdown: nothing new is taken after this; everything unfinished is aborted.
  take_inbox();
  std::vector<Request*> all;
  for (auto& [id, req] : requests_) all.push_back(req.get());
  for (Request* req : all) finish_request(*req, FinishReason::kAbort);
  update_gauges();
}

void Engine::take_inbox() {
  std::vector<std::unique_ptr<Request>> inbox;
  std::vector<uint64_t> cancels;
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    inbox.swap(inbox_);
    cancels.swap(cancels_);
  }
  for (auto& req : inbox) add_request(std::move(req));
  for (uint64_t id : cancels) {
    auto it = requests_.find(id);
    if (it != requests_.end()) finish_request(*it->second, FinishReason::kAbort);
  }
}

void Engine::add_request(std::unique_ptr<Request> req) {
  {
    std::lock_guard<std::mutex> lock(metrics_mu_);
    metrics_.prompt_tokens += req->spec.prompt_token_ids.size();
  }
  for (auto& seq : req->seqs) seq->id = next_sequence_id_++;
  Sequence* first = req->seqs[0].get();
  first->arrival = next_arrival_++;
  // n > 1: siblings wait until the first sequence has computed the prompt, then map its
  // full blocks through the prefix cache instead of recomputing them.
  req->siblings_released = req->seqs.size() == 1;
  scheduler_.add(first);
  const uint64_t id = req->id;
  requests_.emplace(id, std::move(req));
}

void Engine::check_deadlines() {
  const auto now = Clock::now();
  std::vector<Request*> expired;
  for (auto& [id, req] : requests_)
    if (req->spec.deadline <= now) expired.push_back(req.get());
  for (Request* req : expired) finish_request(*req, FinishReason::kDeadline);
}

void Engine::step() {
  SchedulerOutput out = scheduler_.schedule();
  for (Sequence* seq : out.admitted) {
    Request& req = *seq->request;
    release_queue_slot(req);
    if (seq->num_preemptions == 0) seq->num_cached_prompt_tokens = seq->num_computed_tokens;
  }
  {
    std::lock_guard<std::mutex> lock(metrics_mu_);
    metrics_.preemptions += out.preempted.size();
    ++metrics_.steps;
  }
  if (out.scheduled.empty()) return;

  const ForwardBatch batch = build_forward_batch(out.scheduled, block_size_);
  std::vector<SamplerRow> rows;  // one per logits row, in batch order
  for (const ScheduledSequence& s : out.scheduled)
    if (s.samples()) {
      const Request& req = *s.seq->request;
      const bool below_min = s.seq->num_output_tokens() < req.spec.params.min_tokens;
      rows.push_back({s.seq, &req.spec.params, req.seed, below_min ? &req.min_tokens_mask : nullptr});
    }
  // Sample where the logits are: on the executor's device when it can (only ids and logprobs
  // come back), else on the host from the logits forward() copied back.
  const SamplingBatch sampling = sampler_.prepare(rows, vocab_size_);
  SampledBatch sampled_batch;
  if (executor_->samples_on_device()) {
    executor_->forward_and_sample(batch, sampling, sampled_batch);
  } else {
    executor_->forward(batch, logits_);
    sample_on_host(sampling, logits_, vocab_size_, sampled_batch);
  }
  scheduler_.commit(out.scheduled);
  const std::vector<SampledToken> sampled = sampler_.collect(rows, sampled_batch);

  // Postprocess: append tokens, stop checks, one message per request with news.
  std::vector<Request*> touched;
  std::unordered_map<Request*, std::vector<SequenceDelta>> deltas;
  for (size_t i = 0; i < rows.size(); ++i) {
    Sequence& seq = *const_cast<Sequence*>(rows[i].seq);
    Request& req = *seq.request;
    if (!req.siblings_released && seq.index == 0) {
      for (size_t j = 1; j < req.seqs.size(); ++j) {
        req.seqs[j]->arrival = next_arrival_++;
        scheduler_.add(req.seqs[j].get());
      }
      req.siblings_released = true;
    }
    auto [it, inserted] = deltas.try_emplace(&req);
    if (inserted) touched.push_back(&req);
    it->second.emplace_back();
    SequenceDelta& delta = it->second.back();
    delta.index = seq.index;
    append_token(req, seq, sampled[i].token_id, sampled[i], delta);
  }
  const auto now = Clock::now();
  {
    std::lock_guard<std::mutex> lock(metrics_mu_);
    metrics_.generation_tokens += rows.size();
    for (Request* req : touched) {
      if (req->first_token_time == Clock::time_point{}) {
        req->first_token_time = now;
        metrics_.ttft_seconds.observe(seconds_between(req->arrival_time, now));
      } else {
        metrics_.inter_token_seconds.observe(seconds_between(req->last_token_time, now));
      }
      req->last_token_time = now;
    }
  }
  for (Request* req : touched) emit(*req, std::move(deltas[req]));
}

void Engine::append_token(Request& req, Sequence& seq, int32_t token, const SampledToken& sampled,
                          SequenceDelta& delta) {
  const SamplingParams& p = req.spec.params;
  seq.token_ids.push_back(token);
  delta.token_ids.push_back(token);
  if (p.logprobs >= 0) delta.logprobs.push_back({sampled.logprob, sampled.top});

  const auto contains = [](const std::vector<int32_t>& v, int32_t t) {
    return std::find(v.begin(), v.end(), t) != v.end();
  };
  // Stop and EOS tokens end the sequence; their text is not part of the output.
  if (contains(p.stop_token_ids, token) || (!p.ignore_eos && contains(config_.eos_token_ids, token))) {
    finish_sequence(req, seq, FinishReason::kStop, delta);
    return;
  }
  if (!req.text_streams.empty()) {
    TextDelta d = req.text_streams[seq.index]->push(token);
    delta.text += d.text;
    if (d.stopped) {
      req.text_streams[seq.index].reset();  // the text ends before the stop string
      finish_sequence(req, seq, FinishReason::kStop, delta);
      return;
    }
  }
  if (seq.num_output_tokens() >= req.max_tokens || seq.num_tokens() >= config_.scheduler.max_model_len)
    finish_sequence(req, seq, FinishReason::kLength, delta);
}

void Engine::finish_sequence(Request& req, Sequence& seq, FinishReason reason, SequenceDelta& delta) {
  if (req.finish_reasons[seq.index] != FinishReason::kNone) return;
  if (!req.text_streams.empty() && req.text_streams[seq.index])
    delta.text += req.text_streams[seq.index]->finish();
  scheduler_.finish(&seq);
  req.finish_reasons[seq.index] = reason;
  delta.finish_reason = reason;
}

void Engine::finish_request(Request& req, FinishReason reason, const std::string& error) {
  if (!error.empty()) req.error = error;
  std::vector<SequenceDelta> deltas;
  for (auto& seq : req.seqs) {
    if (req.finish_reasons[seq->index] != FinishReason::kNone) continue;
    deltas.emplace_back();
    deltas.back().index = seq->index;
    finish_sequence(req, *seq, reason, deltas.back());
  }
  emit(req, std::move(deltas));
}

void Engine::emit(Request& req, std::vector<SequenceDelta>&& deltas) {
  const bool finished = req.finished();
  if (deltas.empty() && !finished) return;
  RequestOutput out;
  out.request_id = req.id;
  out.sequences = std::move(deltas);
  out.finished = finished;
  FinishReason reason = FinishReason::kNone;
  if (finished) {
    out.usage.prompt_tokens = static_cast<int32_t>(req.spec.prompt_token_ids.size());
    for (auto& seq : req.seqs) out.usage.completion_tokens += seq->num_output_tokens();
    out.usage.cached_prompt_tokens = req.seqs[0]->num_cached_prompt_tokens;
    reason = req.finish_reasons[0];
    for (FinishReason r : req.finish_reasons)
      if (r == FinishReason::kError) reason = r;
    if (reason == FinishReason::kError)
      out.error = req.error.empty() ? "the model failed while running this request" : req.error;
  }
  try {
    req.sink(std::move(out));
  } catch (const std::exception& e) {
    spdlog::error("request {}: output sink threw: {}", req.id, e.what());
  }
  if (!finished) return;

  const auto now = Clock::now();
  const double duration = seconds_between(req.arrival_time, now);
  const double ttft = req.first_token_time == Clock::time_point{}
                          ? -1.0
                          : seconds_between(req.arrival_time, req.first_token_time);
  int32_t completion = 0;
  for (auto& seq : req.seqs) completion += seq->num_output_tokens();
  spdlog::info("request {} id={} finish={} n={} prompt_tokens={} completion_tokens={} cached_tokens={} "
               "ttft_ms={:.1f} duration_ms={:.1f}",
               req.id, req.spec.log_id, finish_reason_name(reason), req.seqs.size(),
               req.spec.prompt_token_ids.size(), completion, req.seqs[0]->num_cached_prompt_tokens,
               ttft * 1e3, duration * 1e3);
  {
    std::lock_guard<std::mutex> lock(metrics_mu_);
    ++metrics_.requests_finished[static_cast<size_t>(reason)];
    metrics_.request_seconds.observe(duration);
  }
  release_queue_slot(req);
  active_requests_.fetch_sub(1);
  requests_.erase(req.id);  // destroys req
}

void Engine::release_queue_slot(Request& req) {
  if (!req.counted_as_queued) return;
  req.counted_as_queued = false;
  queued_requests_.fetch_sub(1);
}

void Engine::update_gauges() {
  std::lock_guard<std::mutex> lock(metrics_mu_);
  const BlockManager& bm = scheduler_.block_manager();
  metrics_.requests_queued = queued_requests_.load();
  metrics_.requests_active = active_requests_.load();
  metrics_.seqs_waiting = static_cast<int64_t>(scheduler_.num_waiting());
  metrics_.seqs_running = static_cast<int64_t>(scheduler_.num_running());
  metrics_.kv_blocks_used = bm.num_used_blocks();
  metrics_.kv_blocks_cached = bm.num_cached_blocks();
  metrics_.prefix_cache_queried_tokens = bm.prefix_cache_stats().queried_tokens;
  metrics_.prefix_cache_hit_tokens = bm.prefix_cache_stats().hit_tokens;
}

}  // namespace sy
