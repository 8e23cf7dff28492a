// The gateway's view of switchyard-server (HTTP handlers -> here -> gRPC). An interface so the
// HTTP layer never touches protobuf types: upstream_grpc.cpp implements it over the public
// switchyard.v1 API.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "server/gateway/api_error.h"
#include "server/gateway/generation_events.h"
#include "server/gateway/openai_request.h"

namespace sy::gateway {

// One item read from a running generation.
struct StreamItem {
  enum class Kind { kEvent, kEnd, kError };
  Kind kind = Kind::kEnd;
  GenerationEvent event;  // kEvent
  ApiError error;         // kError: the upstream status, already in OpenAI terms
};

// One in-flight upstream generation (all n choices of one prompt).
class GenerationStream {
 public:
  virtual ~GenerationStream() = default;
  // Waits at most `wait` for the next item; nullopt when none arrived in time. After kEnd or
  // kError, no further items come.
  virtual std::optional<StreamItem> next(std::chrono::milliseconds wait) = 0;
  // Cancels the upstream call (the client went away); the server frees its KV blocks.
  virtual void cancel() = 0;
};

struct ModelCard {
  std::string id;
  int64_t created = 0;  // unix seconds the server started serving it
  std::string owned_by = "switchyard";
};

class Upstream {
 public:
  virtual ~Upstream() = default;
  // Starts generating for request.prompts[prompt_index] (completions) or the messages (chat).
  virtual std::unique_ptr<GenerationStream> generate(const GenerationRequest& request,
                                                     size_t prompt_index) = 0;
  virtual std::variant<std::vector<ModelCard>, ApiError> list_models() = 0;
  // gRPC health of the server: true when it reports SERVING.
  virtual bool serving() = 0;
};

}  // namespace sy::gateway
