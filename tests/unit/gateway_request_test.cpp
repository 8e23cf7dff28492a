// OpenAI request parsing (gateway: HTTP body -> GenerationRequest): accepted shapes and the
// 400 each malformed field gets, with the param the OpenAI SDK would show.
#include <gtest/gtest.h>

#include "server/gateway/openai_request.h"

namespace sy::gateway {
namespace {

using nlohmann::json;

GenerationRequest chat_ok(const json& body) {
  auto result = parse_chat_request(body);
  if (auto* error = std::get_if<ApiError>(&result)) {
    ADD_FAILURE() << "unexpected error: " << error->message;
    return {};
  }
  return std::get<GenerationRequest>(result);
}

GenerationRequest completion_ok(const json& body) {
  auto result = parse_completion_request(body);
  if (auto* error = std::get_if<ApiError>(&result)) {
    ADD_FAILURE() << "unexpected error: " << error->message;
    return {};
  }
  return std::get<GenerationRequest>(result);
}

ApiError chat_error(const json& body) {
  auto result = parse_chat_request(body);
  EXPECT_TRUE(std::holds_alternative<ApiError>(result)) << body.dump();
  return std::holds_alternative<ApiError>(result) ? std::get<ApiError>(result) : ApiError{};
}

ApiError completion_error(const json& body) {
  auto result = parse_completion_request(body);
  EXPECT_TRUE(std::holds_alternative<ApiError>(result)) << body.dump();
  return std::holds_alternative<ApiError>(result) ? std::get<ApiError>(result) : ApiError{};
}

json chat_body() {
  return {{"model", "tiny"}, {"messages", {{{"role", "user"}, {"content", "Hello"}}}}};
}

TEST(GatewayChatRequest, ReadsEverySupportedParameter) {
  json body = chat_body();
  body["messages"] = json::array({
      {{"role", "developer"}, {"content", "Be brief."}},
      {{"role", "user"},
       {"content", {{{"type", "text"}, {"text", "Hi "}}, {{"type", "text"}, {"text", "there"}}}}},
      {{"role", "assistant"},
       {"content", nullptr},
       {"tool_calls", {{{"id", "c1"}, {"type", "function"}}}}},
      {{"role", "tool"}, {"content", "42"}, {"tool_call_id", "c1"}},
  });
  body.update({{"max_completion_tokens", 7}, {"max_tokens", 99}, {"temperature", 0.5},
               {"top_p", 0.9}, {"n", 2}, {"stop", {"\n", "END"}}, {"seed", 1234},
               {"presence_penalty", 0.25}, {"frequency_penalty", -0.5}, {"logprobs", true},
               {"top_logprobs", 3}, {"user", "u-1"}, {"top_k", 40}, {"min_p", 0.05},
               {"repetition_penalty", 1.1}, {"stream", true},
               {"stream_options", {{"include_usage", true}}},
               {"tools", {{{"type", "function"}, {"function", {{"name", "f"}}}}}},
               {"tool_choice", "auto"}, {"chat_template_kwargs", {{"enable_thinking", false}}}});
  GenerationRequest r = chat_ok(body);
  EXPECT_EQ(r.endpoint, Endpoint::kChatCompletions);
  EXPECT_EQ(r.model, "tiny");
  ASSERT_EQ(r.messages.size(), 4u);
  EXPECT_EQ(r.messages[0].role, "system");
  EXPECT_EQ(r.messages[1].content, "Hi there");
  EXPECT_EQ(r.messages[2].content, "");
  EXPECT_EQ(json::parse(r.messages[2].tool_calls_json)[0]["id"], "c1");
  EXPECT_EQ(r.messages[3].tool_call_id, "c1");
  EXPECT_EQ(r.sampling.max_tokens, 7);  // max_completion_tokens wins over max_tokens
  EXPECT_EQ(r.sampling.temperature, 0.5);
  EXPECT_EQ(r.sampling.top_p, 0.9);
  EXPECT_EQ(r.sampling.n, 2);
  EXPECT_EQ(r.sampling.stop, (std::vector<std::string>{"\n", "END"}));
  EXPECT_EQ(r.sampling.seed, 1234);
  EXPECT_EQ(r.sampling.presence_penalty, 0.25);
  EXPECT_EQ(r.sampling.frequency_penalty, -0.5);
  EXPECT_TRUE(r.sampling.logprobs);
  EXPECT_EQ(r.sampling.top_logprobs, 3);
  EXPECT_EQ(r.sampling.top_k, 40);
  EXPECT_EQ(r.sampling.min_p, 0.05);
  EXPECT_EQ(r.sampling.repetition_penalty, 1.1);
  EXPECT_EQ(r.user, "u-1");
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_EQ(json::parse(r.tools_json)[0]["function"]["name"], "f");
  EXPECT_EQ(json::parse(r.template_kwargs_json),
            json({{"enable_thinking", false}, {"tool_choice", "auto"}}));
}

TEST(GatewayChatRequest, DefaultsAndNullsMeanUnset) {
  json body = chat_body();
  body["temperature"] = nullptr;
  body["stop"] = "x";
  GenerationRequest r = chat_ok(body);
  EXPECT_FALSE(r.sampling.temperature.has_value());
  EXPECT_FALSE(r.sampling.max_tokens.has_value());
  EXPECT_EQ(r.sampling.n, 1);
  EXPECT_EQ(r.sampling.stop, std::vector<std::string>{"x"});
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(r.sampling.logprobs);
}

struct BadField {
  const char* field;
  json value;
  const char* param;
};

TEST(GatewayChatRequest, WrongTypesAndRangesNameTheParam) {
  const BadField cases[] = {
      {"model", 5, "model"},
      {"model", "", "model"},
      {"messages", "hi", "messages"},
      {"messages", json::array(), "messages"},
      {"temperature", "hot", "temperature"},
      {"temperature", -0.1, "temperature"},
      {"temperature", true, "temperature"},
      {"top_p", 0.0, "top_p"},
      {"top_p", 1.5, "top_p"},
      {"max_tokens", 0, "max_tokens"},
      {"max_tokens", 1.5, "max_tokens"},
      {"max_tokens", "10", "max_tokens"},
      {"max_tokens", 3000000000ll, "max_tokens"},
      {"n", 3000000000ll, "n"},
      {"max_completion_tokens", -3, "max_completion_tokens"},
      {"n", 0, "n"},
      {"stop", 3, "stop"},
      {"stop", {"ok", 4}, "stop[1]"},
      {"stop", {""}, "stop[0]"},
      {"seed", 1.25, "seed"},
      {"seed", 18446744073709551615ull, "seed"},
      {"presence_penalty", 3, "presence_penalty"},
      {"frequency_penalty", -2.5, "frequency_penalty"},
      {"top_k", -2, "top_k"},
      {"min_p", 1.5, "min_p"},
      {"repetition_penalty", 0, "repetition_penalty"},
      {"logprobs", 1, "logprobs"},
      {"stream", "yes", "stream"},
      {"user", 7, "user"},
      {"tools", "f", "tools"},
      {"tool_choice", 3, "tool_choice"},
      {"chat_template_kwargs", "x", "chat_template_kwargs"},
      {"logit_bias", {{"5", 10}}, "logit_bias"},
      {"response_format", {{"type", "json_object"}}, "response_format"},
  };
  for (const BadField& c : cases) {
    json body = chat_body();
    body[c.field] = c.value;
    ApiError e = chat_error(body);
    EXPECT_EQ(e.http_status, 400) << c.field << " = " << c.value.dump();
    EXPECT_EQ(e.type, "invalid_request_error");
    EXPECT_EQ(e.param, std::optional<std::string>(c.param)) << c.field << " = " << c.value.dump();
  }
}

TEST(GatewayChatRequest, MessageErrorsPointIntoTheArray) {
  struct Case {
    json messages;
    const char* param;
  };
  const Case cases[] = {
      {{"hi"}, "messages[0]"},
      {{{{"content", "x"}}}, "messages[0].role"},
      {{{{"role", "wizard"}, {"content", "x"}}}, "messages[0].role"},
      {{{{"role", "user"}, {"content", "a"}}, {{"role", "user"}}}, "messages[1].content"},
      {{{{"role", "user"}, {"content", 5}}}, "messages[0].content"},
      {{{{"role", "user"}, {"content", {{{"type", "image_url"}}}}}}, "messages[0].content[0].type"},
      {{{{"role", "user"}, {"content", {{{"type", "text"}, {"text", 1}}}}}},
       "messages[0].content[0].text"},
      {{{{"role", "user"}, {"content", {"plain"}}}}, "messages[0].content[0]"},
      {{{{"role", "tool"}, {"content", "x"}}}, "messages[0].tool_call_id"},
      {{{{"role", "user"}, {"content", "x"}, {"tool_calls", json::array()}}},
       "messages[0].tool_calls"},
  };
  for (const Case& c : cases) {
    json body = chat_body();
    body["messages"] = c.messages;
    EXPECT_EQ(chat_error(body).param, std::optional<std::string>(c.param)) << c.messages.dump();
  }
}

TEST(GatewayChatRequest, RequiresModelAndMessagesAndAnObject) {
  EXPECT_EQ(chat_error({{"messages", chat_body()["messages"]}}).param, "model");
  EXPECT_EQ(chat_error({{"model", "m"}}).param, "messages");
  EXPECT_EQ(chat_error(json::array()).http_status, 400);
}

TEST(GatewayChatRequest, StreamOptionsNeedStreamAndTopLogprobsNeedLogprobs) {
  json body = chat_body();
  body["stream_options"] = {{"include_usage", true}};
  EXPECT_EQ(chat_error(body).param, "stream_options");
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", "yes"}};
  EXPECT_EQ(chat_error(body).param, "stream_options.include_usage");

  json logprob_body = chat_body();
  logprob_body["top_logprobs"] = 2;
  EXPECT_EQ(chat_error(logprob_body).param, "top_logprobs");
  logprob_body["logprobs"] = true;
  logprob_body["top_logprobs"] = 21;
  EXPECT_EQ(chat_error(logprob_body).param, "top_logprobs");
}

TEST(GatewayCompletionRequest, AcceptsEveryPromptShape) {
  json body = {{"model", "tiny"}, {"prompt", "Once"}};
  GenerationRequest text = completion_ok(body);
  ASSERT_EQ(text.prompts.size(), 1u);
  EXPECT_EQ(text.prompts[0].text, "Once");
  EXPECT_FALSE(text.prompts[0].is_token_ids);

  body["prompt"] = {"a", "b"};
  GenerationRequest list = completion_ok(body);
  ASSERT_EQ(list.prompts.size(), 2u);
  EXPECT_EQ(list.prompts[1].text, "b");

  body["prompt"] = {1, 2, 3};
  GenerationRequest ids = completion_ok(body);
  ASSERT_EQ(ids.prompts.size(), 1u);
  EXPECT_TRUE(ids.prompts[0].is_token_ids);
  EXPECT_EQ(ids.prompts[0].token_ids, (std::vector<int64_t>{1, 2, 3}));

  body["prompt"] = {{4, 5}, {6}};
  GenerationRequest batches = completion_ok(body);
  ASSERT_EQ(batches.prompts.size(), 2u);
  EXPECT_EQ(batches.prompts[1].token_ids, std::vector<int64_t>{6});
}

TEST(GatewayCompletionRequest, LogprobsIsTheNumberOfAlternatives) {
  GenerationRequest r = completion_ok({{"model", "m"}, {"prompt", "x"}, {"logprobs", 2}});
  EXPECT_TRUE(r.sampling.logprobs);
  EXPECT_EQ(r.sampling.top_logprobs, 2);
  GenerationRequest zero = completion_ok({{"model", "m"}, {"prompt", "x"}, {"logprobs", 0}});
  EXPECT_TRUE(zero.sampling.logprobs);
  EXPECT_EQ(zero.sampling.top_logprobs, 0);
  GenerationRequest none = completion_ok({{"model", "m"}, {"prompt", "x"}});
  EXPECT_FALSE(none.sampling.logprobs);
}

TEST(GatewayCompletionRequest, BadPromptsAndUnsupportedFieldsNameTheParam) {
  const BadField cases[] = {
      {"prompt", 5, "prompt"},
      {"prompt", json::array(), "prompt"},
      {"prompt", {1, "a"}, "prompt[1]"},
      {"prompt", {1, -2}, "prompt[1]"},
      {"prompt", {1, 4294967296ll}, "prompt[1]"},
      {"prompt", {"a", 3}, "prompt[1]"},
      {"prompt", {"a", json::array()}, "prompt[1]"},
      {"prompt", {{1}, {2.5}}, "prompt[1][0]"},
      {"logprobs", true, "logprobs"},
      {"logprobs", 21, "logprobs"},
      {"echo", true, "echo"},
      {"suffix", "tail", "suffix"},
      {"best_of", 3, "best_of"},
  };
  for (const BadField& c : cases) {
    json body = {{"model", "m"}, {"prompt", "x"}};
    body[c.field] = c.value;
    ApiError e = completion_error(body);
    EXPECT_EQ(e.http_status, 400) << c.field << " = " << c.value.dump();
    EXPECT_EQ(e.param, std::optional<std::string>(c.param)) << c.field << " = " << c.value.dump();
  }
  EXPECT_EQ(completion_error({{"model", "m"}}).param, "prompt");
  json many = {{"model", "m"}, {"prompt", json::array()}};
  for (size_t i = 0; i <= kMaxPromptsPerRequest; ++i) many["prompt"].push_back("p");
  EXPECT_EQ(completion_error(many).param, "prompt");
}

}  // namespace
}  // namespace sy::gateway
