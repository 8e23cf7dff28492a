// Jinja tests (`x is defined`, `x is string`, ...) as jinja2/tests.py defines them, including
// its Python quirks: Undefined counts as a sequence and as callable, a bool is a number.
#include <functional>
#include <map>

#include "engine/chat/jinja/builtins.h"
#include "engine/chat/jinja/text.h"

namespace sy::jinja {
namespace {

using Test = std::function<bool(const Value&, const CallArgs&)>;

const Value& arg(const CallArgs& args, const char* test) {
  if (args.positional.empty()) fail("TypeError", std::string(test) + "() missing 1 required positional argument");
  return args.positional[0];
}

bool is_generator(const Value& v) { return v.is_list() && v.as_list().is_generator; }

int64_t integer_mod(const Value& v, const Value& divisor) {
  Value r = binary_op("%", v, divisor);
  return r.is_float() ? (r.as_float() == 0 ? 0 : 1) : r.as_int();
}

const std::map<std::string, Test>& tests() {
  static const std::map<std::string, Test> table = {
      {"defined", [](const Value& v, const CallArgs&) { return !v.is_undefined(); }},
      {"undefined", [](const Value& v, const CallArgs&) { return v.is_undefined(); }},
      {"none", [](const Value& v, const CallArgs&) { return v.is_none(); }},
      {"boolean", [](const Value& v, const CallArgs&) { return v.is_bool(); }},
      {"true", [](const Value& v, const CallArgs&) { return v.is_bool() && v.as_bool(); }},
      {"false", [](const Value& v, const CallArgs&) { return v.is_bool() && !v.as_bool(); }},
      {"integer", [](const Value& v, const CallArgs&) { return v.is_int(); }},
      {"float", [](const Value& v, const CallArgs&) { return v.is_float(); }},
      {"number", [](const Value& v, const CallArgs&) { return v.is_number(); }},
      {"string", [](const Value& v, const CallArgs&) { return v.is_string(); }},
      {"mapping", [](const Value& v, const CallArgs&) { return v.is_dict() && !v.is_namespace(); }},
      {"sequence", [](const Value& v, const CallArgs&) {
         return v.is_undefined() || v.is_string() || (v.is_list() && !is_generator(v)) || (v.is_dict() && !v.is_namespace());
       }},
      {"iterable", [](const Value& v, const CallArgs&) {
         return v.is_undefined() || v.is_string() || v.is_list() || (v.is_dict() && !v.is_namespace());
       }},
      {"callable", [](const Value& v, const CallArgs&) { return v.is_callable() || v.is_undefined(); }},
      {"odd", [](const Value& v, const CallArgs&) { return integer_mod(v, Value(static_cast<int64_t>(2))) == 1; }},
      {"even", [](const Value& v, const CallArgs&) { return integer_mod(v, Value(static_cast<int64_t>(2))) == 0; }},
      {"divisibleby", [](const Value& v, const CallArgs& a) { return integer_mod(v, arg(a, "divisibleby")) == 0; }},
      {"lower", [](const Value& v, const CallArgs&) { return text::is_lower_cased(v.str()); }},
      {"upper", [](const Value& v, const CallArgs&) { return text::is_upper_cased(v.str()); }},
      {"escaped", [](const Value&, const CallArgs&) { return false; }},
      {"in", [](const Value& v, const CallArgs& a) { return contains(arg(a, "in"), v); }},
      {"sameas", [](const Value& v, const CallArgs& a) {
         const Value& other = arg(a, "sameas");
         if (v.kind() != other.kind()) return false;
         if (v.is_list() || v.is_dict() || v.is_callable()) return equals(v, other) && v.repr() == other.repr();
         return equals(v, other);
       }},
      {"filter", [](const Value& v, const CallArgs&) { return v.is_string() && is_known_filter(v.as_string()); }},
      {"test", [](const Value& v, const CallArgs&) { return v.is_string() && is_known_test(v.as_string()); }},
      {"==", [](const Value& v, const CallArgs& a) { return equals(v, arg(a, "eq")); }},
      {"!=", [](const Value& v, const CallArgs& a) { return !equals(v, arg(a, "ne")); }},
      {"<", [](const Value& v, const CallArgs& a) { return compare_order("<", v, arg(a, "lt")); }},
      {"<=", [](const Value& v, const CallArgs& a) { return compare_order("<=", v, arg(a, "le")); }},
      {">", [](const Value& v, const CallArgs& a) { return compare_order(">", v, arg(a, "gt")); }},
      {">=", [](const Value& v, const CallArgs& a) { return compare_order(">=", v, arg(a, "ge")); }},
  };
  return table;
}

std::string canonical(const std::string& name) {
  static const std::map<std::string, std::string> aliases = {
      {"eq", "=="}, {"equalto", "=="}, {"ne", "!="}, {"lt", "<"}, {"lessthan", "<"}, {"le", "<="},
      {"gt", ">"}, {"greaterthan", ">"}, {"ge", ">="}};
  auto it = aliases.find(name);
  return it == aliases.end() ? name : it->second;
}

}  // namespace

bool is_known_test(const std::string& name) { return tests().count(canonical(name)) > 0; }

bool apply_test(const std::string& name, const Value& value, const CallArgs& args) {
  auto it = tests().find(canonical(name));
  if (it == tests().end()) fail("TemplateAssertionError", "No test named '" + name + "'.");
  return it->second(value, args);
}

}  // namespace sy::jinja
