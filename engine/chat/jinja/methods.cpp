// Methods of str, dict and list that chat templates call (`content.split('</think>')`,
// `message.get('tool_calls')`, ...). jinja2's ImmutableSandboxedEnvironment blocks the methods
// that mutate a list or dict; those resolve to an Undefined that raises SecurityError when called.
#include <set>

#include "engine/chat/jinja/builtins.h"
#include "engine/chat/jinja/text.h"

namespace sy::jinja {
namespace {

std::optional<std::string> optional_string(const BoundArgs& a, size_t i) {
  if (!a.has(i) || a.get(i).is_none()) return std::nullopt;
  if (!a.get(i).is_string()) fail("TypeError", "expected str, got " + a.get(i).type_name());
  return a.get(i).as_string();
}

Value string_list(std::vector<std::string> parts) {
  std::vector<Value> items;
  items.reserve(parts.size());
  for (auto& p : parts) items.emplace_back(std::move(p));
  return Value::list(std::move(items));
}

// startswith/endswith accept a str or a tuple of str.
bool affix_matches(const Value& affix, const std::string& s, bool prefix, const char* method) {
  auto one = [&](const Value& v) {
    if (!v.is_string())
      fail("TypeError", std::string(method) + " first arg must be str or a tuple of str, not " + v.type_name());
    const std::string& a = v.as_string();
    if (a.size() > s.size()) return false;
    return prefix ? s.compare(0, a.size(), a) == 0 : s.compare(s.size() - a.size(), a.size(), a) == 0;
  };
  if (affix.is_list() && affix.as_list().is_tuple) {
    for (const Value& v : affix.as_list().items)
      if (one(v)) return true;
    return false;
  }
  return one(affix);
}

// str.format with positional/named fields; format specs are not used by chat templates.
std::string str_format(const std::string& format, const CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < format.size(); ++i) {
    char c = format[i];
    if (c == '}' ) {
      if (i + 1 < format.size() && format[i + 1] == '}') { out.push_back('}'); ++i; continue; }
      fail("ValueError", "Single '}' encountered in format string");
    }
    if (c != '{') { out.push_back(c); continue; }
    if (i + 1 < format.size() && format[i + 1] == '{') { out.push_back('{'); ++i; continue; }
    size_t close = format.find('}', i);
    if (close == std::string::npos) fail("ValueError", "Single '{' encountered in format string");
    std::string field = format.substr(i + 1, close - i - 1);
    if (field.find_first_of(":!") != std::string::npos) fail("ValueError", "format specs are not supported in chat templates");
    const Value* v = nullptr;
    if (field.empty()) {
      if (auto_index >= args.positional.size()) fail("IndexError", "Replacement index " + std::to_string(auto_index) + " out of range for positional args tuple");
      v = &args.positional[auto_index++];
    } else if (field.find_first_not_of("0123456789") == std::string::npos) {
      size_t index = std::stoul(field);
      if (index >= args.positional.size()) fail("IndexError", "Replacement index " + field + " out of range for positional args tuple");
      v = &args.positional[index];
    } else {
      for (const auto& [key, value] : args.keyword)
        if (key == field) v = &value;
      if (!v) fail("KeyError", "'" + field + "'");
    }
    out += v->str();
    i = close;
  }
  return out;
}

Value string_method(const std::string& s, const std::string& name, const CallArgs& call) {
  const std::string fn = "str." + name;
  static const std::set<std::string> kNoArguments = {"upper", "lower", "title", "capitalize", "isdigit", "isalpha",
                                                     "isalnum", "isspace", "islower", "isupper"};
  if (kNoArguments.count(name)) BoundArgs no_arguments(call, fn, {});
  if (name == "startswith" || name == "endswith") {
    BoundArgs a(call, fn, {"prefix"});
    if (!a.has(0)) fail("TypeError", name + "() takes at least 1 argument (0 given)");
    return Value(affix_matches(a.get(0), s, name == "startswith", name.c_str()));
  }
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    BoundArgs a(call, fn, {"chars"});
    return Value(text::strip(s, optional_string(a, 0), name != "rstrip", name != "lstrip"));
  }
  if (name == "split" || name == "rsplit") {
    BoundArgs a(call, fn, {"sep", "maxsplit"});
    check_value_size(s.size() * 2);
    return string_list(text::split(s, optional_string(a, 0), a.get_int(1, -1), name == "rsplit"));
  }
  if (name == "splitlines") {
    BoundArgs a(call, fn, {"keepends"});
    if (a.get_bool(0, false)) fail("ValueError", "splitlines(keepends=True) is not supported in chat templates");
    return string_list(text::splitlines(s));
  }
  if (name == "replace") {
    BoundArgs a(call, fn, {"old", "new", "count"});
    if (!a.has(1)) fail("TypeError", "replace expected at least 2 arguments, got " + std::to_string(call.positional.size()));
    std::string result = text::replace(s, a.get_string(0, ""), a.get_string(1, ""), a.get_int(2, -1));
    check_value_size(result.size());
    return Value(std::move(result));
  }
  if (name == "upper") return Value(text::upper(s));
  if (name == "lower") return Value(text::lower(s));
  if (name == "title") return Value(text::py_title(s));
  if (name == "capitalize") return Value(text::capitalize(s));
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex") {
    BoundArgs a(call, fn, {"sub"});
    if (!a.has(0)) fail("TypeError", name + "() takes at least 1 argument (0 given)");
    int64_t at = text::find(s, a.get_string(0, ""), name[0] == 'r');
    if (at < 0 && (name == "index" || name == "rindex")) fail("ValueError", "substring not found");
    return Value(at);
  }
  if (name == "count") {
    BoundArgs a(call, fn, {"sub"});
    if (!a.has(0)) fail("TypeError", "count() takes at least 1 argument (0 given)");
    return Value(text::count(s, a.get_string(0, "")));
  }
  if (name == "join") {
    BoundArgs a(call, fn, {"iterable"});
    std::string out;
    bool first = true;
    for (const Value& item : iterate(a.get_or(0, Value::list()))) {
      if (!item.is_string()) fail("TypeError", "sequence item: expected str instance, " + item.type_name() + " found");
      if (!first) out += s;
      out += item.as_string();
      first = false;
      check_value_size(out.size());
    }
    return Value(std::move(out));
  }
  if (name == "format") return Value(str_format(s, call));
  if (name == "isdigit" || name == "isalpha" || name == "isalnum" || name == "isspace") {
    std::u32string u = text::to_u32(s);
    if (u.empty()) return Value(false);
    for (char32_t c : u) {
      bool ok = name == "isdigit" ? text::is_digit(c) : name == "isalpha" ? text::is_alpha(c)
              : name == "isalnum" ? text::is_alnum(c) : text::is_space(c);
      if (!ok) return Value(false);
    }
    return Value(true);
  }
  if (name == "islower") return Value(text::is_lower_cased(s));
  if (name == "isupper") return Value(text::is_upper_cased(s));
  if (name == "zfill" || name == "center" || name == "ljust" || name == "rjust") {
    BoundArgs a(call, fn, {"width", "fillchar"});
    int64_t width = a.get_int(0, 0);
    std::string fill = a.get_string(1, name == "zfill" ? "0" : " ");
    int64_t len = static_cast<int64_t>(text::length(s));
    if (width <= len) return Value(s);
    check_value_size(static_cast<size_t>(width) * fill.size());
    int64_t pad = width - len;
    int64_t left = name == "rjust" || name == "zfill" ? pad : name == "ljust" ? 0 : pad / 2 + (pad & width & 1);
    std::string out;
    for (int64_t i = 0; i < left; ++i) out += fill;
    out += s;
    for (int64_t i = 0; i < pad - left; ++i) out += fill;
    return Value(std::move(out));
  }
  fail("AttributeError", "'str' object has no attribute '" + name + "'");
}

Value dict_method(const Value& self, const std::string& name, const CallArgs& call) {
  const DictData& d = self.as_dict();
  if (name == "items") {
    BoundArgs a(call, "dict.items", {});
    std::vector<Value> pairs;
    for (const auto& [k, v] : d.entries) pairs.push_back(Value::tuple({Value(k), v}));
    return Value::list(std::move(pairs));
  }
  if (name == "keys") {
    BoundArgs a(call, "dict.keys", {});
    std::vector<Value> keys;
    for (const auto& entry : d.entries) keys.emplace_back(entry.first);
    return Value::list(std::move(keys));
  }
  if (name == "values") {
    BoundArgs a(call, "dict.values", {});
    std::vector<Value> values;
    for (const auto& entry : d.entries) values.push_back(entry.second);
    return Value::list(std::move(values));
  }
  if (name == "get") {
    BoundArgs a(call, "dict.get", {"key", "default"});
    if (!a.has(0)) fail("TypeError", "get expected at least 1 argument, got 0");
    if (a.get(0).is_string())
      if (const Value* v = d.find(a.get(0).as_string())) return *v;
    return a.get_or(1, Value::none());
  }
  if (name == "copy") {
    Value copy = Value::dict();
    copy.mutable_dict().entries = d.entries;
    return copy;
  }
  fail("AttributeError", "'dict' object has no attribute '" + name + "'");
}

Value list_method(const Value& self, const std::string& name, const CallArgs& call) {
  const auto& items = self.as_list().items;
  if (name == "index") {
    BoundArgs a(call, "index", {"value"});
    for (size_t i = 0; i < items.size(); ++i)
      if (equals(items[i], a.get_or(0, Value::none()))) return Value(static_cast<int64_t>(i));
    fail("ValueError", a.get_or(0, Value::none()).repr() + " is not in list");
  }
  if (name == "count") {
    BoundArgs a(call, "count", {"value"});
    int64_t n = 0;
    for (const Value& item : items) n += equals(item, a.get_or(0, Value::none()));
    return Value(n);
  }
  if (name == "copy") return Value::list(items);
  fail("AttributeError", "'list' object has no attribute '" + name + "'");
}

const std::set<std::string> kStringMethods = {
    "startswith", "endswith", "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "replace", "upper",
    "lower", "title", "capitalize", "find", "rfind", "index", "rindex", "count", "join", "format", "isdigit",
    "isalpha", "isalnum", "isspace", "islower", "isupper", "zfill", "center", "ljust", "rjust"};
const std::set<std::string> kDictMethods = {"items", "keys", "values", "get", "copy"};
const std::set<std::string> kListMethods = {"index", "count", "copy"};
// jinja2.sandbox._mutable_spec: what ImmutableSandboxedEnvironment refuses.
const std::set<std::string> kUnsafeDictMethods = {"clear", "pop", "popitem", "setdefault", "update"};
const std::set<std::string> kUnsafeListMethods = {"append", "clear", "pop", "reverse", "insert", "sort", "extend", "remove"};

}  // namespace

bool is_unsafe_method(const Value& object, const std::string& name) {
  if (object.is_dict() && !object.is_namespace()) return kUnsafeDictMethods.count(name) > 0;
  if (object.is_list() && !object.as_list().is_tuple && !object.as_list().is_generator) return kUnsafeListMethods.count(name) > 0;
  return false;
}

std::optional<Value> bound_method(const Value& object, const std::string& name) {
  if (object.is_string() && kStringMethods.count(name)) {
    std::string self = object.as_string();
    return Value::callable("str." + name, [self, name](CallArgs& args) { return string_method(self, name, args); });
  }
  if (object.is_dict() && !object.is_namespace() && kDictMethods.count(name)) {
    return Value::callable("dict." + name, [object, name](CallArgs& args) { return dict_method(object, name, args); });
  }
  if (object.is_list() && !object.as_list().is_generator && kListMethods.count(name)) {
    return Value::callable("list." + name, [object, name](CallArgs& args) { return list_method(object, name, args); });
  }
  return std::nullopt;
}

}  // namespace sy::jinja
