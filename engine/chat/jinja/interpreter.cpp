// Interpreter: statement execution and expression evaluation with jinja2's semantics.
// Scoping follows jinja2: a for loop (and a macro call) gets its own frame, so `set` inside a
// loop does not leak out (templates use namespace() for that); if-blocks share their frame.
#include "engine/chat/jinja/interpreter.h"

#include <ctime>
#include <memory>
#include <unordered_map>

#include "engine/chat/chat_template_error.h"
#include "engine/chat/jinja/builtins.h"

namespace sy::jinja {
namespace {

struct Frame {
  std::unordered_map<std::string, Value> vars;
  std::shared_ptr<Frame> parent;
};
using FramePtr = std::shared_ptr<Frame>;

// Error that already carries the template position of the innermost node that failed.
struct PositionedError {
  Error error;
  int line;
  int column;
};

enum class Flow { Normal, Break, Continue };

Value global_raise_exception(CallArgs& args) {
  std::string message = args.positional.empty() ? "" : args.positional[0].str();
  fail("TemplateError", message);
}

Value global_strftime_now(CallArgs& args) {
  BoundArgs a(args, "strftime_now", {"format"});
  std::string format = a.get_string(0, "");
  std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char buf[512];
  size_t n = std::strftime(buf, sizeof buf, format.c_str(), &local);
  return Value(std::string(buf, n));
}

Value global_range(CallArgs& args) {
  BoundArgs a(args, "range", {"start", "stop", "step"});
  int64_t start = 0, stop, step = a.get_int(2, 1);
  if (!a.has(0)) fail("TypeError", "range expected at least 1 argument, got 0");
  if (a.has(1)) {
    start = a.get_int(0, 0);
    stop = a.get_int(1, 0);
  } else {
    stop = a.get_int(0, 0);
  }
  if (step == 0) fail("ValueError", "range() arg 3 must not be zero");
  int64_t count = step > 0 ? (stop > start ? (stop - start + step - 1) / step : 0)
                           : (start > stop ? (start - stop - step - 1) / -step : 0);
  if (count > 100000) fail("OverflowError", "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
  std::vector<Value> items;
  for (int64_t i = 0; i < count; ++i) items.emplace_back(start + i * step);
  return Value::list(std::move(items));
}

// transformers' TemplateNamespace: attributes from a mapping and/or keywords, no `_` names.
void check_namespace_name(const std::string& name) {
  if (!name.empty() && name[0] == '_')
    fail("SecurityError", "Chat templates cannot store underscore-prefixed attributes on a namespace, but got '" + name +
                              "'. Please rename the attribute.");
}

Value make_mapping(CallArgs& args, Value result, const char* function) {
  if (args.positional.size() > 1) fail("TypeError", std::string(function) + " expected at most 1 argument");
  if (!args.positional.empty()) {
    const Value& source = args.positional[0];
    if (source.is_dict()) {
      for (const auto& [k, v] : source.as_dict().entries) result.mutable_dict().set(k, v);
    } else {
      for (const Value& pair : iterate(source)) {
        if (!pair.is_list() || pair.as_list().items.size() != 2 || !pair.as_list().items[0].is_string())
          fail("TypeError", std::string(function) + " needs (key, value) pairs with string keys");
        result.mutable_dict().set(pair.as_list().items[0].as_string(), pair.as_list().items[1]);
      }
    }
  }
  for (const auto& [k, v] : args.keyword) result.mutable_dict().set(k, v);
  return result;
}

class Interpreter {
 public:
  explicit Interpreter(const SandboxLimits& limits) : limits_(limits), root_(std::make_shared<Frame>()) {
    globals_["range"] = Value::callable("range", global_range);
    globals_["raise_exception"] = Value::callable("raise_exception", global_raise_exception);
    globals_["strftime_now"] = Value::callable("strftime_now", global_strftime_now);
    globals_["dict"] = Value::callable("dict", [](CallArgs& a) { return make_mapping(a, Value::dict(), "dict"); });
    globals_["namespace"] = Value::callable("namespace", [](CallArgs& a) {
      Value ns = make_mapping(a, Value::namespace_object(), "namespace");
      for (const auto& entry : ns.as_dict().entries) check_namespace_name(entry.first);
      return ns;
    });
  }

  // A macro stored in a frame holds that frame (its closure): break the cycle when done.
  ~Interpreter() {
    for (const FramePtr& frame : frames_with_macros_) frame->vars.clear();
  }

  std::string run(const Template& tmpl, const std::vector<std::pair<std::string, Value>>& variables) {
    for (const auto& [name, value] : variables) root_->vars[name] = value;
    set_max_value_bytes(limits_.max_output_bytes);
    std::string out;
    try {
      exec_body(tmpl.body, root_, out);
    } catch (const PositionedError& e) {
      throw ChatTemplateError(e.error.kind + ": " + e.error.message, e.line, e.column);
    } catch (const Error& e) {
      throw ChatTemplateError(e.kind + ": " + e.message);
    }
    return out;
  }

 private:
  // ---- statements ----
  Flow exec_body(const Body& body, const FramePtr& frame, std::string& out) {
    for (const StmtPtr& stmt : body) {
      Flow flow = exec_positioned(*stmt, frame, out);
      if (flow != Flow::Normal) return flow;
    }
    return Flow::Normal;
  }

  Flow exec_positioned(const Stmt& stmt, const FramePtr& frame, std::string& out) {
    try {
      return exec(stmt, frame, out);
    } catch (const Error& e) {
      throw PositionedError{e, stmt.line, stmt.column};
    }
  }

  void write(std::string& out, const std::string& text) {
    out += text;
    if (out.size() > limits_.max_output_bytes)
      fail("SandboxError", "rendered output exceeds the sandbox limit of " + std::to_string(limits_.max_output_bytes) + " bytes");
  }

  Flow exec(const Stmt& s, const FramePtr& frame, std::string& out) {
    switch (s.kind) {
      case Stmt::Kind::Text: write(out, s.text); return Flow::Normal;
      case Stmt::Kind::Output: write(out, eval(*s.expr, frame).str()); return Flow::Normal;
      case Stmt::Kind::If:
        for (size_t i = 0; i < s.conditions.size(); ++i)
          if (eval(*s.conditions[i], frame).truthy()) return exec_body(s.bodies[i], frame, out);
        return exec_body(s.else_body, frame, out);
      case Stmt::Kind::For: return exec_for(s, frame, out);
      case Stmt::Kind::Set: assign(*s.target, eval(*s.expr, frame), frame); return Flow::Normal;
      case Stmt::Kind::SetBlock: {
        // break/continue inside a captured block leave the loop before the capture is used.
        // The captured block is its own scope in jinja2: its `set`s do not leak out.
        std::string captured;
        if (Flow flow = exec_body(s.bodies[0], child_frame(frame), captured); flow != Flow::Normal) return flow;
        Value value(std::move(captured));
        if (s.expr) value = eval_filter_chain(*s.expr, value, frame);
        assign(*s.target, value, frame);
        return Flow::Normal;
      }
      case Stmt::Kind::Macro: {
        const Stmt* macro = &s;
        FramePtr closure = frame;
        frames_with_macros_.push_back(frame);
        frame->vars[s.name] = Value::callable(s.name, [this, macro, closure](CallArgs& args) {
          return call_macro(*macro, closure, args);
        });
        return Flow::Normal;
      }
      case Stmt::Kind::CallBlock: {
        const Stmt* block = &s;
        FramePtr closure = frame;
        Value caller = Value::callable("caller", [this, block, closure](CallArgs& args) {
          return call_macro(*block, closure, args);
        });
        const Expr& call_expr = *s.expr;
        Value callee = eval(*call_expr.args[0], frame);
        CallArgs args = eval_args(call_expr, frame);
        args.keyword.emplace_back("caller", caller);
        write(out, call(callee, args).str());
        return Flow::Normal;
      }
      case Stmt::Kind::FilterBlock: {
        std::string captured;
        if (Flow flow = exec_body(s.bodies[0], child_frame(frame), captured); flow != Flow::Normal) return flow;
        write(out, eval_filter_chain(*s.expr, Value(std::move(captured)), frame).str());
        return Flow::Normal;
      }
      case Stmt::Kind::With: {
        auto scope = std::make_shared<Frame>();
        scope->parent = frame;
        std::vector<Value> values;
        for (const auto& [target, value] : s.assignments) values.push_back(eval(*value, frame));
        for (size_t i = 0; i < values.size(); ++i) assign(*s.assignments[i].first, values[i], scope);
        return exec_body(s.bodies[0], scope, out);
      }
      case Stmt::Kind::Break: return Flow::Break;
      case Stmt::Kind::Continue: return Flow::Continue;
      case Stmt::Kind::Scope: return exec_body(s.bodies[0], frame, out);
    }
    return Flow::Normal;
  }

  static FramePtr child_frame(const FramePtr& parent) {
    auto child = std::make_shared<Frame>();
    child->parent = parent;
    return child;
  }

  Flow exec_for(const Stmt& s, const FramePtr& frame, std::string& out) {
    Value iterable = eval(*s.expr, frame);
    std::vector<Value> items = iterate(iterable);
    auto scope = std::make_shared<Frame>();
    scope->parent = frame;
    if (s.condition) {  // `for x in xs if cond`: filtered before loop.length/last are known
      std::vector<Value> kept;
      for (Value& item : items) {
        count_iteration();
        assign(*s.target, item, scope);
        if (eval(*s.condition, scope).truthy()) kept.push_back(std::move(item));
      }
      items = std::move(kept);
    }
    if (items.empty()) return exec_body(s.else_body, frame, out);
    const int64_t n = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < n; ++i) {
      count_iteration();
      // A fresh frame per iteration: jinja2 re-resolves outer names each time round, so a
      // `set` in one iteration is not seen by the next.
      scope = std::make_shared<Frame>();
      scope->parent = frame;
      assign(*s.target, items[static_cast<size_t>(i)], scope);
      Value loop = Value::dict();
      DictData& d = loop.mutable_dict();
      d.set("index", Value(i + 1));
      d.set("index0", Value(i));
      d.set("revindex", Value(n - i));
      d.set("revindex0", Value(n - i - 1));
      d.set("first", Value(i == 0));
      d.set("last", Value(i == n - 1));
      d.set("length", Value(n));
      d.set("depth", Value(static_cast<int64_t>(1)));
      d.set("depth0", Value(static_cast<int64_t>(0)));
      d.set("previtem", i > 0 ? items[static_cast<size_t>(i - 1)] : Value::undefined("there is no previous item"));
      d.set("nextitem", i + 1 < n ? items[static_cast<size_t>(i + 1)] : Value::undefined("there is no next item"));
      d.set("cycle", Value::callable("loop.cycle", [i](CallArgs& args) {
        if (args.positional.empty()) fail("TypeError", "no items for cycling given");
        return args.positional[static_cast<size_t>(i) % args.positional.size()];
      }));
      scope->vars["loop"] = loop;
      Flow flow = exec_body(s.bodies[0], scope, out);
      if (flow == Flow::Break) break;
    }
    return Flow::Normal;
  }

  void count_iteration() {
    if (++iterations_ > limits_.max_loop_iterations)
      fail("SandboxError", "loop iterations exceed the sandbox limit of " + std::to_string(limits_.max_loop_iterations));
  }

  void assign(const Expr& target, const Value& value, const FramePtr& frame) {
    if (target.kind == Expr::Kind::Name) {
      frame->vars[target.name] = value;
      return;
    }
    if (target.kind == Expr::Kind::Attribute) {
      Value object = eval(*target.args[0], frame);
      if (!object.is_namespace()) fail("TemplateRuntimeError", "cannot assign attribute on non-namespace object");
      check_namespace_name(target.name);
      object.mutable_dict().set(target.name, value);
      return;
    }
    // Tuple unpacking.
    std::vector<Value> items = iterate(value);
    size_t want = target.args.size();
    if (items.size() < want)
      fail("ValueError", "not enough values to unpack (expected " + std::to_string(want) + ", got " + std::to_string(items.size()) + ")");
    if (items.size() > want) fail("ValueError", "too many values to unpack (expected " + std::to_string(want) + ")");
    for (size_t i = 0; i < want; ++i) assign(*target.args[i], items[i], frame);
  }

  // Macros and call-block callers share this: bind arguments, render the body in a new frame.
  Value call_macro(const Stmt& macro, const FramePtr& closure, CallArgs& args) {
    if (depth_ >= limits_.max_recursion_depth)
      fail("SandboxError", "macro recursion exceeds the sandbox limit of " + std::to_string(limits_.max_recursion_depth));
    const bool is_caller = macro.kind == Stmt::Kind::CallBlock;
    const std::string name = is_caller ? "caller" : macro.name;
    auto frame = std::make_shared<Frame>();
    frame->parent = closure;
    std::vector<bool> bound(macro.params.size(), false);
    std::vector<Value> extra_positional;
    for (size_t i = 0; i < args.positional.size(); ++i) {
      if (i < macro.params.size()) {
        frame->vars[macro.params[i].name] = args.positional[i];
        bound[i] = true;
      } else {
        extra_positional.push_back(args.positional[i]);
      }
    }
    if (!extra_positional.empty() && !macro.uses_varargs)
      fail("TypeError", "macro '" + name + "' takes not more than " + std::to_string(macro.params.size()) + " argument(s)");
    Value extra_keywords = Value::dict();
    for (const auto& [key, value] : args.keyword) {
      size_t i = 0;
      while (i < macro.params.size() && macro.params[i].name != key) ++i;
      if (i < macro.params.size()) {
        if (bound[i]) fail("TypeError", "macro '" + name + "' got multiple values for argument '" + key + "'");
        frame->vars[key] = value;
        bound[i] = true;
      } else if (key == "caller" && !is_caller) {
        frame->vars["caller"] = value;
      } else if (macro.uses_kwargs) {
        extra_keywords.mutable_dict().set(key, value);
      } else {
        fail("TypeError", "macro '" + name + "' takes no keyword argument '" + key + "'");
      }
    }
    frame->vars["varargs"] = Value::tuple(std::move(extra_positional));
    frame->vars["kwargs"] = extra_keywords;
    ++depth_;
    struct DepthRestore {
      int& depth;
      ~DepthRestore() { --depth; }
    } restore{depth_};
    for (size_t i = 0; i < macro.params.size(); ++i) {
      if (bound[i]) continue;
      const MacroParam& p = macro.params[i];
      frame->vars[p.name] =
          p.default_value ? eval(*p.default_value, frame) : Value::undefined("parameter '" + p.name + "' was not provided");
    }
    std::string out;
    exec_body(macro.bodies[0], frame, out);
    return Value(std::move(out));
  }

  // ---- expressions ----
  Value lookup(const std::string& name, const FramePtr& frame) const {
    for (const Frame* f = frame.get(); f; f = f->parent.get()) {
      auto it = f->vars.find(name);
      if (it != f->vars.end()) return it->second;
    }
    auto it = globals_.find(name);
    if (it != globals_.end()) return it->second;
    return Value::undefined("'" + name + "' is undefined");
  }

  CallArgs eval_args(const Expr& e, const FramePtr& frame) {
    CallArgs args;
    for (size_t i = 1; i < e.args.size(); ++i) args.positional.push_back(e.args[i] ? eval(*e.args[i], frame) : Value());
    for (const auto& [key, value] : e.kwargs) args.keyword.emplace_back(key, eval(*value, frame));
    return args;
  }

  // Applies a filter chain whose innermost input slot is empty (filter blocks, `set x | f`).
  Value eval_filter_chain(const Expr& e, const Value& input, const FramePtr& frame) {
    Value inner = e.args[0] ? eval_filter_chain(*e.args[0], input, frame) : input;
    CallArgs args = eval_args(e, frame);
    return apply_filter(e.name, inner, args);
  }

  Value eval(const Expr& e, const FramePtr& frame) {
    try {
      return eval_unpositioned(e, frame);
    } catch (const Error& err) {
      throw PositionedError{err, e.line, e.column};
    }
  }

  Value eval_unpositioned(const Expr& e, const FramePtr& frame) {
    switch (e.kind) {
      case Expr::Kind::Literal: return e.literal;
      case Expr::Kind::Name: return lookup(e.name, frame);
      case Expr::Kind::List:
      case Expr::Kind::Tuple: {
        std::vector<Value> items;
        for (const auto& item : e.args) items.push_back(eval(*item, frame));
        return e.kind == Expr::Kind::List ? Value::list(std::move(items)) : Value::tuple(std::move(items));
      }
      case Expr::Kind::Dict: {
        Value d = Value::dict();
        for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
          Value key = eval(*e.args[i], frame);
          if (!key.is_string()) fail("TypeError", "chat templates support only string dictionary keys, got " + key.type_name());
          d.mutable_dict().set(key.as_string(), eval(*e.args[i + 1], frame));
        }
        return d;
      }
      case Expr::Kind::Attribute: return get_attribute(eval(*e.args[0], frame), e.name);
      case Expr::Kind::Subscript: return get_item(eval(*e.args[0], frame), eval(*e.args[1], frame));
      case Expr::Kind::Slice: {
        Value object = eval(*e.args[0], frame);
        Value parts[3];
        for (int i = 0; i < 3; ++i) parts[i] = e.args[1 + i] ? eval(*e.args[1 + i], frame) : Value::none();
        return slice(object, parts[0], parts[1], parts[2]);
      }
      case Expr::Kind::Call: {
        Value callee = eval(*e.args[0], frame);
        CallArgs args = eval_args(e, frame);
        return call(callee, args);
      }
      case Expr::Kind::Filter: {
        Value input = eval(*e.args[0], frame);
        CallArgs args = eval_args(e, frame);
        return apply_filter(e.name, input, args);
      }
      case Expr::Kind::Test: {
        Value subject = eval(*e.args[0], frame);
        CallArgs args = eval_args(e, frame);
        return Value(apply_test(e.name, subject, args) != e.negated);
      }
      case Expr::Kind::Unary: {
        Value v = eval(*e.args[0], frame);
        if (e.name == "not") return Value(!v.truthy());
        return negate(v, e.name == "-");
      }
      case Expr::Kind::Binary: {
        Value left = eval(*e.args[0], frame);
        if (e.name == "and") return left.truthy() ? eval(*e.args[1], frame) : left;
        if (e.name == "or") return left.truthy() ? left : eval(*e.args[1], frame);
        return binary_op(e.name, left, eval(*e.args[1], frame));
      }
      case Expr::Kind::Compare: {
        Value left = eval(*e.args[0], frame);
        for (size_t i = 0; i < e.ops.size(); ++i) {
          Value right = eval(*e.args[i + 1], frame);
          if (!compare(e.ops[i], left, right)) return Value(false);
          left = std::move(right);
        }
        return Value(true);
      }
      case Expr::Kind::Concat: {
        std::string out;
        for (const auto& part : e.args) {
          out += eval(*part, frame).str();
          check_value_size(out.size());
        }
        return Value(std::move(out));
      }
      case Expr::Kind::Conditional:
        if (eval(*e.args[1], frame).truthy()) return eval(*e.args[0], frame);
        return e.args[2] ? eval(*e.args[2], frame) : Value::undefined("the inline if-expression on line " + std::to_string(e.line) + " evaluated to false and no else section was defined.");
    }
    return Value();
  }

  static bool compare(const std::string& op, const Value& a, const Value& b) {
    if (op == "==") return equals(a, b);
    if (op == "!=") return !equals(a, b);
    if (op == "<" || op == ">" || op == "<=" || op == ">=") return compare_order(op, a, b);
    if (op == "in") return contains(b, a);
    if (op == "notin") return !contains(b, a);
    fail("TypeError", "unknown comparison " + op);
  }

  const SandboxLimits& limits_;
  FramePtr root_;
  std::unordered_map<std::string, Value> globals_;
  std::vector<FramePtr> frames_with_macros_;
  int64_t iterations_ = 0;
  int depth_ = 0;
};

}  // namespace

std::string render(const Template& tmpl, const std::vector<std::pair<std::string, Value>>& variables,
                   const SandboxLimits& limits) {
  return Interpreter(limits).run(tmpl, variables);
}

}  // namespace sy::jinja
