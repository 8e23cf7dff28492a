// Parser of the chat-template interpreter (request -> chat template -> token ids): tokens ->
// syntax tree, with jinja2's operator precedence and the statements chat templates use (if, for,
// set, macro, call, filter, with, break/continue, raw, transformers' generation block).
// Anything that would reach outside the template (include, import, extends) is a syntax error:
// the sandbox has no loader.
#pragma once

#include <string>

#include "engine/chat/jinja/ast.h"

namespace sy::jinja {

// Throws sy::ChatTemplateError with the line/column of the offending token. `max_depth` bounds
// expression and block nesting so hostile templates cannot exhaust the stack.
Template parse(const std::string& source, int max_depth);

}  // namespace sy::jinja
