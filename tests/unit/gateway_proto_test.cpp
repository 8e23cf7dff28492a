// Gateway <-> switchyard.v1 protobuf translation: every OpenAI parameter reaches its proto
// field, and streamed messages become events with OpenAI finish reasons and logprob texts.
#include <gtest/gtest.h>

#include "server/gateway/proto_translation.h"

namespace sy::gateway {
namespace {

GenerationRequest sample_request(Endpoint endpoint) {
  GenerationRequest r;
  r.id = "cmpl-1";
  r.endpoint = endpoint;
  r.model = "tiny";
  SamplingParams& s = r.sampling;
  s.max_tokens = 12;
  s.temperature = 0.5;
  s.top_p = 0.75;
  s.top_k = 7;
  s.min_p = 0.125;
  s.presence_penalty = 0.25;
  s.frequency_penalty = -0.5;
  s.repetition_penalty = 1.5;
  s.seed = -1;
  s.n = 3;
  s.stop = {"a", "b"};
  s.logprobs = true;
  s.top_logprobs = 2;
  return r;
}

TEST(GatewayProto, SamplingParametersReachTheirFields) {
  pb::SamplingParams out;
  fill_sampling(sample_request(Endpoint::kCompletions).sampling, out);
  EXPECT_EQ(out.n(), 3);
  EXPECT_EQ(out.max_tokens(), 12);
  EXPECT_FLOAT_EQ(out.temperature(), 0.5f);
  EXPECT_FLOAT_EQ(out.top_p(), 0.75f);
  EXPECT_EQ(out.top_k(), 7);
  EXPECT_FLOAT_EQ(out.min_p(), 0.125f);
  EXPECT_FLOAT_EQ(out.presence_penalty(), 0.25f);
  EXPECT_FLOAT_EQ(out.frequency_penalty(), -0.5f);
  EXPECT_FLOAT_EQ(out.repetition_penalty(), 1.5f);
  EXPECT_EQ(out.seed(), UINT64_MAX);  // -1 keeps its bit pattern
  ASSERT_EQ(out.stop_size(), 2);
  EXPECT_EQ(out.stop(1), "b");
  ASSERT_TRUE(out.has_logprobs());
  EXPECT_EQ(out.logprobs(), 2);
}

TEST(GatewayProto, UnsetParametersStayUnset) {
  pb::SamplingParams out;
  fill_sampling(SamplingParams{}, out);
  EXPECT_FALSE(out.has_max_tokens());
  EXPECT_FALSE(out.has_temperature());
  EXPECT_FALSE(out.has_seed());
  EXPECT_FALSE(out.has_logprobs());
  EXPECT_EQ(out.n(), 1);
}

TEST(GatewayProto, CompletionPromptsAsTextOrTokenIds) {
  GenerationRequest r = sample_request(Endpoint::kCompletions);
  r.prompts = {Prompt{"hello", {}, false}, Prompt{"", {5, 6}, true}};
  pb::GenerateRequest text = to_generate_request(r, 0, "rid");
  EXPECT_EQ(text.text(), "hello");
  EXPECT_TRUE(text.add_special_tokens());
  EXPECT_EQ(text.request_id(), "rid");
  EXPECT_EQ(text.model(), "tiny");
  pb::GenerateRequest ids = to_generate_request(r, 1, "rid");
  ASSERT_TRUE(ids.has_token_ids());
  EXPECT_EQ(ids.token_ids().ids_size(), 2);
  EXPECT_EQ(ids.token_ids().ids(1), 6);
}

TEST(GatewayProto, ChatMessagesToolsAndTemplateKwargs) {
  GenerationRequest r = sample_request(Endpoint::kChatCompletions);
  r.messages = {{"system", "be brief", std::nullopt, std::nullopt, ""},
                {"assistant", "", std::string("bot"), std::nullopt, "[{\"id\":\"c\"}]"},
                {"tool", "42", std::nullopt, std::string("c"), ""}};
  r.tools_json = "[{\"type\":\"function\"}]";
  r.template_kwargs_json = "{\"enable_thinking\":false}";
  pb::ChatRequest out = to_chat_request(r, "rid");
  ASSERT_EQ(out.messages_size(), 3);
  EXPECT_EQ(out.messages(0).role(), "system");
  EXPECT_EQ(out.messages(1).name(), "bot");
  EXPECT_EQ(out.messages(1).tool_calls_json(), "[{\"id\":\"c\"}]");
  EXPECT_EQ(out.messages(2).tool_call_id(), "c");
  EXPECT_EQ(out.tools_json(), r.tools_json);
  EXPECT_EQ(out.template_kwargs_json(), r.template_kwargs_json);
  EXPECT_EQ(out.sampling().n(), 3);
}

TEST(GatewayProto, MessagesBecomeEvents) {
  pb::GenerateResponse message;
  pb::SequenceOutput* a = message.add_outputs();
  a->set_index(1);
  a->set_text("Hi");
  a->set_finish_reason(pb::FINISH_REASON_LENGTH);
  pb::TokenLogprob* lp = a->add_logprobs();
  lp->set_token_id(7);
  lp->set_logprob(-0.5f);
  pb::TopLogprob* top = lp->add_top_logprobs();
  top->set_token_id(8);
  top->set_logprob(-1.5f);
  message.set_finished(true);
  message.mutable_usage()->set_prompt_tokens(4);
  message.mutable_usage()->set_completion_tokens(9);
  GenerationEvent event =
      to_event(message, [](int32_t id) { return "t" + std::to_string(id); });
  ASSERT_EQ(event.choices.size(), 1u);
  EXPECT_EQ(event.choices[0].index, 1);
  EXPECT_EQ(event.choices[0].text, "Hi");
  EXPECT_EQ(event.choices[0].finish_reason, "length");
  ASSERT_EQ(event.choices[0].logprobs.size(), 1u);
  EXPECT_EQ(event.choices[0].logprobs[0].token, "t7");
  EXPECT_EQ(event.choices[0].logprobs[0].top[0].token, "t8");
  EXPECT_DOUBLE_EQ(event.choices[0].logprobs[0].top[0].logprob, -1.5);
  ASSERT_TRUE(event.usage.has_value());
  EXPECT_EQ(event.usage->completion_tokens, 9);
}

TEST(GatewayProto, UsageOnlyOnTheLastMessageAndFinishReasonsNamed) {
  pb::GenerateResponse running;
  running.add_outputs()->set_text("x");
  EXPECT_FALSE(to_event(running, [](int32_t) { return std::string(); }).usage.has_value());
  EXPECT_EQ(finish_reason_name(pb::FINISH_REASON_UNSPECIFIED), "");
  EXPECT_EQ(finish_reason_name(pb::FINISH_REASON_STOP), "stop");
  EXPECT_EQ(finish_reason_name(pb::FINISH_REASON_LENGTH), "length");
  EXPECT_EQ(finish_reason_name(pb::FINISH_REASON_ABORT), "abort");
}

}  // namespace
}  // namespace sy::gateway
