// Sandbox robustness of the chat-template interpreter: templates come from model repositories
// and are untrusted, so malformed or hostile input must end in a ChatTemplateError, never in a
// crash, a hang or unbounded memory. Seeded random sources (mutated real templates and token
// soup) are parsed and rendered; every outcome other than text or ChatTemplateError fails.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "engine/chat/chat_template.h"

namespace sy {
namespace {

const std::filesystem::path kTemplates = std::filesystem::path(SY_TEST_DATA_DIR) / "chat" / "templates";

std::string read(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ChatTemplateInputs sample_inputs() {
  ChatTemplateInputs in;
  in.messages = nlohmann::json::parse(R"([
    {"role": "system", "content": "sys"},
    {"role": "user", "content": "hi <think>x</think>"},
    {"role": "assistant", "content": "yo", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"a": 1}}}]},
    {"role": "tool", "content": "42"}
  ])");
  in.tools = nlohmann::json::parse(R"([{"type": "function", "function": {"name": "f", "description": "d",
    "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}}}])");
  return in;
}

// Renders `source` with tight limits; returns false only if something other than text or a
// ChatTemplateError came out.
bool survives(const std::string& source, const ChatTemplateInputs& in) {
  ChatTemplateLimits limits;
  limits.max_loop_iterations = 20000;
  limits.max_output_bytes = 1u << 20;
  limits.max_recursion_depth = 64;
  try {
    ChatTemplate t = ChatTemplate::from_string(source, "<s>", "</s>");
    t.set_limits(limits);
    t.render(in);
  } catch (const ChatTemplateError&) {
  } catch (const std::exception& e) {
    ADD_FAILURE() << "non-template exception " << e.what() << " for:\n" << source;
    return false;
  }
  return true;
}

TEST(JinjaRobustness, MutatedFamilyTemplatesFailCleanly) {
  std::mt19937 rng(12345);
  const ChatTemplateInputs in = sample_inputs();
  const std::string alphabet = "{}%#-+()[]|.,:~'\"\\ \n\tabcdefxyz0123456789=<>!*/_";
  size_t rendered = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kTemplates)) {
    const std::string original = read(entry.path());
    ASSERT_FALSE(original.empty());
    for (int round = 0; round < 150; ++round) {
      std::string source = original;
      int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits; ++e) {
        size_t at = rng() % source.size();
        switch (rng() % 3) {
          case 0: source.erase(at, 1 + rng() % 8); break;                          // delete a span
          case 1: source.insert(at, 1, alphabet[rng() % alphabet.size()]); break;  // insert a char
          default: source[at] = alphabet[rng() % alphabet.size()]; break;         // replace a char
        }
        if (source.empty()) source = "x";
      }
      ASSERT_TRUE(survives(source, in));
      ++rendered;
    }
  }
  EXPECT_GE(rendered, 5u * 150u);
}

TEST(JinjaRobustness, TokenSoupFailsCleanly) {
  std::mt19937 rng(777);
  const ChatTemplateInputs in = sample_inputs();
  const std::vector<std::string> pieces = {
      "{{", "}}", "{%", "%}", "{#", "#}", "-", "+", "if", "elif", "else", "endif", "for", "in", "endfor", "set",
      "endset", "macro", "endmacro", "call", "endcall", "filter", "endfilter", "raw", "endraw", "namespace(",
      "messages", "loop", ".", "[", "]", "(", ")", ",", "'s'", "\"q\"", "1", "2.5", "|", "length", "tojson", "is",
      "not", "defined", "and", "or", "~", "*", "**", "//", "%", "=", "==", " ", "\n", "x", "caller", "break",
      "recursive", "range(", "9999", "raise_exception(", "{", "}", ":", "-1", "none", "true", "items()"};
  for (int round = 0; round < 3000; ++round) {
    std::string source;
    int n = 1 + static_cast<int>(rng() % 30);
    for (int i = 0; i < n; ++i) source += pieces[rng() % pieces.size()] + (rng() % 2 ? " " : "");
    ASSERT_TRUE(survives(source, in));
  }
}

TEST(JinjaRobustness, HostileTemplatesHitSandboxLimits) {
  const ChatTemplateInputs in = sample_inputs();
  const std::vector<std::string> hostile = {
      // nested loops multiply iterations
      "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
      // unbounded recursion through caller()
      "{% macro m() %}{% call m() %}{% endcall %}{{ caller() }}{% endmacro %}{{ m() }}",
      // exponential string growth
      "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
      // list growth through concatenation
      "{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}",
      // huge repetition and huge joins
      "{{ 'x' * 10000000000 }}",
      "{{ ([['a'] * 100000] * 1000)|map('join')|join }}",
      // Python object escapes
      "{{ ''.__class__.__mro__[1].__subclasses__() }}",
      "{{ messages.__class__ }}{{ cycler.__init__.__globals__ }}",
      "{{ namespace.__init__ }}{{ raise_exception.__globals__ }}",
  };
  for (const auto& source : hostile) {
    SCOPED_TRACE(source);
    ChatTemplateLimits limits;
    limits.max_output_bytes = 1u << 20;
    ChatTemplate t = ChatTemplate::from_string(source);
    t.set_limits(limits);
    try {
      std::string out = t.render(in);
      EXPECT_LE(out.size(), 1u << 20);
    } catch (const ChatTemplateError&) {
    }
  }
}

}  // namespace
}  // namespace sy
