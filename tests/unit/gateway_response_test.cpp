// OpenAI response shaping (gateway: server events -> JSON bodies and stream chunks).
#include <gtest/gtest.h>

#include "server/gateway/openai_response.h"

namespace sy::gateway {
namespace {

using nlohmann::json;

ResponseMeta meta(Endpoint endpoint, bool logprobs = false) {
  return {endpoint, "id-1", 1700000000, "tiny", "fp-1", logprobs};
}

GenerationEvent delta(int64_t index, std::string text, std::string finish = "") {
  GenerationEvent event;
  event.choices.push_back({index, std::move(text), {}, std::move(finish)});
  return event;
}

GenerationEvent usage(int64_t prompt, int64_t completion) {
  GenerationEvent event;
  event.usage = Usage{prompt, completion};
  return event;
}

TEST(GatewayResponse, ChatCompletionJoinsDeltasPerChoice) {
  ResponseAccumulator acc(meta(Endpoint::kChatCompletions));
  acc.add(delta(0, "Hel"));
  acc.add(delta(1, "Bye"));
  acc.add(delta(0, "lo", "stop"));
  acc.add(delta(1, "", "length"));
  acc.add(usage(5, 4));
  json expected = json::parse(R"({
    "id": "id-1", "object": "chat.completion", "created": 1700000000, "model": "tiny",
    "system_fingerprint": "fp-1",
    "choices": [
      {"index": 0, "message": {"role": "assistant", "content": "Hello", "refusal": null},
       "logprobs": null, "finish_reason": "stop"},
      {"index": 1, "message": {"role": "assistant", "content": "Bye", "refusal": null},
       "logprobs": null, "finish_reason": "length"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}})");
  EXPECT_EQ(acc.to_json(), expected);
}

TEST(GatewayResponse, CompletionPromptsAreNumberedAfterEachOther) {
  ResponseAccumulator acc(meta(Endpoint::kCompletions));
  // Two prompts with n = 2: the second prompt's choices are 2 and 3.
  acc.add(delta(1, "b", "stop"));
  acc.add(delta(0, "a", "stop"));
  acc.add(usage(3, 2));
  acc.add(delta(0, "c", "length"), 2);
  acc.add(delta(1, "d", "length"), 2);
  acc.add(usage(4, 2));
  json out = acc.to_json();
  EXPECT_EQ(out["object"], "text_completion");
  ASSERT_EQ(out["choices"].size(), 4u);
  std::string texts;
  for (const json& choice : out["choices"]) texts += choice["text"].get<std::string>();
  EXPECT_EQ(texts, "abcd");
  EXPECT_EQ(out["choices"][3]["index"], 3);
  EXPECT_EQ(out["usage"]["prompt_tokens"], 7);
  EXPECT_EQ(out["usage"]["total_tokens"], 11);
}

GenerationEvent logprob_delta() {
  GenerationEvent event;
  ChoiceDelta d{0, "Hi!", {}, ""};
  d.logprobs.push_back({"Hi", -0.5, {{"Hi", -0.5}, {"Yo", -1.5}}});
  d.logprobs.push_back({"!", -0.25, {{"!", -0.25}, {"?", -2.0}}});
  event.choices.push_back(d);
  return event;
}

TEST(GatewayResponse, ChatLogprobsCarryBytesAndAlternatives) {
  ResponseAccumulator acc(meta(Endpoint::kChatCompletions, true));
  acc.add(logprob_delta());
  json lp = acc.to_json()["choices"][0]["logprobs"];
  ASSERT_EQ(lp["content"].size(), 2u);
  EXPECT_EQ(lp["content"][0]["token"], "Hi");
  EXPECT_EQ(lp["content"][0]["logprob"], -0.5);
  EXPECT_EQ(lp["content"][0]["bytes"], json({72, 105}));
  EXPECT_EQ(lp["content"][1]["top_logprobs"][1]["token"], "?");
  EXPECT_EQ(lp["content"][1]["top_logprobs"][1]["logprob"], -2.0);
}

TEST(GatewayResponse, CompletionLogprobsAreParallelArraysWithOffsets) {
  ResponseAccumulator acc(meta(Endpoint::kCompletions, true));
  acc.add(logprob_delta());
  json lp = acc.to_json()["choices"][0]["logprobs"];
  EXPECT_EQ(lp["tokens"], json({"Hi", "!"}));
  EXPECT_EQ(lp["token_logprobs"], json({-0.5, -0.25}));
  EXPECT_EQ(lp["top_logprobs"][0], json({{"Hi", -0.5}, {"Yo", -1.5}}));
  EXPECT_EQ(lp["text_offset"], json({0, 2}));
}

TEST(GatewayResponse, LogprobsAreNullUnlessRequested) {
  ResponseAccumulator acc(meta(Endpoint::kCompletions, false));
  acc.add(logprob_delta());
  EXPECT_TRUE(acc.to_json()["choices"][0]["logprobs"].is_null());
}

TEST(GatewayStream, ChatChunksSendTheRoleOnceAndFinishWithoutContent) {
  StreamShaper shaper(meta(Endpoint::kChatCompletions), /*include_usage=*/false);
  json first = shaper.chunk(delta(0, "He"));
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"], json({{"role", "assistant"}, {"content", "He"}}));
  EXPECT_TRUE(first["choices"][0]["finish_reason"].is_null());
  EXPECT_FALSE(first.contains("usage"));
  json second = shaper.chunk(delta(0, "y"));
  EXPECT_EQ(second["choices"][0]["delta"], json({{"content", "y"}}));
  json last = shaper.chunk(delta(0, "", "stop"));
  EXPECT_EQ(last["choices"][0]["delta"], json::object());
  EXPECT_EQ(last["choices"][0]["finish_reason"], "stop");
}

TEST(GatewayStream, IncludeUsageAddsNullUsageAndAFinalUsageChunk) {
  StreamShaper shaper(meta(Endpoint::kChatCompletions), /*include_usage=*/true);
  json c = shaper.chunk(delta(0, "x", "stop"));
  EXPECT_TRUE(c.contains("usage") && c["usage"].is_null());
  EXPECT_TRUE(shaper.chunk(usage(6, 1)).is_null());  // usage alone is not a chunk
  json final_chunk = shaper.usage_chunk();
  EXPECT_EQ(final_chunk["choices"], json::array());
  EXPECT_EQ(final_chunk["usage"], json({{"prompt_tokens", 6}, {"completion_tokens", 1},
                                        {"total_tokens", 7}}));
}

TEST(GatewayStream, CompletionChunkOffsetsContinueAcrossChunks) {
  StreamShaper shaper(meta(Endpoint::kCompletions, true), false);
  json a = shaper.chunk(logprob_delta());
  json b = shaper.chunk(logprob_delta(), 2);
  EXPECT_EQ(a["choices"][0]["text"], "Hi!");
  EXPECT_EQ(a["choices"][0]["logprobs"]["text_offset"], json({0, 2}));
  EXPECT_EQ(b["choices"][0]["index"], 2);
  EXPECT_EQ(b["choices"][0]["logprobs"]["text_offset"], json({0, 2}));
  json c = shaper.chunk(logprob_delta());
  EXPECT_EQ(c["choices"][0]["logprobs"]["text_offset"], json({3, 5}));
}

TEST(GatewayResponse, PartialUtf8TokensBecomeReplacementCharacters) {
  EXPECT_EQ(to_valid_utf8("ok"), "ok");
  EXPECT_EQ(to_valid_utf8("\xE2\x82"), "\xEF\xBF\xBD");  // half of "€"
  EXPECT_EQ(to_valid_utf8("\xE2\x82\xAC"), "\xE2\x82\xAC");
}

TEST(GatewayResponse, IdsArePrefixedAndDistinct) {
  std::string a = new_response_id(Endpoint::kChatCompletions);
  std::string b = new_response_id(Endpoint::kChatCompletions);
  EXPECT_EQ(a.rfind("chatcmpl-", 0), 0u);
  EXPECT_EQ(a.size(), 9u + 24u);
  EXPECT_NE(a, b);
  EXPECT_EQ(new_response_id(Endpoint::kCompletions).rfind("cmpl-", 0), 0u);
}

}  // namespace
}  // namespace sy::gateway
