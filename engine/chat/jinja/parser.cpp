// Parser: recursive descent mirroring jinja2/parser.py so that precedence and the accepted
// syntax are the same (for example `-x|abs` filters the negation, `not x is y` negates the test).
#include "engine/chat/jinja/parser.h"

#include <set>

#include "engine/chat/chat_template_error.h"
#include "engine/chat/jinja/lexer.h"

namespace sy::jinja {
namespace {

using T = Token::Type;

class Parser {
 public:
  Parser(std::vector<Token> tokens, int max_depth) : tokens_(std::move(tokens)), max_depth_(max_depth) {}

  Template parse_template() {
    Template t;
    std::string end_tag;
    t.body = parse_body({}, end_tag);
    return t;
  }

 private:
  // ---- token helpers ----
  const Token& peek(size_t ahead = 0) const { return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)]; }
  const Token& next() {
    const Token& t = tokens_[pos_];
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return t;
  }
  bool is_op(const char* op, size_t ahead = 0) const { return peek(ahead).type == T::Operator && peek(ahead).value == op; }
  bool is_name(const char* name, size_t ahead = 0) const { return peek(ahead).type == T::Name && peek(ahead).value == name; }
  bool skip_op(const char* op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }
  bool skip_name(const char* name) {
    if (!is_name(name)) return false;
    next();
    return true;
  }
  static std::string describe(const Token& t) {
    switch (t.type) {
      case T::BlockEnd: return "end of statement block";
      case T::VarEnd: return "end of print statement";
      case T::End: return "end of template";
      case T::Operator: return t.value;
      case T::Name: return t.value;
      case T::String: return "string";
      case T::Integer: return "integer";
      case T::Float: return "float";
      default: return "template data";
    }
  }
  [[noreturn]] void error_at(const Token& t, const std::string& message) const {
    throw ChatTemplateError(message, t.line, t.column);
  }
  void expect_op(const char* op) {
    if (!skip_op(op)) error_at(peek(), std::string("expected token '") + op + "', got '" + describe(peek()) + "'");
  }
  std::string expect_name() {
    if (peek().type != T::Name) error_at(peek(), "expected token 'name', got '" + describe(peek()) + "'");
    return next().value;
  }
  void expect_block_end() {
    if (peek().type != T::BlockEnd) error_at(peek(), "expected token 'end of statement block', got '" + describe(peek()) + "'");
    next();
  }

  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& parser) : p(parser) {
      if (++p.depth_ > p.max_depth_) p.error_at(p.peek(), "template nesting exceeds the sandbox limit of " + std::to_string(p.max_depth_));
    }
    ~DepthGuard() { --p.depth_; }
  };

  ExprPtr make(Expr::Kind kind, const Token& at) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = at.line;
    e->column = at.column;
    return e;
  }
  StmtPtr make_stmt(Stmt::Kind kind, const Token& at) {
    auto s = std::make_unique<Stmt>();
    s->kind = kind;
    s->line = at.line;
    s->column = at.column;
    return s;
  }

  // ---- statements ----
  // Parses until a block tag whose name is in `end_tags` (left unconsumed after `{%`; its name
  // is stored in `end_tag`). At top level `end_tags` is empty and the body runs to the end.
  Body parse_body(const std::set<std::string>& end_tags, std::string& end_tag) {
    DepthGuard guard(*this);
    Body body;
    while (true) {
      const Token& t = peek();
      if (t.type == T::End) {
        if (!end_tags.empty()) {
          std::string wanted;
          for (const auto& tag : end_tags) wanted += (wanted.empty() ? "'" : " or '") + tag + "'";
          error_at(t, "Unexpected end of template. Jinja was looking for the following tags: " + wanted + ".");
        }
        return body;
      }
      if (t.type == T::Text) {
        auto s = make_stmt(Stmt::Kind::Text, t);
        s->text = next().value;
        body.push_back(std::move(s));
      } else if (t.type == T::VarBegin) {
        auto s = make_stmt(Stmt::Kind::Output, next());
        s->expr = parse_tuple(true);
        if (peek().type != T::VarEnd) error_at(peek(), "unexpected '" + describe(peek()) + "'");
        next();
        body.push_back(std::move(s));
      } else if (t.type == T::BlockBegin) {
        const Token& begin = next();
        const Token& tag = peek();
        if (tag.type != T::Name) error_at(tag, "tag name expected");
        if (end_tags.count(tag.value)) {
          end_tag = next().value;
          return body;
        }
        body.push_back(parse_statement(begin));
      } else {
        error_at(t, "unexpected '" + describe(t) + "'");
      }
    }
  }

  StmtPtr parse_statement(const Token& begin) {
    const Token& tag = next();
    const std::string& name = tag.value;
    if (name == "if") return parse_if(begin);
    if (name == "for") return parse_for(begin);
    if (name == "set") return parse_set(begin);
    if (name == "macro") return parse_macro(begin);
    if (name == "call") return parse_call_block(begin);
    if (name == "filter") return parse_filter_block(begin);
    if (name == "with") return parse_with(begin);
    if (name == "generation") {
      // transformers' assistant-mask extension: the body renders as-is.
      auto s = make_stmt(Stmt::Kind::Scope, begin);
      expect_block_end();
      s->bodies.push_back(parse_required_body({"endgeneration"}));
      return s;
    }
    if (name == "break" || name == "continue") {
      if (loop_depth_ == 0) error_at(tag, "Encountered unknown tag '" + name + "'.");
      auto s = make_stmt(name == "break" ? Stmt::Kind::Break : Stmt::Kind::Continue, begin);
      expect_block_end();
      return s;
    }
    if (name == "include" || name == "import" || name == "from" || name == "extends")
      error_at(tag, "'" + name + "' needs a template loader: no loader for this environment specified");
    error_at(tag, "Encountered unknown tag '" + name + "'.");
  }

  // Body that must end with one of `end_tags`; consumes the closing tag's `%}`.
  Body parse_required_body(const std::set<std::string>& end_tags) {
    std::string end_tag;
    Body body = parse_body(end_tags, end_tag);
    expect_block_end();
    return body;
  }

  StmtPtr parse_if(const Token& begin) {
    auto s = make_stmt(Stmt::Kind::If, begin);
    s->conditions.push_back(parse_tuple(false));
    expect_block_end();
    while (true) {
      std::string end_tag;
      Body body = parse_body({"elif", "else", "endif"}, end_tag);
      s->bodies.push_back(std::move(body));
      if (end_tag == "elif") {
        s->conditions.push_back(parse_tuple(false));
        expect_block_end();
        continue;
      }
      if (end_tag == "else") {
        expect_block_end();
        s->else_body = parse_required_body({"endif"});
      } else {
        expect_block_end();
      }
      return s;
    }
  }

  StmtPtr parse_for(const Token& begin) {
    auto s = make_stmt(Stmt::Kind::For, begin);
    s->target = parse_assign_target(false);
    if (!skip_name("in")) error_at(peek(), "expected token 'in', got '" + describe(peek()) + "'");
    s->expr = parse_tuple(false, /*stop_at_name=*/"recursive");
    if (skip_name("if")) s->condition = parse_expression(true);
    if (is_name("recursive")) error_at(peek(), "recursive for loops are not supported");
    expect_block_end();
    ++loop_depth_;
    std::string end_tag;
    s->bodies.push_back(parse_body({"endfor", "else"}, end_tag));
    --loop_depth_;
    expect_block_end();
    if (end_tag == "else") s->else_body = parse_required_body({"endfor"});
    return s;
  }

  StmtPtr parse_set(const Token& begin) {
    auto target = parse_assign_target(true);
    if (skip_op("=")) {
      auto s = make_stmt(Stmt::Kind::Set, begin);
      s->target = std::move(target);
      s->expr = parse_tuple(true);
      expect_block_end();
      return s;
    }
    auto s = make_stmt(Stmt::Kind::SetBlock, begin);
    s->target = std::move(target);
    if (is_op("|")) s->expr = parse_filter_chain(nullptr);
    expect_block_end();
    s->bodies.push_back(parse_required_body({"endset"}));
    return s;
  }

  StmtPtr parse_macro(const Token& begin) {
    auto s = make_stmt(Stmt::Kind::Macro, begin);
    s->name = expect_name();
    s->params = parse_signature();
    expect_block_end();
    macros_.push_back(s.get());
    int saved_loop_depth = loop_depth_;
    loop_depth_ = 0;
    s->bodies.push_back(parse_required_body({"endmacro"}));
    loop_depth_ = saved_loop_depth;
    macros_.pop_back();
    return s;
  }

  std::vector<MacroParam> parse_signature() {
    std::vector<MacroParam> params;
    expect_op("(");
    while (!is_op(")")) {
      if (!params.empty()) expect_op(",");
      if (is_op(")")) break;
      MacroParam p;
      p.name = expect_name();
      if (skip_op("=")) p.default_value = parse_expression(true);
      params.push_back(std::move(p));
    }
    expect_op(")");
    return params;
  }

  StmtPtr parse_call_block(const Token& begin) {
    auto s = make_stmt(Stmt::Kind::CallBlock, begin);
    if (is_op("(")) s->params = parse_signature();
    const Token& at = peek();
    s->expr = parse_expression(true);
    if (s->expr->kind != Expr::Kind::Call) error_at(at, "expected call");
    expect_block_end();
    auto macro = std::make_unique<Stmt>();  // the caller: an anonymous macro, so `caller` lookups are scanned
    macros_.push_back(macro.get());
    s->bodies.push_back(parse_required_body({"endcall"}));
    macros_.pop_back();
    return s;
  }

  StmtPtr parse_filter_block(const Token& begin) {
    auto s = make_stmt(Stmt::Kind::FilterBlock, begin);
    s->expr = parse_filter_chain(nullptr, /*leading_pipe=*/false);
    expect_block_end();
    s->bodies.push_back(parse_required_body({"endfilter"}));
    return s;
  }

  StmtPtr parse_with(const Token& begin) {
    auto s = make_stmt(Stmt::Kind::With, begin);
    while (peek().type != T::BlockEnd) {
      if (!s->assignments.empty()) expect_op(",");
      auto target = parse_assign_target(false);
      expect_op("=");
      s->assignments.emplace_back(std::move(target), parse_expression(true));
    }
    expect_block_end();
    s->bodies.push_back(parse_required_body({"endwith"}));
    return s;
  }

  // Name, `a, b` tuple of names, or (with_namespace) `ns.attr`.
  ExprPtr parse_assign_target(bool with_namespace) {
    const Token& at = peek();
    auto single = [&]() {
      const Token& name_token = peek();
      auto e = make(Expr::Kind::Name, name_token);
      e->name = expect_name();
      if (with_namespace && is_op(".")) {
        next();
        auto attr = make(Expr::Kind::Attribute, name_token);
        attr->name = expect_name();
        attr->args.push_back(std::move(e));
        return attr;
      }
      return e;
    };
    bool parenthesized = skip_op("(");
    auto first = single();
    if (!is_op(",")) {
      if (parenthesized) expect_op(")");
      return first;
    }
    auto tuple = make(Expr::Kind::Tuple, at);
    tuple->args.push_back(std::move(first));
    while (skip_op(",")) {
      if (peek().type != T::Name) break;
      tuple->args.push_back(single());
    }
    if (parenthesized) expect_op(")");
    return tuple;
  }

  // ---- expressions ----
  // An expression or an unparenthesized tuple `a, b`.
  ExprPtr parse_tuple(bool with_condexpr, const char* stop_at_name = nullptr) {
    const Token& at = peek();
    auto first = parse_expression(with_condexpr);
    if (!is_op(",")) return first;
    auto tuple = make(Expr::Kind::Tuple, at);
    tuple->args.push_back(std::move(first));
    while (skip_op(",")) {
      const Token& t = peek();
      if (t.type == T::BlockEnd || t.type == T::VarEnd || (stop_at_name && is_name(stop_at_name)) ||
          (!with_condexpr && is_name("if")))
        break;
      tuple->args.push_back(parse_expression(with_condexpr));
    }
    return tuple;
  }

  ExprPtr parse_expression(bool with_condexpr) {
    DepthGuard guard(*this);
    if (!with_condexpr) return parse_or();
    auto expr = parse_or();
    while (is_name("if")) {
      const Token& at = next();
      auto cond = make(Expr::Kind::Conditional, at);
      auto test = parse_or();
      ExprPtr otherwise;
      if (skip_name("else")) otherwise = parse_expression(true);
      cond->args.push_back(std::move(expr));
      cond->args.push_back(std::move(test));
      cond->args.push_back(std::move(otherwise));
      expr = std::move(cond);
    }
    return expr;
  }

  ExprPtr binary(const Token& at, const std::string& op, ExprPtr left, ExprPtr right) {
    auto e = make(Expr::Kind::Binary, at);
    e->name = op;
    e->args.push_back(std::move(left));
    e->args.push_back(std::move(right));
    return e;
  }

  ExprPtr parse_or() {
    auto left = parse_and();
    while (is_name("or")) {
      const Token& at = next();
      left = binary(at, "or", std::move(left), parse_and());
    }
    return left;
  }

  ExprPtr parse_and() {
    auto left = parse_not();
    while (is_name("and")) {
      const Token& at = next();
      left = binary(at, "and", std::move(left), parse_not());
    }
    return left;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      DepthGuard guard(*this);
      auto e = make(Expr::Kind::Unary, next());
      e->name = "not";
      e->args.push_back(parse_not());
      return e;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    const Token& at = peek();
    auto first = parse_math1();
    ExprPtr cmp;
    while (true) {
      std::string op;
      if (peek().type == T::Operator && (peek().value == "==" || peek().value == "!=" || peek().value == "<" ||
                                         peek().value == "<=" || peek().value == ">" || peek().value == ">=")) {
        op = next().value;
      } else if (is_name("in")) {
        next();
        op = "in";
      } else if (is_name("not") && is_name("in", 1)) {
        next();
        next();
        op = "notin";
      } else {
        break;
      }
      if (!cmp) {
        cmp = make(Expr::Kind::Compare, at);
        cmp->args.push_back(std::move(first));
      }
      cmp->ops.push_back(op);
      cmp->args.push_back(parse_math1());
    }
    return cmp ? std::move(cmp) : std::move(first);
  }

  ExprPtr parse_math1() {
    auto left = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token& at = next();
      left = binary(at, at.value, std::move(left), parse_concat());
    }
    return left;
  }

  ExprPtr parse_concat() {
    const Token& at = peek();
    auto first = parse_math2();
    if (!is_op("~")) return first;
    auto e = make(Expr::Kind::Concat, at);
    e->args.push_back(std::move(first));
    while (skip_op("~")) e->args.push_back(parse_math2());
    return e;
  }

  ExprPtr parse_math2() {
    auto left = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token& at = next();
      left = binary(at, at.value, std::move(left), parse_pow());
    }
    return left;
  }

  ExprPtr parse_pow() {
    auto left = parse_unary(true);
    while (is_op("**")) {
      const Token& at = next();
      left = binary(at, "**", std::move(left), parse_unary(true));
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(*this);
    ExprPtr node;
    if (is_op("-") || is_op("+")) {
      auto e = make(Expr::Kind::Unary, peek());
      e->name = next().value;
      e->args.push_back(parse_unary(false));
      node = std::move(e);
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  ExprPtr parse_primary() {
    const Token& t = peek();
    switch (t.type) {
      case T::Name: {
        next();
        auto e = make(Expr::Kind::Literal, t);
        if (t.value == "true" || t.value == "True") e->literal = Value(true);
        else if (t.value == "false" || t.value == "False") e->literal = Value(false);
        else if (t.value == "none" || t.value == "None") e->literal = Value::none();
        else {
          e->kind = Expr::Kind::Name;
          e->name = t.value;
          note_name_use(t.value);
        }
        return e;
      }
      case T::String: {
        std::string value;
        while (peek().type == T::String) value += next().value;  // adjacent literals concatenate
        auto e = make(Expr::Kind::Literal, t);
        e->literal = Value(std::move(value));
        return e;
      }
      case T::Integer: {
        next();
        auto e = make(Expr::Kind::Literal, t);
        try {
          e->literal = Value(static_cast<int64_t>(std::stoll(t.value)));
        } catch (const std::exception&) {
          error_at(t, "integer literal out of range: " + t.value);
        }
        return e;
      }
      case T::Float: {
        next();
        auto e = make(Expr::Kind::Literal, t);
        e->literal = Value(std::stod(t.value));
        return e;
      }
      case T::Operator:
        if (t.value == "(") {
          next();
          if (skip_op(")")) return make(Expr::Kind::Tuple, t);
          auto first = parse_expression(true);
          if (skip_op(")")) return first;
          auto tuple = make(Expr::Kind::Tuple, t);
          tuple->args.push_back(std::move(first));
          while (skip_op(",")) {
            if (is_op(")")) break;
            tuple->args.push_back(parse_expression(true));
          }
          expect_op(")");
          return tuple;
        }
        if (t.value == "[") {
          next();
          auto list = make(Expr::Kind::List, t);
          while (!is_op("]")) {
            if (!list->args.empty()) expect_op(",");
            if (is_op("]")) break;
            list->args.push_back(parse_expression(true));
          }
          expect_op("]");
          return list;
        }
        if (t.value == "{") {
          next();
          auto dict = make(Expr::Kind::Dict, t);
          while (!is_op("}")) {
            if (!dict->args.empty()) expect_op(",");
            if (is_op("}")) break;
            dict->args.push_back(parse_expression(true));
            expect_op(":");
            dict->args.push_back(parse_expression(true));
          }
          expect_op("}");
          return dict;
        }
        break;
      default:
        break;
    }
    if (t.type == T::BlockEnd || t.type == T::VarEnd || t.type == T::End)
      error_at(t, "Expected an expression, got '" + describe(t) + "'");
    error_at(t, "unexpected '" + describe(t) + "'");
  }

  void parse_call_args(Expr& call) {
    expect_op("(");
    bool first = true;
    while (!is_op(")")) {
      if (!first) expect_op(",");
      first = false;
      if (is_op(")")) break;
      if (peek().type == T::Name && is_op("=", 1)) {
        std::string key = next().value;
        next();
        call.kwargs.emplace_back(key, parse_expression(true));
      } else {
        if (!call.kwargs.empty()) error_at(peek(), "positional argument follows keyword argument");
        call.args.push_back(parse_expression(true));
      }
    }
    expect_op(")");
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      const Token& t = peek();
      if (is_op(".")) {
        next();
        const Token& attr = peek();
        if (attr.type == T::Integer) {
          next();
          auto e = make(Expr::Kind::Subscript, t);
          e->args.push_back(std::move(node));
          auto index = make(Expr::Kind::Literal, attr);
          index->literal = Value(static_cast<int64_t>(std::stoll(attr.value)));
          e->args.push_back(std::move(index));
          node = std::move(e);
        } else {
          auto e = make(Expr::Kind::Attribute, t);
          e->name = expect_name();
          e->args.push_back(std::move(node));
          node = std::move(e);
        }
      } else if (is_op("[")) {
        next();
        node = parse_subscript(std::move(node), t);
      } else if (is_op("(")) {
        auto e = make(Expr::Kind::Call, t);
        e->args.push_back(std::move(node));
        parse_call_args(*e);
        node = std::move(e);
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr object, const Token& at) {
    ExprPtr parts[3];
    int colons = 0;
    if (!is_op(":")) parts[0] = parse_expression(true);
    while (colons < 2 && skip_op(":")) {
      ++colons;
      if (!is_op(":") && !is_op("]")) parts[colons] = parse_expression(true);
    }
    if (colons == 0 && is_op(",")) {  // x[a, b] indexes with a tuple
      auto tuple = make(Expr::Kind::Tuple, at);
      tuple->args.push_back(std::move(parts[0]));
      while (skip_op(",")) {
        if (is_op("]")) break;
        tuple->args.push_back(parse_expression(true));
      }
      parts[0] = std::move(tuple);
    }
    expect_op("]");
    auto e = make(colons ? Expr::Kind::Slice : Expr::Kind::Subscript, at);
    e->args.push_back(std::move(object));
    if (colons) {
      for (auto& part : parts) e->args.push_back(std::move(part));
    } else {
      e->args.push_back(std::move(parts[0]));
    }
    return e;
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    while (true) {
      if (is_op("|")) {
        node = parse_filter_chain(std::move(node));
      } else if (is_name("is")) {
        node = parse_test(std::move(node));
      } else if (is_op("(")) {
        auto e = make(Expr::Kind::Call, peek());
        e->args.push_back(std::move(node));
        parse_call_args(*e);
        node = std::move(e);
      } else {
        return node;
      }
    }
  }

  // `|f(a)|g` applied to `input` (nullptr for filter blocks, where the body text is the input).
  ExprPtr parse_filter_chain(ExprPtr input, bool leading_pipe = true) {
    bool first = true;
    while (first ? (!leading_pipe || is_op("|")) : is_op("|")) {
      if (leading_pipe || !first) expect_op("|");
      first = false;
      const Token& at = peek();
      auto e = make(Expr::Kind::Filter, at);
      e->name = expect_name();
      e->args.push_back(std::move(input));
      if (is_op("(")) parse_call_args(*e);
      input = std::move(e);
    }
    return input;
  }

  ExprPtr parse_test(ExprPtr subject) {
    const Token& at = next();  // `is`
    bool negated = skip_name("not");
    auto e = make(Expr::Kind::Test, at);
    e->name = expect_name();
    e->negated = negated;
    e->args.push_back(std::move(subject));
    const Token& t = peek();
    if (is_op("(")) {
      parse_call_args(*e);
    } else if ((t.type == T::Name || t.type == T::String || t.type == T::Integer || t.type == T::Float || is_op("[") ||
                is_op("{")) &&
               !is_name("else") && !is_name("or") && !is_name("and")) {
      if (is_name("is")) error_at(t, "You cannot chain multiple tests with is");
      e->args.push_back(parse_postfix(parse_primary()));
    }
    return e;
  }

  void note_name_use(const std::string& name) {
    if (macros_.empty()) return;
    if (name == "caller") macros_.back()->uses_caller = true;
    if (name == "varargs") macros_.back()->uses_varargs = true;
    if (name == "kwargs") macros_.back()->uses_kwargs = true;
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int max_depth_;
  int depth_ = 0;
  int loop_depth_ = 0;
  std::vector<Stmt*> macros_;  // macros being parsed, innermost last
};

}  // namespace

Template parse(const std::string& source, int max_depth) {
  return Parser(tokenize(source), max_depth).parse_template();
}

}  // namespace sy::jinja
