// GenerationEvents -> OpenAI response JSON (server stream -> here -> HTTP body or SSE chunks).
// Pure: the caller supplies the id and clock, so tests can compare whole documents.
//   Non-streaming: feed every event to a ResponseAccumulator, then call to_json().
//   Streaming: stream_chunk() turns each event into one chat.completion.chunk /
//   text_completion object; usage_chunk() is the final usage-only chunk of include_usage.
// Completion prompts beyond the first are separate upstream generations; `index_offset`
// (prompt_index * n) places their choices after the earlier prompts' ones, as OpenAI numbers them.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "server/gateway/generation_events.h"
#include "server/gateway/openai_request.h"

namespace sy::gateway {

struct ResponseMeta {
  Endpoint endpoint = Endpoint::kChatCompletions;
  std::string id;  // "chatcmpl-…" / "cmpl-…"
  int64_t created = 0;  // unix seconds
  std::string model;
  std::string system_fingerprint;
  bool logprobs = false;  // the request asked for logprobs: report them (else null)
};

// "chatcmpl-" or "cmpl-" followed by 24 random hex digits.
std::string new_response_id(Endpoint endpoint);

class ResponseAccumulator {
 public:
  explicit ResponseAccumulator(ResponseMeta meta) : meta_(std::move(meta)) {}

  void add(const GenerationEvent& event, int64_t index_offset = 0);
  nlohmann::json to_json() const;

 private:
  struct Choice {
    std::string text;
    std::vector<TokenLogprob> logprobs;
    std::string finish_reason;
  };
  ResponseMeta meta_;
  std::map<int64_t, Choice> choices_;  // ordered by OpenAI choice index
  Usage usage_;
};

class StreamShaper {
 public:
  StreamShaper(ResponseMeta meta, bool include_usage)
      : meta_(std::move(meta)), include_usage_(include_usage) {}

  // Chunk for one event; null JSON when the event carries nothing to send (usage only).
  nlohmann::json chunk(const GenerationEvent& event, int64_t index_offset = 0);
  // Accumulates usage from events passed to chunk(); the final chunk of include_usage.
  nlohmann::json usage_chunk() const;

 private:
  ResponseMeta meta_;
  bool include_usage_;
  std::map<int64_t, int64_t> text_offsets_;  // completions logprobs: bytes sent per choice
  std::map<int64_t, bool> role_sent_;        // chat: first delta of a choice carries the role
  Usage usage_;
};

// Text for JSON: invalid UTF-8 (a token that is half a character) becomes U+FFFD, so a dump
// never throws and every frame is valid UTF-8.
std::string to_valid_utf8(const std::string& bytes);

}  // namespace sy::gateway
