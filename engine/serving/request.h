// Request: what a client submitted (already validated and tokenized) and what streams back.
// Position in the flow: [request] -> scheduler -> runner -> sampler -> postprocess -> [output].
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/serving/sampling_params.h"
#include "engine/serving/sequence.h"
#include "engine/serving/text_stream.h"

namespace sy {

enum class FinishReason : uint8_t {
  kNone,      // still running
  kStop,      // EOS, a stop token id or a stop string
  kLength,    // max_tokens or max_model_len
  kAbort,     // cancelled by the client, or the engine shut down
  kDeadline,  // the request's deadline passed
  kError,     // rejected after submission (message in RequestOutput::error)
};
const char* finish_reason_name(FinishReason r);

using Clock = std::chrono::steady_clock;

struct RequestSpec {
  std::string log_id;                     // for logs (client-supplied or generated)
  std::vector<int32_t> prompt_token_ids;  // validated: non-empty, inside the vocabulary
  SamplingParams params;                  // validated
  Clock::time_point deadline = Clock::time_point::max();
};

struct TokenLogprob {
  float logprob = 0.0f;
  std::vector<std::pair<int32_t, float>> top;  // (token id, logprob), descending
};

// New output of one sequence since the previous message.
struct SequenceDelta {
  int32_t index = 0;
  std::vector<int32_t> token_ids;
  std::string text;                    // detokenized, stop strings excluded
  std::vector<TokenLogprob> logprobs;  // parallel to token_ids when requested
  FinishReason finish_reason = FinishReason::kNone;
};

struct Usage {
  int32_t prompt_tokens = 0;
  int32_t completion_tokens = 0;      // all sequences
  int32_t cached_prompt_tokens = 0;   // prefix-cache hit of the first admission
};

struct RequestOutput {
  uint64_t request_id = 0;
  std::vector<SequenceDelta> sequences;  // only sequences with news
  bool finished = false;                 // the last message of the request
  Usage usage;                           // filled on the last message
  std::string error;                     // set when a sequence finished with kError
};

// Called on the engine thread, once per step with news and once at the end; must not block.
using OutputSink = std::function<void(RequestOutput&&)>;

// Engine-internal state of a submitted request.
struct Request {
  uint64_t id = 0;
  RequestSpec spec;
  OutputSink sink;
  uint64_t seed = 0;
  std::vector<std::unique_ptr<Sequence>> seqs;  // n sequences
  std::vector<std::unique_ptr<TextStream>> text_streams;  // per sequence, or empty
  std::vector<FinishReason> finish_reasons;     // per sequence
  bool siblings_released = false;  // n > 1: siblings wait for sequence 0's prefill
  bool counted_as_queued = true;   // holds a waiting-queue slot until first admitted
  int32_t max_tokens = 0;          // resolved: spec.params.max_tokens or what the context allows
  std::vector<int32_t> min_tokens_mask;  // EOS (unless ignored) + stop token ids
  std::string error;               // why it finished with kError
  Clock::time_point arrival_time;
  Clock::time_point first_token_time{};
  Clock::time_point last_token_time{};

  bool finished() const {
    for (FinishReason r : finish_reasons)
      if (r == FinishReason::kNone) return false;
    return true;
  }
};

}  // namespace sy
