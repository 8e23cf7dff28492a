// Python operators, iteration and jinja2-sandbox attribute/item access on Values. Error
// messages are CPython's and jinja2's, so a failing template reports what transformers would.
#include <cmath>
#include <cstdio>

#include "engine/chat/jinja/builtins.h"
#include "engine/chat/jinja/text.h"

namespace sy::jinja {
namespace {

thread_local size_t max_value_bytes = 64u << 20;

// Python ints are unbounded; the sandbox keeps them to 64 bits and reports overflow.
int64_t checked_op(char op, int64_t a, int64_t b) {
  int64_t r = 0;
  bool overflow = op == '+' ? __builtin_add_overflow(a, b, &r) : op == '-' ? __builtin_sub_overflow(a, b, &r)
                                                                           : __builtin_mul_overflow(a, b, &r);
  if (overflow) fail("OverflowError", "integer result exceeds 64 bits (sandbox integer limit)");
  return r;
}

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

int64_t floor_mod(int64_t a, int64_t b) {
  int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

double float_mod(double a, double b) {
  double r = std::fmod(a, b);
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

[[noreturn]] void unsupported(const std::string& op, const Value& a, const Value& b) {
  fail("TypeError", "unsupported operand type(s) for " + op + ": '" + a.type_name() + "' and '" + b.type_name() + "'");
}

Value repeat(const Value& seq, int64_t times) {
  if (times < 0) times = 0;
  if (seq.is_string()) {
    check_value_size(seq.as_string().size() * static_cast<size_t>(times));
    std::string out;
    for (int64_t i = 0; i < times; ++i) out += seq.as_string();
    return Value(std::move(out));
  }
  const auto& items = seq.as_list().items;
  check_value_size(items.size() * static_cast<size_t>(times) * sizeof(Value));
  std::vector<Value> out;
  for (int64_t i = 0; i < times; ++i) out.insert(out.end(), items.begin(), items.end());
  return seq.as_list().is_tuple ? Value::tuple(std::move(out)) : Value::list(std::move(out));
}

bool is_sequence(const Value& v) { return v.is_list() && !v.as_list().is_generator; }

}  // namespace

void set_max_value_bytes(size_t bytes) { max_value_bytes = bytes; }

void check_value_size(size_t bytes) {
  if (bytes > max_value_bytes)
    fail("SandboxError", "value of " + std::to_string(bytes) + " bytes exceeds the sandbox limit of " +
                             std::to_string(max_value_bytes) + " bytes");
}

Value binary_op(const std::string& op, const Value& a, const Value& b) {
  if (a.is_undefined()) a.raise_undefined();
  if (b.is_undefined()) b.raise_undefined();
  const bool ints = a.is_number() && b.is_number() && !a.is_float() && !b.is_float();
  const bool numbers = a.is_number() && b.is_number();
  if (op == "+") {
    if (ints) return Value(checked_op('+', a.as_int(), b.as_int()));
    if (numbers) return Value(a.as_float() + b.as_float());
    if (a.is_string()) {
      if (!b.is_string()) fail("TypeError", "can only concatenate str (not \"" + b.type_name() + "\") to str");
      check_value_size(a.as_string().size() + b.as_string().size());
      return Value(a.as_string() + b.as_string());
    }
    if (is_sequence(a)) {
      if (!is_sequence(b) || a.as_list().is_tuple != b.as_list().is_tuple)
        fail("TypeError", "can only concatenate " + a.type_name() + " (not \"" + b.type_name() + "\") to " + a.type_name());
      std::vector<Value> items = a.as_list().items;
      items.insert(items.end(), b.as_list().items.begin(), b.as_list().items.end());
      check_value_size(items.size() * sizeof(Value));
      return a.as_list().is_tuple ? Value::tuple(std::move(items)) : Value::list(std::move(items));
    }
    unsupported(op, a, b);
  }
  if (op == "-") {
    if (ints) return Value(checked_op('-', a.as_int(), b.as_int()));
    if (numbers) return Value(a.as_float() - b.as_float());
    unsupported(op, a, b);
  }
  if (op == "*") {
    if (ints) return Value(checked_op('*', a.as_int(), b.as_int()));
    if (numbers) return Value(a.as_float() * b.as_float());
    if ((a.is_string() || is_sequence(a)) && b.is_number() && !b.is_float()) return repeat(a, b.as_int());
    if ((b.is_string() || is_sequence(b)) && a.is_number() && !a.is_float()) return repeat(b, a.as_int());
    if (a.is_string() || is_sequence(a)) fail("TypeError", "can't multiply sequence by non-int of type '" + b.type_name() + "'");
    if (b.is_string() || is_sequence(b)) fail("TypeError", "can't multiply sequence by non-int of type '" + a.type_name() + "'");
    unsupported(op, a, b);
  }
  if (op == "/") {
    if (!numbers) unsupported(op, a, b);
    if (b.as_float() == 0) fail("ZeroDivisionError", ints ? "division by zero" : "float division by zero");
    return Value(a.as_float() / b.as_float());
  }
  if (op == "//") {
    if (!numbers) unsupported(op, a, b);
    if (ints) {
      if (b.as_int() == 0) fail("ZeroDivisionError", "integer division or modulo by zero");
      return Value(floor_div(a.as_int(), b.as_int()));
    }
    if (b.as_float() == 0) fail("ZeroDivisionError", "float floor division by zero");
    return Value(std::floor(a.as_float() / b.as_float()));
  }
  if (op == "%") {
    if (a.is_string()) return Value(percent_format(a.as_string(), b));
    if (!numbers) unsupported(op, a, b);
    if (ints) {
      if (b.as_int() == 0) fail("ZeroDivisionError", "integer modulo by zero");
      return Value(floor_mod(a.as_int(), b.as_int()));
    }
    if (b.as_float() == 0) fail("ZeroDivisionError", "float modulo");
    return Value(float_mod(a.as_float(), b.as_float()));
  }
  if (op == "**") {
    if (!numbers) unsupported("** or pow()", a, b);
    if (ints && b.as_int() >= 0) {
      int64_t result = 1, base = a.as_int();
      for (int64_t e = b.as_int(); e > 0; e >>= 1) {
        if (e & 1) result = checked_op('*', result, base);
        if (e > 1) base = checked_op('*', base, base);
      }
      return Value(result);
    }
    if (a.as_float() == 0 && b.as_float() < 0)
      fail("ZeroDivisionError", "0.0 cannot be raised to a negative power");
    return Value(std::pow(a.as_float(), b.as_float()));
  }
  fail("TypeError", "unknown operator " + op);
}

Value negate(const Value& v, bool minus) {
  if (v.is_undefined()) v.raise_undefined();
  if (v.is_float()) return Value(minus ? -v.as_float() : v.as_float());
  if (v.is_number()) {
    if (minus && v.as_int() == INT64_MIN) fail("OverflowError", "integer result exceeds 64 bits (sandbox integer limit)");
    return Value(minus ? -v.as_int() : v.as_int());
  }
  fail("TypeError", std::string("bad operand type for unary ") + (minus ? "-" : "+") + ": '" + v.type_name() + "'");
}

bool contains(const Value& haystack, const Value& needle) {
  switch (haystack.kind()) {
    case Value::Kind::Undefined: return false;
    case Value::Kind::String:
      if (!needle.is_string())
        fail("TypeError", "'in <string>' requires string as left operand, not " + needle.type_name());
      return haystack.as_string().find(needle.as_string()) != std::string::npos;
    case Value::Kind::List: {
      const ListData& list = haystack.as_list();
      if (list.deferred_error) throw *list.deferred_error;
      if (list.is_generator) {  // `in` consumes a generator up to and including the match
        while (list.consumed < list.items.size())
          if (equals(list.items[list.consumed++], needle)) return true;
        return false;
      }
      for (const Value& item : list.items)
        if (equals(item, needle)) return true;
      return false;
    }
    case Value::Kind::Dict:
      return needle.is_string() && haystack.as_dict().find(needle.as_string()) != nullptr;
    default:
      fail("TypeError", "argument of type '" + haystack.type_name() + "' is not iterable");
  }
}

std::vector<Value> iterate(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::Undefined: return {};
    case Value::Kind::List: {
      const ListData& list = v.as_list();
      if (list.deferred_error) throw *list.deferred_error;
      if (!list.is_generator) return list.items;
      std::vector<Value> rest(list.items.begin() + static_cast<std::ptrdiff_t>(list.consumed), list.items.end());
      list.consumed = list.items.size();
      return rest;
    }
    case Value::Kind::Dict: {
      if (v.is_namespace()) fail("TypeError", "'Namespace' object is not iterable");
      std::vector<Value> keys;
      for (const auto& entry : v.as_dict().entries) keys.emplace_back(entry.first);
      return keys;
    }
    case Value::Kind::String: {
      std::vector<Value> chars;
      for (char32_t c : text::to_u32(v.as_string())) {
        std::string one;
        text::append_utf8(one, c);
        chars.emplace_back(std::move(one));
      }
      return chars;
    }
    default: fail("TypeError", "'" + v.type_name() + "' object is not iterable");
  }
}

int64_t length(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::Undefined: return 0;
    case Value::Kind::String: return static_cast<int64_t>(text::length(v.as_string()));
    case Value::Kind::List:
      if (v.as_list().is_generator) fail("TypeError", "object of type 'generator' has no len()");
      return static_cast<int64_t>(v.as_list().items.size());
    case Value::Kind::Dict:
      if (v.is_namespace()) fail("TypeError", "object of type 'Namespace' has no len()");
      return static_cast<int64_t>(v.as_dict().entries.size());
    default: fail("TypeError", "object of type '" + v.type_name() + "' has no len()");
  }
}

Value get_attribute(const Value& object, const std::string& name) {
  if (object.is_undefined()) object.raise_undefined();
  if (!name.empty() && name[0] == '_')
    return Value::undefined("access to attribute '" + name + "' of '" + object.type_name() + "' object is unsafe.", true);
  if (object.is_namespace()) {
    if (const Value* v = object.as_dict().find(name)) return *v;
    return Value::undefined(std::string("'") + object.object_type_repr() + "' has no attribute '" + name + "'");
  }
  if (is_unsafe_method(object, name))
    return Value::undefined("access to attribute '" + name + "' of '" + object.type_name() + "' object is unsafe.", true);
  if (auto method = bound_method(object, name)) return *method;
  if (object.is_dict())
    if (const Value* v = object.as_dict().find(name)) return *v;
  return Value::undefined(std::string("'") + object.object_type_repr() + "' has no attribute '" + name + "'");
}

namespace {

// Python index normalization; nullopt when out of range.
std::optional<size_t> normalize_index(int64_t index, size_t size) {
  if (index < 0) index += static_cast<int64_t>(size);
  if (index < 0 || index >= static_cast<int64_t>(size)) return std::nullopt;
  return static_cast<size_t>(index);
}

Value no_element(const Value& object, const Value& key) {
  return Value::undefined(object.object_type_repr() + " has no element " + key.repr());
}

}  // namespace

Value get_item(const Value& object, const Value& key) {
  if (object.is_undefined()) object.raise_undefined();
  if (object.is_dict() && !object.is_namespace()) {
    if (key.is_string()) {
      if (const Value* v = object.as_dict().find(key.as_string())) return *v;
      return get_attribute(object, key.as_string());
    }
    return no_element(object, key);
  }
  if ((object.is_list() && !object.as_list().is_generator) || object.is_string()) {
    if (key.is_number() && !key.is_float()) {
      if (object.is_string()) {
        std::u32string u = text::to_u32(object.as_string());
        auto index = normalize_index(key.as_int(), u.size());
        if (!index) return no_element(object, key);
        std::string one;
        text::append_utf8(one, u[*index]);
        return Value(std::move(one));
      }
      auto index = normalize_index(key.as_int(), object.as_list().items.size());
      if (!index) return no_element(object, key);
      return object.as_list().items[*index];
    }
  }
  if (key.is_string()) return get_attribute(object, key.as_string());
  return no_element(object, key);
}

Value slice(const Value& object, const Value& start_v, const Value& stop_v, const Value& step_v) {
  if (object.is_undefined()) object.raise_undefined();
  auto as_index = [](const Value& v) -> std::optional<int64_t> {
    if (v.is_none() || v.is_undefined()) return std::nullopt;
    if (!v.is_number() || v.is_float())
      fail("TypeError", "slice indices must be integers or None or have an __index__ method");
    return v.as_int();
  };
  std::optional<int64_t> start = as_index(start_v), stop = as_index(stop_v), step_opt = as_index(step_v);
  int64_t step = step_opt.value_or(1);
  if (step == 0) fail("ValueError", "slice step cannot be zero");
  std::u32string chars;
  const std::vector<Value>* items = nullptr;
  int64_t size;
  if (object.is_string()) {
    chars = text::to_u32(object.as_string());
    size = static_cast<int64_t>(chars.size());
  } else if (is_sequence(object)) {
    items = &object.as_list().items;
    size = static_cast<int64_t>(items->size());
  } else if (object.is_dict() && !object.is_namespace()) {
    fail("TypeError", "unhashable type: 'slice'");  // jinja2 compiles slices to a plain Python subscript
  } else {
    fail("TypeError", std::string("'") + object.type_name() + "' object is not subscriptable");
  }
  // CPython's PySlice_AdjustIndices.
  auto adjust = [&](std::optional<int64_t> v, int64_t fallback) {
    if (!v) return fallback;
    int64_t x = *v;
    if (x < 0) {
      x += size;
      if (x < 0) x = step < 0 ? -1 : 0;
    } else if (x >= size) {
      x = step < 0 ? size - 1 : size;
    }
    return x;
  };
  int64_t lo = adjust(start, step < 0 ? size - 1 : 0);
  int64_t hi = adjust(stop, step < 0 ? -1 : size);
  std::vector<int64_t> picked;
  for (int64_t i = lo; step > 0 ? i < hi : i > hi; i += step) picked.push_back(i);
  if (object.is_string()) {
    std::string out;
    for (int64_t i : picked) text::append_utf8(out, chars[static_cast<size_t>(i)]);
    return Value(std::move(out));
  }
  std::vector<Value> out;
  for (int64_t i : picked) out.push_back((*items)[static_cast<size_t>(i)]);
  return object.as_list().is_tuple ? Value::tuple(std::move(out)) : Value::list(std::move(out));
}

Value call(const Value& callee, CallArgs& args) {
  if (callee.is_undefined()) callee.raise_undefined();
  if (!callee.is_callable()) fail("TypeError", "'" + callee.type_name() + "' object is not callable");
  return callee.as_callable().fn(args);
}

std::string percent_format(const std::string& format, const Value& args) {
  std::vector<Value> values = args.is_list() && args.as_list().is_tuple ? args.as_list().items : std::vector<Value>{args};
  size_t next = 0;
  std::string out;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') {
      out.push_back(format[i]);
      continue;
    }
    if (++i >= format.size()) fail("ValueError", "incomplete format");
    std::string spec;
    while (i < format.size() && std::string("0123456789.-+ #").find(format[i]) != std::string::npos) spec.push_back(format[i++]);
    if (i >= format.size()) fail("ValueError", "incomplete format");
    char conv = format[i];
    if (conv == '%') {
      out.push_back('%');
      continue;
    }
    if (next >= values.size()) fail("TypeError", "not enough arguments for format string");
    const Value& v = values[next++];
    char buf[512];
    switch (conv) {
      case 's': case 'r': {
        // Width and '-' (left-align) are the only flags that apply to strings.
        std::string text_value = conv == 's' ? v.str() : v.repr();
        bool left = spec.find('-') != std::string::npos;
        std::string digits;
        for (char ch : spec) {
          if (ch == '.') break;
          if (ch >= '0' && ch <= '9') digits.push_back(ch);
        }
        size_t width = digits.empty() ? 0 : std::stoul(digits);
        size_t len = text::length(text_value);
        std::string pad = len < width ? std::string(width - len, ' ') : "";
        out += left ? text_value + pad : pad + text_value;
        break;
      }
      case 'd': case 'i':
        if (!v.is_number()) fail("TypeError", "%" + std::string(1, conv) + " format: a real number is required, not " + v.type_name());
        std::snprintf(buf, sizeof buf, ("%" + spec + "lld").c_str(),
                      static_cast<long long>(v.is_float() ? static_cast<int64_t>(v.as_float()) : v.as_int()));
        out += buf;
        break;
      case 'f': case 'e': case 'g':
        if (!v.is_number()) fail("TypeError", "must be real number, not " + v.type_name());
        std::snprintf(buf, sizeof buf, ("%" + spec + conv).c_str(), v.as_float());
        out += buf;
        break;
      default: fail("ValueError", std::string("unsupported format character '") + conv + "'");
    }
  }
  if (next < values.size() && !(values.size() == 1 && values[0].is_dict()))
    fail("TypeError", "not all arguments converted during string formatting");
  return out;
}

BoundArgs::BoundArgs(const CallArgs& call, const std::string& function, std::initializer_list<const char*> names)
    : function_(function), values_(names.size()) {
  for (const char* n : names) names_.emplace_back(n);
  if (call.positional.size() > names_.size()) {
    if (names_.empty()) fail("TypeError", function + "() takes no arguments (" + std::to_string(call.positional.size()) + " given)");
    fail("TypeError", function + "() takes at most " + std::to_string(names_.size()) + " arguments (" +
                          std::to_string(call.positional.size()) + " given)");
  }
  for (size_t i = 0; i < call.positional.size(); ++i) values_[i] = call.positional[i];
  for (const auto& [key, value] : call.keyword) {
    size_t i = 0;
    while (i < names_.size() && names_[i] != key) ++i;
    if (i == names_.size()) fail("TypeError", function + "() got an unexpected keyword argument '" + key + "'");
    if (values_[i]) fail("TypeError", function + "() got multiple values for argument '" + key + "'");
    values_[i] = value;
  }
}

int64_t BoundArgs::get_int(size_t index, int64_t fallback) const {
  if (!has(index)) return fallback;
  const Value& v = get(index);
  if (!v.is_number() || v.is_float())
    fail("TypeError", function_ + "() argument '" + names_[index] + "' must be int, not " + v.type_name());
  return v.as_int();
}

std::string BoundArgs::get_string(size_t index, const std::string& fallback) const {
  if (!has(index)) return fallback;
  const Value& v = get(index);
  if (!v.is_string())
    fail("TypeError", function_ + "() argument '" + names_[index] + "' must be str, not " + v.type_name());
  return v.as_string();
}

bool BoundArgs::get_bool(size_t index, bool fallback) const { return has(index) ? get(index).truthy() : fallback; }

}  // namespace sy::jinja
