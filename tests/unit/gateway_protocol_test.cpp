// Gateway plumbing around the OpenAI translation: bounded JSON parsing, SSE frames, API-key
// checks and the gRPC status -> HTTP error table.
#include <gtest/gtest.h>

#include <string>

#include "server/gateway/auth.h"
#include "server/gateway/json_body.h"
#include "server/gateway/sse.h"
#include "server/gateway/status_mapping.h"

namespace sy::gateway {
namespace {

using nlohmann::json;

ApiError body_error(std::string_view body) {
  auto result = parse_json_object(body);
  EXPECT_TRUE(std::holds_alternative<ApiError>(result)) << body;
  return std::holds_alternative<ApiError>(result) ? std::get<ApiError>(result) : ApiError{};
}

TEST(GatewayJsonBody, NestingDepthIgnoresBracketsInStrings) {
  EXPECT_EQ(json_nesting_depth(R"({"a": [1, {"b": 2}]})", 64), 3);
  EXPECT_EQ(json_nesting_depth(R"({"a": "[[[[{{{{\"]]"})", 64), 1);
  EXPECT_EQ(json_nesting_depth("[[[[[[", 3), 4);  // stops just past the limit
}

TEST(GatewayJsonBody, MalformedOrHostileBodiesAre400) {
  EXPECT_EQ(body_error("").http_status, 400);
  EXPECT_EQ(body_error("{\"model\": ").http_status, 400);
  EXPECT_EQ(body_error("[1, 2]").http_status, 400);
  EXPECT_EQ(body_error("\"text\"").http_status, 400);
  EXPECT_EQ(body_error("{\"a\": \"\xff\xfe\"}").http_status, 400);  // invalid UTF-8
  std::string deep(100000, '[');
  ApiError e = body_error(deep);
  EXPECT_EQ(e.http_status, 400);
  EXPECT_NE(e.message.find("deeper"), std::string::npos) << e.message;
}

TEST(GatewayJsonBody, ParsesAnObject) {
  auto result = parse_json_object(R"({"model": "m", "n": 2})");
  ASSERT_TRUE(std::holds_alternative<json>(result));
  EXPECT_EQ(std::get<json>(result)["n"], 2);
}

TEST(GatewayApiError, SerializesInOpenAIShape) {
  json body = invalid_request("bad", "temperature").to_json();
  EXPECT_EQ(body, json::parse(R"({"error": {"message": "bad", "type": "invalid_request_error",
                                             "param": "temperature", "code": null}})"));
  EXPECT_EQ(model_not_found("x").http_status, 404);
  EXPECT_EQ(body_too_large(10).http_status, 413);
  EXPECT_EQ(unauthorized("no").http_status, 401);
  EXPECT_EQ(route_not_found("GET", "/v2").http_status, 404);
}

TEST(GatewaySse, FramesAreSingleDataLinesEndedByABlankLine) {
  EXPECT_EQ(sse_data_frame(json{{"a", "line1\nline2"}}), "data: {\"a\":\"line1\\nline2\"}\n\n");
  EXPECT_EQ(sse_done_frame(), "data: [DONE]\n\n");
  EXPECT_EQ(sse_comment_frame("keep\nalive"), ": keep alive\n\n");
  EXPECT_EQ(sse_data_frame(json{{"t", std::string("\xE2\x82")}}),
            "data: {\"t\":\"\xEF\xBF\xBD\"}\n\n");
}

TEST(GatewayAuth, BearerTokenParsing) {
  EXPECT_EQ(bearer_token("Bearer abc"), "abc");
  EXPECT_EQ(bearer_token("bearer   abc "), "abc");
  EXPECT_FALSE(bearer_token("Basic abc").has_value());
  EXPECT_FALSE(bearer_token("Bearer ").has_value());
  EXPECT_FALSE(bearer_token("Bearerabc").has_value());
  EXPECT_FALSE(bearer_token("").has_value());
}

TEST(GatewayAuth, KeyCheck) {
  EXPECT_TRUE(constant_time_equals("secret", "secret"));
  EXPECT_FALSE(constant_time_equals("secret", "secreT"));
  EXPECT_FALSE(constant_time_equals("secret", "secret2"));
  EXPECT_FALSE(constant_time_equals("", "x"));
  ApiKeyCheck off("");
  EXPECT_FALSE(off.enabled());
  EXPECT_TRUE(off.allows(""));
  ApiKeyCheck on("sk-1");
  EXPECT_TRUE(on.allows("Bearer sk-1"));
  EXPECT_FALSE(on.allows("Bearer sk-2"));
  EXPECT_FALSE(on.allows(""));
}

TEST(GatewayStatusMapping, EveryCodeGetsItsHttpStatus) {
  using grpc::StatusCode;
  struct Case {
    StatusCode code;
    int http;
    int retry_after;
  };
  const Case cases[] = {
      {StatusCode::INVALID_ARGUMENT, 400, 0},   {StatusCode::OUT_OF_RANGE, 400, 0},
      {StatusCode::FAILED_PRECONDITION, 400, 0}, {StatusCode::NOT_FOUND, 404, 0},
      {StatusCode::UNAUTHENTICATED, 401, 0},    {StatusCode::PERMISSION_DENIED, 403, 0},
      {StatusCode::RESOURCE_EXHAUSTED, 429, 1}, {StatusCode::UNAVAILABLE, 503, 1},
      {StatusCode::ABORTED, 503, 1},            {StatusCode::CANCELLED, 503, 1},
      {StatusCode::DEADLINE_EXCEEDED, 504, 0},  {StatusCode::UNIMPLEMENTED, 501, 0},
      {StatusCode::INTERNAL, 500, 0},           {StatusCode::UNKNOWN, 500, 0},
      {StatusCode::DATA_LOSS, 500, 0},
  };
  for (const Case& c : cases) {
    ApiError e = api_error_from_status(c.code, "boom", Endpoint::kChatCompletions);
    EXPECT_EQ(e.http_status, c.http) << static_cast<int>(c.code);
    EXPECT_EQ(e.retry_after_seconds, c.retry_after) << static_cast<int>(c.code);
    EXPECT_NE(e.message.find("boom"), std::string::npos) << e.message;
  }
}

TEST(GatewayStatusMapping, InvalidArgumentNamesTheOpenAIParam) {
  auto param = [](const char* message, Endpoint endpoint = Endpoint::kChatCompletions) {
    return api_error_from_status(grpc::StatusCode::INVALID_ARGUMENT, message, endpoint).param;
  };
  EXPECT_EQ(param("sampling.top_p: must be in (0, 1], got 0"), "top_p");
  EXPECT_EQ(param("temperature: must be >= 0"), "temperature");
  EXPECT_EQ(param("sampling.stop_strings: too many"), "stop");
  EXPECT_EQ(param("messages[1].content: invalid UTF-8"), "messages[1].content");
  EXPECT_EQ(param("prompt_token_ids[3]: outside the vocabulary", Endpoint::kCompletions),
            "prompt");
  EXPECT_EQ(param("sampling.logprobs: at most 20", Endpoint::kChatCompletions), "top_logprobs");
  EXPECT_EQ(param("sampling.top_logprobs: at most 20", Endpoint::kCompletions), "logprobs");
  EXPECT_EQ(param("token_ids.ids[0]: token id 1000000 is outside the vocabulary [0, 320)",
                  Endpoint::kCompletions),
            "prompt");
  EXPECT_EQ(param("text: is not valid UTF-8", Endpoint::kCompletions), "prompt");
  EXPECT_EQ(param("prompt: 300 tokens leave no room", Endpoint::kChatCompletions), "messages");
  EXPECT_EQ(param("model 'x' is not served"), std::nullopt);
  EXPECT_EQ(param("no field here"), std::nullopt);
}

TEST(GatewayStatusMapping, ContextOverflowGetsItsCode) {
  ApiError e = api_error_from_status(grpc::StatusCode::INVALID_ARGUMENT,
                                     "prompt: 5000 tokens + max_tokens 100 exceed the context "
                                     "length 4096",
                                     Endpoint::kCompletions);
  EXPECT_EQ(e.code, "context_length_exceeded");
  EXPECT_EQ(e.param, "prompt");
  ApiError chat = api_error_from_status(grpc::StatusCode::INVALID_ARGUMENT,
                                        "request exceeds the model's context window",
                                        Endpoint::kChatCompletions);
  EXPECT_EQ(chat.code, "context_length_exceeded");
  EXPECT_EQ(chat.param, "messages");
  ApiError server_wording = api_error_from_status(
      grpc::StatusCode::INVALID_ARGUMENT,
      "max_tokens: prompt (300 tokens) + max_tokens (10) exceeds max_model_len 256",
      Endpoint::kChatCompletions);
  EXPECT_EQ(server_wording.code, "context_length_exceeded");
  EXPECT_EQ(server_wording.param, "max_tokens");
  ApiError no_room = api_error_from_status(
      grpc::StatusCode::INVALID_ARGUMENT,
      "prompt: 256 tokens leave no room to generate within max_model_len 256",
      Endpoint::kChatCompletions);
  EXPECT_EQ(no_room.code, "context_length_exceeded");
  EXPECT_EQ(no_room.param, "messages");
  EXPECT_FALSE(api_error_from_status(grpc::StatusCode::INVALID_ARGUMENT, "top_p: bad",
                                     Endpoint::kChatCompletions)
                   .code.has_value());
}

}  // namespace
}  // namespace sy::gateway
