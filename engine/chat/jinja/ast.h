// Syntax tree of a parsed chat template (request -> chat template -> token ids). One generic
// node type per layer (expressions, statements) keeps the parser and interpreter small; the
// comment on each kind says which fields it uses.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/chat/jinja/value.h"

namespace sy::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    Literal,    // literal
    Name,       // name
    List,       // args = items
    Tuple,      // args = items
    Dict,       // args = key0, value0, key1, value1, ...
    Attribute,  // args[0] = object, name = attribute
    Subscript,  // args[0] = object, args[1] = index
    Slice,      // args[0] = object, args[1..3] = start, stop, step (nullptr when omitted)
    Call,       // args[0] = callee, args[1..] = positional, kwargs
    Filter,     // name, args[0] = input (nullptr inside {% filter %} blocks), args[1..], kwargs
    Test,       // name, args[0] = subject, args[1..]; negated for `is not`
    Unary,      // name = "-", "+" or "not", args[0]
    Binary,     // name = operator (+ - * / // % ** and or), args[0], args[1]
    Compare,    // args = operands, ops = operators between them (== != < <= > >= in notin)
    Concat,     // args joined with ~
    Conditional // args[0] = value, args[1] = condition, args[2] = else value (nullptr: undefined)
  };
  Kind kind;
  int line = 0;
  int column = 0;
  std::string name;
  Value literal;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;
  bool negated = false;
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct MacroParam {
  std::string name;
  ExprPtr default_value;  // nullptr: required
};

struct Stmt {
  enum class Kind {
    Text,       // text
    Output,     // expr
    If,         // conditions[i] guards bodies[i]; else_body
    For,        // target (Name or Tuple), expr = iterable, condition = inline filter, bodies[0], else_body
    Set,        // target (Name, Tuple or Attribute on a namespace), expr
    SetBlock,   // target, bodies[0], expr = filter chain applied to the captured text (optional)
    Macro,      // name, params, bodies[0]
    CallBlock,  // expr = call expression, params = caller's parameters, bodies[0]
    FilterBlock,// expr = filter chain, bodies[0]
    With,       // targets/values in assignments, bodies[0]
    Break,
    Continue,
    Scope,      // bodies[0], rendered inline (transformers' {% generation %} block)
  };
  Kind kind;
  int line = 0;
  int column = 0;
  std::string text;
  std::string name;
  ExprPtr expr;
  ExprPtr target;
  ExprPtr condition;
  std::vector<ExprPtr> conditions;
  std::vector<Body> bodies;
  Body else_body;
  std::vector<MacroParam> params;
  std::vector<std::pair<ExprPtr, ExprPtr>> assignments;
  bool uses_caller = false;   // Macro: body mentions `caller`
  bool uses_varargs = false;  // Macro: body mentions `varargs`
  bool uses_kwargs = false;   // Macro: body mentions `kwargs`
};

struct Template {
  Body body;
};

}  // namespace sy::jinja
