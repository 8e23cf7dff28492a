// Chat-template conformance: every case of tests/data/chat/goldens.json (written by
// tools/make_chat_goldens.py with transformers' own renderer) must render byte for byte the
// same, or fail where transformers fails. Plus the API's loading rules and the sandbox bounds.
#include "engine/chat/chat_template.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

namespace sy {
namespace {

const std::filesystem::path kData = SY_TEST_DATA_DIR;

// SY_CHAT_GOLDENS points at a wider sweep written by make_chat_goldens.py --out.
template <typename Json>
Json load_goldens() {
  const char* override_path = std::getenv("SY_CHAT_GOLDENS");
  std::ifstream in(override_path ? std::filesystem::path(override_path) : kData / "chat" / "goldens.json");
  EXPECT_TRUE(in) << "missing tests/data/chat/goldens.json (run tools/make_chat_goldens.py)";
  return Json::parse(in);
}

template <typename Inputs, typename Json>
Inputs inputs_of(const Json& j) {
  Inputs in;
  in.messages = j.at("messages");
  in.tools = j.at("tools");
  in.documents = j.at("documents");
  in.add_generation_prompt = j.at("add_generation_prompt").template get<bool>();
  in.extra = j.at("extra");
  return in;
}

// Error kinds whose message we reproduce exactly (Python/jinja2 text); for the others (Python
// RecursionError, compile-time SyntaxError, missing loader) only the failure itself must match.
const std::set<std::string> kMessageMatched = {"TemplateError",   "UndefinedError",   "TypeError",
                                               "SecurityError",   "ValueError",       "ZeroDivisionError",
                                               "OverflowError",   "TemplateRuntimeError", "TemplateAssertionError"};

TEST(ChatTemplateGoldens, RendersLikeTransformers) {
  nlohmann::json goldens = load_goldens<nlohmann::json>();
  // The same file with key order kept, for cases rendered through OrderedChatTemplateInputs.
  nlohmann::ordered_json ordered_goldens = load_goldens<nlohmann::ordered_json>();
  const auto& templates = goldens.at("templates");
  size_t checked = 0, ordered = 0;
  for (size_t i = 0; i < goldens.at("cases").size(); ++i) {
    const auto& c = goldens.at("cases")[i];
    const std::string name = c.at("name");
    SCOPED_TRACE(name);
    const auto& in = c.at("inputs");
    std::string rendered;
    std::optional<ChatTemplateError> error;
    try {
      ChatTemplate t = ChatTemplate::from_string(templates.at(c.at("template").get<std::string>()),
                                                 in.at("bos_token"), in.at("eos_token"));
      if (c.value("ordered_inputs", false)) {
        ++ordered;
        rendered = t.render_ordered(inputs_of<OrderedChatTemplateInputs>(ordered_goldens.at("cases")[i].at("inputs")));
      } else {
        rendered = t.render(inputs_of<ChatTemplateInputs>(in));
      }
    } catch (const ChatTemplateError& e) {
      error = e;
    }
    ++checked;
    if (c.contains("expected")) {
      EXPECT_FALSE(error) << "unexpected error: " << (error ? error->what() : "");
      EXPECT_EQ(rendered, c.at("expected").get<std::string>());
      continue;
    }
    const auto& expected = c.at("error");
    ASSERT_TRUE(error) << "expected " << expected.dump() << ", rendered: " << rendered;
    if (expected.contains("line")) EXPECT_EQ(error->line(), expected.at("line").get<int>()) << error->what();
    const std::string type = expected.at("type");
    if (kMessageMatched.count(type)) {
      EXPECT_NE(error->message().find(expected.at("message").get<std::string>()), std::string::npos)
          << "got: " << error->what() << "\nwant: " << expected.dump();
    }
  }
  EXPECT_GT(checked, 100u);
  EXPECT_GT(ordered, 3u);
}

TEST(ChatTemplateLoading, FixtureModelDirectories) {
  // Every fixture model ships its template in tokenizer_config.json.
  for (const char* model : {"qwen3moe-f32", "mixtral-f32", "olmoe-f32", "qwen2moe-f32"}) {
    SCOPED_TRACE(model);
    ChatTemplate t = ChatTemplate::from_model_dir(kData / "models" / model);
    EXPECT_FALSE(t.empty());
    ChatTemplateInputs in;
    in.messages = nlohmann::json::array({{{"role", "user"}, {"content", "hi"}}});
    EXPECT_NE(t.render(in).find("hi"), std::string::npos);
  }
  // Mixtral's fixture starts with bos_token "<s>" read from tokenizer_config.json.
  ChatTemplateInputs in;
  in.messages = nlohmann::json::array({{{"role", "user"}, {"content", "x"}}});
  EXPECT_EQ(ChatTemplate::from_model_dir(kData / "models" / "mixtral-f32").render(in).rfind("<s>", 0), 0u);
}

class TempDir {
 public:
  TempDir() : path_(std::filesystem::temp_directory_path() / ("sy_chat_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++))) {
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }
  void write(const std::string& name, const std::string& text) const { std::ofstream(path_ / name) << text; }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

TEST(ChatTemplateLoading, JinjaFileWinsOverConfigAndTokensMayBeAddedTokens) {
  TempDir dir;
  dir.write("tokenizer_config.json", R"({"chat_template": "config", "bos_token": {"content": "<B>", "lstrip": false},
                                         "eos_token": "<E>"})");
  dir.write("chat_template.jinja", "file {{ bos_token }}{{ eos_token }}\n");
  ChatTemplateInputs in;
  EXPECT_EQ(ChatTemplate::from_model_dir(dir.path()).render(in), "file <B><E>");
}

TEST(ChatTemplateLoading, NamedTemplateListUsesDefault) {
  TempDir dir;
  dir.write("tokenizer_config.json",
            R"({"chat_template": [{"name": "tool_use", "template": "tools"}, {"name": "default", "template": "plain"}]})");
  EXPECT_EQ(ChatTemplate::from_model_dir(dir.path()).render({}), "plain");
  TempDir no_default;
  no_default.write("tokenizer_config.json", R"({"chat_template": [{"name": "tool_use", "template": "tools"}]})");
  EXPECT_THROW(ChatTemplate::from_model_dir(no_default.path()), ChatTemplateError);
}

TEST(ChatTemplateLoading, MissingTemplateIsAnError) {
  TempDir dir;
  dir.write("tokenizer_config.json", R"({"bos_token": "<s>"})");
  EXPECT_THROW(ChatTemplate::from_model_dir(dir.path()), ChatTemplateError);
  EXPECT_TRUE(ChatTemplate().empty());
  EXPECT_THROW(ChatTemplate().render({}), ChatTemplateError);
}

TEST(ChatTemplateSandbox, LoopBound) {
  ChatTemplate t = ChatTemplate::from_string("{% for i in range(100) %}{% for j in range(100) %}.{% endfor %}{% endfor %}");
  ChatTemplateLimits limits;
  limits.max_loop_iterations = 5000;
  t.set_limits(limits);
  try {
    t.render({});
    FAIL() << "loop bound not enforced";
  } catch (const ChatTemplateError& e) {
    EXPECT_NE(std::string(e.what()).find("loop iterations exceed"), std::string::npos) << e.what();
    EXPECT_EQ(e.line(), 1);
  }
  limits.max_loop_iterations = 20000;
  t.set_limits(limits);
  EXPECT_EQ(t.render({}).size(), 10000u);
}

TEST(ChatTemplateSandbox, RecursionBound) {
  ChatTemplate t = ChatTemplate::from_string("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
  EXPECT_THROW(t.render({}), ChatTemplateError);
  ChatTemplate depth = ChatTemplate::from_string(
      "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{% else %}bottom{% endif %}{% endmacro %}{{ f(50) }}");
  EXPECT_EQ(depth.render({}), "bottom");
}

TEST(ChatTemplateSandbox, OutputAndValueBounds) {
  ChatTemplateLimits limits;
  limits.max_output_bytes = 1000;
  ChatTemplate loop = ChatTemplate::from_string("{% for i in range(2000) %}x{% endfor %}");
  loop.set_limits(limits);
  EXPECT_THROW(loop.render({}), ChatTemplateError);
  // A single huge string is refused before it is built.
  ChatTemplate repeat = ChatTemplate::from_string("{{ 'abc' * 100000000000 }}");
  EXPECT_THROW(repeat.render({}), ChatTemplateError);
  ChatTemplate doubling = ChatTemplate::from_string(
      "{% set ns = namespace(s='x') %}{% for i in range(80) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}");
  limits.max_output_bytes = 1u << 20;
  doubling.set_limits(limits);
  EXPECT_THROW(doubling.render({}), ChatTemplateError);
}

TEST(ChatTemplateSandbox, NestingBound) {
  std::string deep(100000, '(');
  EXPECT_THROW(ChatTemplate::from_string("{{ " + deep + " }}"), ChatTemplateError);
  std::string blocks;
  for (int i = 0; i < 5000; ++i) blocks += "{% if true %}";
  EXPECT_THROW(ChatTemplate::from_string(blocks), ChatTemplateError);
}

TEST(ChatTemplateErrors, SyntaxErrorNamesLineAndColumn) {
  try {
    ChatTemplate::from_string("ok\n  {{ messages[0] + }}\n");
    FAIL() << "syntax error not reported";
  } catch (const ChatTemplateError& e) {
    EXPECT_EQ(e.line(), 2);
    EXPECT_EQ(e.column(), 20);  // the `}}` where an operand was expected
    EXPECT_NE(std::string(e.what()).find("line 2, column 20"), std::string::npos) << e.what();
  }
}

TEST(ChatTemplateErrors, RaiseExceptionCarriesMessageAndPosition) {
  ChatTemplate t = ChatTemplate::from_string("a\nb {{ raise_exception('bad roles') }}");
  try {
    t.render({});
    FAIL();
  } catch (const ChatTemplateError& e) {
    EXPECT_EQ(e.line(), 2);
    EXPECT_NE(e.message().find("bad roles"), std::string::npos);
  }
}

TEST(ChatTemplateInputsTest, ExtraMayNotShadowArguments) {
  ChatTemplate t = ChatTemplate::from_string("{{ messages|length }}");
  ChatTemplateInputs in;
  in.extra = {{"messages", 1}};
  EXPECT_THROW(t.render(in), ChatTemplateError);
  in.extra = {{"bos_token", "<override>"}};
  EXPECT_EQ(ChatTemplate::from_string("{{ bos_token }}", "<s>").render(in), "<override>");
}

TEST(ChatTemplateInputsTest, ConcurrentRendersOfOneTemplateAgree) {
  // The server renders one ChatTemplate from many request threads.
  std::ifstream in(kData / "chat" / "templates" / "gpt_oss_style.jinja");
  std::stringstream source;
  source << in.rdbuf();
  const ChatTemplate t = ChatTemplate::from_string(source.str());
  ChatTemplateInputs inputs;
  inputs.messages = nlohmann::json::array({{{"role", "user"}, {"content", "hello"}}});
  inputs.tools = nlohmann::json::parse(R"([{"type": "function", "function": {"name": "f", "description": "d",
    "parameters": {"type": "object", "properties": {"a": {"type": "array", "items": {"type": "string"}}}}}}])");
  const std::string expected = t.render(inputs);
  std::vector<std::string> results(8);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < results.size(); ++i)
    threads.emplace_back([&, i] {
      for (int r = 0; r < 50; ++r) results[i] = t.render(inputs);
    });
  for (auto& th : threads) th.join();
  for (const auto& r : results) EXPECT_EQ(r, expected);
}

TEST(ChatTemplateInputsTest, CopiesShareTheParsedTemplate) {
  ChatTemplate a = ChatTemplate::from_string("{{ 1 + 1 }}");
  ChatTemplate b = a;
  ChatTemplate c = std::move(a);
  EXPECT_EQ(b.render({}), "2");
  EXPECT_EQ(c.render({}), "2");
}

}  // namespace
}  // namespace sy
