// RequestCollector: the OutputSink a test hands to Engine::submit, collecting what the request
// streams (tokens, text, logprobs and finish reason per sequence index, usage and error at the
// end) for the test thread to wait on and read. Shared by the engine, sampler and whole-model
// serving tests (CPU and CUDA).
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/serving/request.h"

namespace sy::testing {

class RequestCollector {
 public:
  OutputSink sink() {
    return [this](RequestOutput&& out) {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& d : out.sequences) {
        auto& seq = seqs_[d.index];
        seq.tokens.insert(seq.tokens.end(), d.token_ids.begin(), d.token_ids.end());
        seq.text += d.text;
        seq.logprobs.insert(seq.logprobs.end(), d.logprobs.begin(), d.logprobs.end());
        if (d.finish_reason != FinishReason::kNone) seq.finish = d.finish_reason;
      }
      if (out.finished) {
        finished_ = true;
        usage_ = out.usage;
        error_ = out.error;
        cv_.notify_all();
      }
    };
  }
  // True once the request's last message arrived, false at the timeout.
  bool wait(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return finished_; });
  }
  // True once sequence 0 has streamed n tokens; false if it finished with fewer, or at the timeout.
  bool wait_for_tokens(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto until = Clock::now() + timeout;
    while (Clock::now() < until) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (seqs_.count(0) && seqs_[0].tokens.size() >= n) return true;
        if (finished_) return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
  }
  std::vector<int32_t> tokens(int index = 0) {
    std::lock_guard<std::mutex> lock(mu_);
    return seqs_[index].tokens;
  }
  FinishReason finish(int index = 0) {
    std::lock_guard<std::mutex> lock(mu_);
    return seqs_[index].finish;
  }
  std::vector<TokenLogprob> logprobs(int index = 0) {
    std::lock_guard<std::mutex> lock(mu_);
    return seqs_[index].logprobs;
  }
  std::string text(int index = 0) {
    std::lock_guard<std::mutex> lock(mu_);
    return seqs_[index].text;
  }
  Usage usage() {
    std::lock_guard<std::mutex> lock(mu_);
    return usage_;
  }
  std::string error() {
    std::lock_guard<std::mutex> lock(mu_);
    return error_;
  }
  size_t num_sequences() {
    std::lock_guard<std::mutex> lock(mu_);
    return seqs_.size();
  }

 private:
  struct Seq {
    std::vector<int32_t> tokens;
    std::vector<TokenLogprob> logprobs;
    FinishReason finish = FinishReason::kNone;
    std::string text;
  };
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int, Seq> seqs_;
  bool finished_ = false;
  Usage usage_;
  std::string error_;
};

}  // namespace sy::testing
