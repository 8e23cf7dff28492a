// Lexer of the chat-template interpreter (request -> chat template -> token ids). Splits a Jinja
// source into text and tag tokens with the whitespace rules transformers configures: trim_blocks
// (drop the newline after a block tag), lstrip_blocks (drop indentation before a block tag),
// explicit `-`/`+` markers, newline normalization and the dropped trailing newline.
#pragma once

#include <string>
#include <vector>

namespace sy::jinja {

struct Token {
  enum class Type {
    Text,        // literal template text (also the inside of raw blocks)
    VarBegin,    // {{
    VarEnd,      // }}
    BlockBegin,  // {%
    BlockEnd,    // %}
    Name,
    String,      // value holds the unescaped string
    Integer,
    Float,
    Operator,    // value holds the operator text
    End,
  };
  Type type;
  std::string value;
  int line;
  int column;
};

// Throws sy::ChatTemplateError with position on unterminated tags, strings or comments.
std::vector<Token> tokenize(const std::string& source);

}  // namespace sy::jinja
