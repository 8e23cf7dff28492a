// Interpreter of the chat-template engine (request -> chat template -> token ids): walks the
// syntax tree with jinja2's scoping rules and writes the prompt text. It has no access to files,
// processes or the environment; loops, macro recursion and output size are bounded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "engine/chat/jinja/ast.h"

namespace sy::jinja {

struct SandboxLimits {
  int64_t max_loop_iterations = 1'000'000;  // total for-loop iterations per render
  int max_recursion_depth = 128;            // nested macro/caller calls
  size_t max_output_bytes = 32u << 20;      // rendered text, and any single string or list built
  int max_nesting_depth = 256;              // parse depth of expressions and blocks
};

// Renders `tmpl` with `variables` (after jinja's default globals: range, dict, namespace,
// raise_exception, strftime_now). Throws sy::ChatTemplateError carrying the template position.
std::string render(const Template& tmpl, const std::vector<std::pair<std::string, Value>>& variables,
                   const SandboxLimits& limits);

}  // namespace sy::jinja
