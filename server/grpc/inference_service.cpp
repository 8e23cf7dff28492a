#include "server/grpc/inference_service.h"

#include <chrono>

#include <grpcpp/impl/codegen/proto_utils.h>

#include "kernels/dtype.h"
#include "server/grpc/expert_parallel_info.h"
#include "server/grpc/generate_reactor.h"
#include "server/grpc/request_conversion.h"

namespace sy::server {
namespace {

grpc::Status invalid(const FieldError& e) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, e.to_string());
}

// The call's gRPC deadline on the engine's clock.
Clock::time_point engine_deadline(const grpc::CallbackServerContext* ctx) {
  const auto deadline = ctx->deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return Clock::time_point::max();
  const auto left = deadline - std::chrono::system_clock::now();
  if (left > std::chrono::hours(24 * 365)) return Clock::time_point::max();
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(left);
}

// Parses a raw request; protobuf refuses invalid UTF-8 in string fields (and malformed bytes).
template <class Message>
bool parse_request(const grpc::ByteBuffer* bytes, Message& msg) {
  grpc::ByteBuffer copy(*bytes);  // Deserialize consumes its input
  return grpc::SerializationTraits<Message>::Deserialize(&copy, &msg).ok();
}

grpc::Status unparsable(const char* type) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                      std::string("request: not a valid ") + type +
                          " (a string field holds invalid UTF-8, or the bytes are malformed)");
}

std::string request_id_of(const std::string& client_id) {
  static std::atomic<uint64_t> next{1};
  return client_id.empty() ? "req-" + std::to_string(next.fetch_add(1)) : client_id;
}

// The shared tail of Generate and Chat, in the documented order: field errors
// (INVALID_ARGUMENT), a queue slot (RESOURCE_EXHAUSTED, before any tokenizing), the prompt
// tokens (tokenizer / chat template), then the engine.
template <typename Request>
GenerateReactor* admit_stream(GenerateReactor* reactor, const grpc::CallbackServerContext* ctx, const ServedModel& model,
                              const std::string& request_id, const Request& req,
                              const std::optional<FieldError>& field_error,
                              std::optional<FieldError> (*prompt_tokens)(const Request&, const ServedModel&,
                                                                         std::vector<int32_t>&)) {
  if (field_error) {
    reactor->reject(invalid(*field_error));
    return reactor;
  }
  std::optional<Engine::QueueSlot> slot = model.engine->reserve_queue_slot();
  if (!slot) {
    reactor->reject(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "the waiting queue is full; retry later"));
    return reactor;
  }
  RequestSpec spec;
  spec.log_id = request_id;
  spec.deadline = engine_deadline(ctx);
  convert_sampling(req.sampling(), model, spec.params);
  if (auto e = prompt_tokens(req, model, spec.prompt_token_ids)) {
    reactor->reject(invalid(*e));
    return reactor;
  }
  reactor->start(std::move(spec), std::move(*slot));
  return reactor;
}

}  // namespace

grpc::ServerUnaryReactor* InferenceService::finish_unary(grpc::CallbackServerContext* ctx, const grpc::Status& s) {
  counters_.count(s.error_code());
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(s);
  return reactor;
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* InferenceService::Generate(grpc::CallbackServerContext* ctx,
                                                                       const grpc::ByteBuffer* request) {
  pb::GenerateRequest parsed;
  const bool ok = parse_request(request, parsed);
  const pb::GenerateRequest* req = &parsed;
  const std::string request_id = request_id_of(req->request_id());
  auto* reactor = new GenerateReactor(*model_.engine, request_id, [this] { return draining(); },
                                      [this](const grpc::Status& s) { counters_.count(s.error_code()); });
  if (!ok) {
    reactor->reject(unparsable("GenerateRequest"));
    return reactor;
  }
  if (draining()) {
    reactor->reject(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is shutting down"));
    return reactor;
  }
  return admit_stream(reactor, ctx, model_, request_id, *req, check_generate_request(*req, model_),
                      generate_prompt_tokens);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* InferenceService::Chat(grpc::CallbackServerContext* ctx,
                                                                   const grpc::ByteBuffer* request) {
  pb::ChatRequest parsed;
  const bool ok = parse_request(request, parsed);
  const pb::ChatRequest* req = &parsed;
  const std::string request_id = request_id_of(req->request_id());
  auto* reactor = new GenerateReactor(*model_.engine, request_id, [this] { return draining(); },
                                      [this](const grpc::Status& s) { counters_.count(s.error_code()); });
  if (!ok) {
    reactor->reject(unparsable("ChatRequest"));
    return reactor;
  }
  if (draining()) {
    reactor->reject(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is shutting down"));
    return reactor;
  }
  if (!model_.chat_template) {
    reactor->reject(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                 "model '" + model_.id + "' has no chat template; use Generate"));
    return reactor;
  }
  return admit_stream(reactor, ctx, model_, request_id, *req, check_chat_request(*req, model_), chat_prompt_tokens);
}

grpc::ServerUnaryReactor* InferenceService::Tokenize(grpc::CallbackServerContext* ctx, const pb::TokenizeRequest* req,
                                                     pb::TokenizeResponse* resp) {
  if (auto e = check_model_name(model_, req->model())) return finish_unary(ctx, invalid(*e));
  if (!is_valid_utf8(req->text())) return finish_unary(ctx, invalid({"text", "is not valid UTF-8"}));
  const std::vector<int32_t> ids = req->special_tokens_as_text()
                                       ? model_.tokenizer->encode_plain(req->text(), req->add_special_tokens())
                                       : model_.tokenizer->encode(req->text(), req->add_special_tokens());
  resp->mutable_token_ids()->Add(ids.begin(), ids.end());
  return finish_unary(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* InferenceService::Detokenize(grpc::CallbackServerContext* ctx,
                                                       const pb::DetokenizeRequest* req, pb::DetokenizeResponse* resp) {
  if (auto e = check_model_name(model_, req->model())) return finish_unary(ctx, invalid(*e));
  const std::vector<int32_t> ids(req->token_ids().begin(), req->token_ids().end());
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] < 0 || ids[i] >= model_.engine->vocab_size())
      return finish_unary(ctx, invalid({"token_ids[" + std::to_string(i) + "]",
                                        "token id " + std::to_string(ids[i]) + " is outside the vocabulary [0, " +
                                            std::to_string(model_.engine->vocab_size()) + ")"}));
  resp->set_text(model_.tokenizer->decode(ids, req->skip_special_tokens()));
  return finish_unary(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* InferenceService::ListModels(grpc::CallbackServerContext* ctx, const pb::ListModelsRequest*,
                                                       pb::ListModelsResponse* resp) {
  pb::ModelCard* card = resp->add_models();
  card->set_id(model_.id);
  card->set_architecture(model_.model->config.model_type);
  card->set_max_context(model_.engine->max_model_len());
  return finish_unary(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* InferenceService::GetModelInfo(grpc::CallbackServerContext* ctx,
                                                         const pb::GetModelInfoRequest* req, pb::ModelInfo* resp) {
  if (auto e = check_model_name(model_, req->model())) return finish_unary(ctx, invalid(*e));
  const ModelConfig& c = model_.model->config;
  resp->set_id(model_.id);
  resp->set_architecture(c.model_type);
  resp->set_num_layers(c.num_layers);
  resp->set_num_moe_layers(c.num_moe_layers());
  resp->set_num_experts(c.num_experts);
  resp->set_top_k(c.top_k);
  resp->set_total_params(model_.weight_stats.total_params);
  resp->set_active_params(model_.weight_stats.active_params);
  resp->set_dtype(std::string(dtype_name(c.dtype)));
  uint64_t bytes = 0;
  for (const auto& [dtype, n] : model_.weight_stats.bytes_by_dtype) bytes += static_cast<uint64_t>(n);
  // int8 weights are not the checkpoint's bytes: report what the backend holds.
  const ModelWeights& weights = model_.model->weights;
  resp->set_weight_dtype(weight_format_name(weights.format));
  (*resp->mutable_bytes_per_device())[model_.device] =
      weights.format == WeightFormat::kAsLoaded ? bytes : uint64_t(weights.bytes());
  resp->set_max_context(model_.engine->max_model_len());
  resp->set_vocab_size(model_.engine->vocab_size());
  resp->set_device(model_.device);
  const EngineMetrics m = model_.engine->metrics();
  resp->set_kv_block_size(m.block_size);
  resp->set_kv_blocks_total(m.kv_blocks_total);
  resp->set_kv_blocks_used(m.kv_blocks_used);
  resp->set_kv_blocks_cached(m.kv_blocks_cached);
  resp->set_requests_active(m.requests_active);
  resp->set_requests_queued(m.requests_queued);
  resp->set_sequences_running(m.seqs_running);
  resp->set_sequences_waiting(m.seqs_waiting);
  if (model_.expert_parallel) fill_expert_parallel_info(model_, bytes, resp->mutable_expert_parallel());
  if (const auto& plan = model_.model->memory_plan) {
    pb::DeviceMemoryPlan* out = resp->mutable_memory_plan();
    out->set_free_bytes(plan->free_bytes);
    out->set_weight_bytes(plan->weight_bytes);
    out->set_activation_bytes(plan->activation_bytes);
    out->set_workspace_bytes(plan->workspace_bytes);
    out->set_kv_cache_bytes(plan->kv_cache_bytes);
    out->set_kv_blocks(plan->kv_blocks);
  }
  return finish_unary(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* InferenceService::GetRoutingStats(grpc::CallbackServerContext* ctx,
                                                            const pb::GetRoutingStatsRequest* req, pb::RoutingStats* resp) {
  if (auto e = check_model_name(model_, req->model())) return finish_unary(ctx, invalid(*e));
  const RoutingStatsSnapshot s = model_.engine->routing_stats();
  resp->set_window_seconds(s.window_seconds);
  auto fill = [](pb::RoutingImbalance* out, const RoutingImbalance& in) {
    out->set_max_over_mean(in.max_over_mean);
    out->set_coefficient_of_variation(in.cv);
    out->set_dead_experts(in.dead_experts);
  };
  for (const LayerRoutingStats& l : s.layers) {
    pb::LayerRouting* out = resp->add_layers();
    out->set_layer(l.layer);
    out->mutable_total_counts()->Add(l.total_counts.begin(), l.total_counts.end());
    out->mutable_window_counts()->Add(l.window_counts.begin(), l.window_counts.end());
    fill(out->mutable_total(), l.total);
    fill(out->mutable_window(), l.window);
  }
  if (model_.expert_parallel) fill_rank_loads(model_, resp);
  return finish_unary(ctx, grpc::Status::OK);
}

}  // namespace sy::server
