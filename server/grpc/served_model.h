// ServedModel: everything the gRPC service needs about the one model this server serves.
// Position: server_main (loads it) -> [served model] -> InferenceService, admin HTTP.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "engine/chat/chat_template.h"
#include "engine/model/model.h"
#include "engine/model/weights.h"
#include "engine/serving/engine.h"
#include "engine/serving/request_validation.h"
#include "engine/tokenizer/tokenizer.h"

namespace sy {
class ExpertParallelExecutor;
}

namespace sy::server {

struct ServedModel {
  std::string id;      // what clients put in `model`
  std::string device;  // "cpu", "cuda:0"
  std::shared_ptr<const Model> model;
  std::shared_ptr<const Tokenizer> tokenizer;
  std::optional<ChatTemplate> chat_template;  // none: Chat answers FAILED_PRECONDITION
  WeightStats weight_stats;
  RequestLimits limits;
  Engine* engine = nullptr;
  // Rank 0's executor under --expert-parallel (placement, per-rank traffic); null otherwise.
  std::shared_ptr<const ExpertParallelExecutor> expert_parallel;
};

}  // namespace sy::server
