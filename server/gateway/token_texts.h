// Token id -> token text for logprobs (upstream events -> here -> OpenAI "token"/"bytes").
// The gRPC API reports logprobs by token id; OpenAI clients want the token's text. Texts are
// fetched once per id with Detokenize and kept: a vocabulary is finite, and hot tokens repeat.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace sy::gateway {

class TokenTexts {
 public:
  // `detokenize` returns the text of one token id, or nullopt when the server cannot answer.
  explicit TokenTexts(std::function<std::optional<std::string>(int32_t)> detokenize)
      : detokenize_(std::move(detokenize)) {}

  // The text of `id`; an unknown id (server unreachable) is spelled "<id>" and not cached.
  std::string text(int32_t id);

 private:
  // Bounded so a hostile stream of ids cannot grow the gateway without end; large vocabularies
  // (~250k) fit.
  static constexpr size_t kMaxEntries = 1 << 20;
  std::function<std::optional<std::string>(int32_t)> detokenize_;
  std::mutex mutex_;
  std::unordered_map<int32_t, std::string> texts_;
};

}  // namespace sy::gateway
