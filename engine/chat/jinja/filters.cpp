// Jinja filters as jinja2/filters.py defines them, plus transformers' `tojson` override
// (json.dumps with ensure_ascii=False). Filters that return generators in jinja2 (selectattr,
// map, unique, batch, items, reverse) return generator-flagged lists: always truthy, no len().
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <set>

#include "engine/chat/jinja/builtins.h"
#include "engine/chat/jinja/text.h"

namespace sy::jinja {
namespace {

using Filter = std::function<Value(const Value&, const CallArgs&)>;

// jinja's soft_str: str(value), with Undefined as "".
std::string soft_str(const Value& v) { return v.str(); }

Value ignore_case(const Value& v) { return v.is_string() ? Value(text::lower(v.as_string())) : v; }

// make_attrgetter: "a.b.0" walks attributes/items, integer parts index lists.
Value lookup_path(Value item, const Value& attribute, const Value* default_value = nullptr) {
  std::vector<Value> parts;
  if (attribute.is_string()) {
    for (const std::string& part : text::split(attribute.as_string(), std::string("."), -1, false)) {
      bool numeric = !part.empty() && part.find_first_not_of("0123456789") == std::string::npos;
      parts.push_back(numeric ? Value(static_cast<int64_t>(std::stoll(part))) : Value(part));
    }
  } else if (!attribute.is_none()) {
    parts.push_back(attribute);
  }
  for (const Value& part : parts) {
    item = get_item(item, part);
    if (default_value && item.is_undefined()) item = *default_value;
  }
  return item;
}

CallArgs tail_args(const CallArgs& args, size_t skip) {
  CallArgs rest;
  for (size_t i = skip; i < args.positional.size(); ++i) rest.positional.push_back(args.positional[i]);
  rest.keyword = args.keyword;
  return rest;
}

// select/reject/selectattr/rejectattr share jinja's prepare_select_or_reject.
Value select_or_reject(const Value& input, const CallArgs& args, bool select, bool lookup_attr) {
  std::vector<Value> kept;
  if (!input.truthy()) return Value::generator({});
  size_t offset = 0;
  Value attribute;
  if (lookup_attr) {
    if (args.positional.empty()) fail("FilterArgumentError", "Missing parameter for attribute name");
    attribute = args.positional[0];
    offset = 1;
  }
  std::optional<std::string> test;
  if (args.positional.size() > offset) {
    if (!args.positional[offset].is_string()) fail("TypeError", "test name must be a string");
    test = args.positional[offset].as_string();
    if (!is_known_test(*test)) fail("TemplateRuntimeError", "No test named '" + *test + "'.");
  }
  CallArgs test_args = tail_args(args, offset + 1);
  for (const Value& item : iterate(input)) {
    Value subject = lookup_attr ? lookup_path(item, attribute) : item;
    bool passed = test ? apply_test(*test, subject, test_args) : subject.truthy();
    if (passed == select) kept.push_back(item);
  }
  return Value::generator(std::move(kept));
}

Value do_map(const Value& input, const CallArgs& args) {
  if (!input.truthy()) return Value::generator({});
  std::vector<Value> out;
  const Value* attribute = nullptr;
  const Value* default_value = nullptr;
  for (const auto& [key, value] : args.keyword) {
    if (key == "attribute") attribute = &value;
    else if (key == "default") default_value = &value;
  }
  if (args.positional.empty() && attribute) {
    for (const Value& item : iterate(input)) out.push_back(lookup_path(item, *attribute, default_value));
    return Value::generator(std::move(out));
  }
  if (args.positional.empty() || !args.positional[0].is_string()) fail("FilterArgumentError", "map requires a filter argument");
  const std::string name = args.positional[0].as_string();
  if (!is_known_filter(name)) fail("TemplateRuntimeError", "No filter named '" + name + "'.");
  CallArgs rest = tail_args(args, 1);
  for (const Value& item : iterate(input)) out.push_back(apply_filter(name, item, rest));
  return Value::generator(std::move(out));
}

Value do_tojson(const Value& input, const CallArgs& args) {
  BoundArgs a(args, "tojson", {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonDumpOptions options;
  options.ensure_ascii = a.get_bool(0, false);
  if (a.has(1) && !a.get(1).is_none()) {
    const Value& indent = a.get(1);
    if (indent.is_string()) options.indent = indent.as_string();
    else options.indent = std::string(static_cast<size_t>(std::max<int64_t>(0, indent.as_int())), ' ');
    options.item_separator = ",";
  }
  if (a.has(2) && !a.get(2).is_none()) {
    const Value& seps = a.get(2);
    if (!seps.is_list() || seps.as_list().items.size() != 2 || !seps.as_list().items[0].is_string() ||
        !seps.as_list().items[1].is_string())
      fail("ValueError", "separators must be a (item_separator, key_separator) pair of strings");
    options.item_separator = seps.as_list().items[0].as_string();
    options.key_separator = seps.as_list().items[1].as_string();
  }
  options.sort_keys = a.get_bool(3, false);
  std::string out = json_dumps(input, options);
  check_value_size(out.size());
  return Value(std::move(out));
}

Value do_indent(const Value& input, const CallArgs& args) {
  BoundArgs a(args, "indent", {"width", "first", "blank"});
  if (input.is_undefined()) input.raise_undefined();  // jinja2 appends "\n" to the value first
  if (!input.is_string()) fail("TypeError", "unsupported operand type(s) for +=: '" + input.type_name() + "' and 'str'");
  std::string indention;
  if (a.has(0) && a.get(0).is_string()) indention = a.get(0).as_string();
  else indention = std::string(static_cast<size_t>(std::max<int64_t>(0, a.get_int(0, 4))), ' ');
  std::string s = soft_str(input) + "\n";  // jinja's quirk for splitlines
  std::vector<std::string> lines = text::splitlines(s);
  std::string rv;
  if (a.get_bool(2, false)) {
    for (size_t i = 0; i < lines.size(); ++i) rv += (i ? "\n" + indention : "") + lines[i];
  } else {
    rv = lines.empty() ? "" : lines[0];
    for (size_t i = 1; i < lines.size(); ++i) rv += "\n" + (lines[i].empty() ? "" : indention) + lines[i];
  }
  if (a.get_bool(1, false)) rv = indention + rv;
  check_value_size(rv.size());
  return Value(std::move(rv));
}

// Python's round(x, n): correctly rounded half-to-even on the exact binary value, which is
// what printf's %.*f does.
double python_round(double x, int64_t digits) {
  if (!std::isfinite(x)) return x;
  if (digits > 300) return x;
  if (digits < 0) {
    double scale = std::pow(10.0, static_cast<double>(-digits));
    return std::nearbyint(x / scale) * scale;
  }
  char buf[512];
  std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(digits), x);
  return std::strtod(buf, nullptr);
}

Value do_round(const Value& input, const CallArgs& args) {
  BoundArgs a(args, "round", {"precision", "method"});
  int64_t precision = a.get_int(0, 0);
  std::string method = a.get_string(1, "common");
  if (!input.is_number()) fail("TypeError", "type " + input.type_name() + " doesn't define __round__ method");
  double x = input.as_float();
  if (method == "common" && !input.is_float()) {
    // round(int, n) stays an int in Python; negative n rounds half to even at 10**-n.
    int64_t v = input.as_int();
    if (precision >= 0) return Value(v);
    if (precision < -18) return Value(static_cast<int64_t>(0));
    int64_t scale = 1;
    for (int64_t i = 0; i < -precision; ++i) scale *= 10;
    int64_t q = v / scale, r = v % scale;
    if (r < 0) { r += scale; --q; }
    if (2 * r > scale || (2 * r == scale && (q % 2 != 0))) ++q;
    return Value(q * scale);
  }
  if (method == "common") return Value(python_round(x, precision));
  if (method != "ceil" && method != "floor") fail("FilterArgumentError", "method must be common, ceil or floor");
  double scale = std::pow(10.0, static_cast<double>(precision));
  return Value((method == "ceil" ? std::ceil(x * scale) : std::floor(x * scale)) / scale);
}

Value do_int(const Value& input, const CallArgs& args) {
  BoundArgs a(args, "int", {"default", "base"});
  if (input.is_undefined()) input.raise_undefined();  // int(float(Undefined)) raises in jinja2
  Value fallback = a.get_or(0, Value(static_cast<int64_t>(0)));
  if (input.is_float()) {
    if (!std::isfinite(input.as_float())) return fallback;
    return Value(static_cast<int64_t>(std::trunc(input.as_float())));
  }
  if (input.is_number()) return Value(input.as_int());
  if (input.is_string()) {
    std::string s = text::strip(input.as_string(), std::nullopt, true, true);
    std::string digits;
    for (char c : s) if (c != '_') digits.push_back(c);
    int base = static_cast<int>(a.get_int(1, 10));
    try {
      size_t used = 0;
      long long v = std::stoll(digits, &used, base);
      if (used == digits.size()) return Value(static_cast<int64_t>(v));
    } catch (const std::exception&) {
    }
    try {
      size_t used = 0;
      double f = std::stod(digits, &used);
      if (used == digits.size() && std::isfinite(f)) return Value(static_cast<int64_t>(std::trunc(f)));
    } catch (const std::exception&) {
    }
  }
  return fallback;
}

Value do_float(const Value& input, const CallArgs& args) {
  BoundArgs a(args, "float", {"default"});
  if (input.is_undefined()) input.raise_undefined();
  if (input.is_number()) return Value(input.as_float());
  if (input.is_string()) {
    std::string s = text::strip(input.as_string(), std::nullopt, true, true);
    try {
      size_t used = 0;
      double f = std::stod(s, &used);
      if (used == s.size()) return Value(f);
    } catch (const std::exception&) {
    }
  }
  return a.get_or(0, Value(0.0));
}

Value sorted_values(std::vector<Value> items, bool reverse, const std::function<Value(const Value&)>& key) {
  std::vector<std::pair<Value, Value>> keyed;
  for (auto& item : items) keyed.emplace_back(key(item), std::move(item));
  std::stable_sort(keyed.begin(), keyed.end(), [reverse](const auto& x, const auto& y) {
    return reverse ? less_than(y.first, x.first) : less_than(x.first, y.first);
  });
  std::vector<Value> out;
  for (auto& [k, v] : keyed) out.push_back(std::move(v));
  return Value::list(std::move(out));
}

Value do_sort(const Value& input, const CallArgs& args) {
  BoundArgs a(args, "sort", {"reverse", "case_sensitive", "attribute"});
  bool case_sensitive = a.get_bool(1, false);
  Value attribute = a.get_or(2, Value::none());
  std::vector<std::string> attributes;
  if (attribute.is_string()) attributes = text::split(attribute.as_string(), std::string(","), -1, false);
  return sorted_values(iterate(input), a.get_bool(0, false), [&](const Value& item) {
    auto one = [&](const Value& attr) {
      Value v = lookup_path(item, attr);
      return case_sensitive ? v : ignore_case(v);
    };
    if (attributes.size() > 1) {
      std::vector<Value> keys;
      for (const auto& attr : attributes) keys.push_back(one(Value(attr)));
      return Value::list(std::move(keys));
    }
    return one(attribute);
  });
}

Value do_dictsort(const Value& input, const CallArgs& args) {
  BoundArgs a(args, "dictsort", {"case_sensitive", "by", "reverse"});
  if (input.is_undefined()) input.raise_undefined();
  if (!input.is_dict()) fail("TypeError", "dictsort expects a mapping");
  std::string by = a.get_string(1, "key");
  if (by != "key" && by != "value") fail("FilterArgumentError", "You can only sort by either \"key\" or \"value\"");
  size_t pos = by == "key" ? 0 : 1;
  bool case_sensitive = a.get_bool(0, false);
  std::vector<Value> pairs;
  for (const auto& [k, v] : input.as_dict().entries) pairs.push_back(Value::tuple({Value(k), v}));
  return sorted_values(std::move(pairs), a.get_bool(2, false), [&](const Value& item) {
    const Value& v = item.as_list().items[pos];
    return case_sensitive ? v : ignore_case(v);
  });
}

Value do_unique(const Value& input, const CallArgs& args) {
  BoundArgs a(args, "unique", {"case_sensitive", "attribute"});
  bool case_sensitive = a.get_bool(0, false);
  Value attribute = a.get_or(1, Value::none());
  std::vector<Value> seen, out;
  for (const Value& item : iterate(input)) {
    Value key = lookup_path(item, attribute);
    if (!case_sensitive) key = ignore_case(key);
    if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return equals(s, key); })) {
      seen.push_back(key);
      out.push_back(item);
    }
  }
  return Value::generator(std::move(out));
}

Value min_max(const Value& input, const CallArgs& args, bool want_max) {
  BoundArgs a(args, want_max ? "max" : "min", {"case_sensitive", "attribute"});
  bool case_sensitive = a.get_bool(0, false);
  Value attribute = a.get_or(1, Value::none());
  std::vector<Value> items = iterate(input);
  if (items.empty()) return Value::undefined(std::string("No aggregated item, sequence was empty."));
  size_t best = 0;
  auto key = [&](const Value& v) {
    Value k = lookup_path(v, attribute);
    return case_sensitive ? k : ignore_case(k);
  };
  for (size_t i = 1; i < items.size(); ++i) {
    bool better = want_max ? less_than(key(items[best]), key(items[i])) : less_than(key(items[i]), key(items[best]));
    if (better) best = i;
  }
  return items[best];
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

const std::map<std::string, Filter>& filters() {
  static const std::map<std::string, Filter> table = {
      {"tojson", do_tojson},
      {"trim", [](const Value& v, const CallArgs& args) {
         BoundArgs a(args, "trim", {"chars"});
         std::optional<std::string> chars;
         if (a.has(0) && !a.get(0).is_none()) chars = a.get_string(0, "");
         return Value(text::strip(soft_str(v), chars, true, true));
       }},
      {"length", [](const Value& v, const CallArgs&) { return Value(length(v)); }},
      {"count", [](const Value& v, const CallArgs&) { return Value(length(v)); }},
      {"lower", [](const Value& v, const CallArgs&) { return Value(text::lower(soft_str(v))); }},
      {"upper", [](const Value& v, const CallArgs&) { return Value(text::upper(soft_str(v))); }},
      {"title", [](const Value& v, const CallArgs&) { return Value(text::jinja_title(soft_str(v))); }},
      {"capitalize", [](const Value& v, const CallArgs&) { return Value(text::capitalize(soft_str(v))); }},
      {"replace", [](const Value& v, const CallArgs& args) {
         BoundArgs a(args, "replace", {"old", "new", "count"});
         std::string out = text::replace(soft_str(v), soft_str(a.get_or(0, Value(""))), soft_str(a.get_or(1, Value(""))),
                                         a.has(2) && !a.get(2).is_none() ? a.get_int(2, -1) : -1);
         check_value_size(out.size());
         return Value(std::move(out));
       }},
      {"join", [](const Value& v, const CallArgs& args) {
         BoundArgs a(args, "join", {"d", "attribute"});
         std::string sep = soft_str(a.get_or(0, Value("")));
         std::string out;
         bool first = true;
         for (const Value& item : iterate(v)) {
           if (!first) out += sep;
           first = false;
           out += (a.has(1) && !a.get(1).is_none() ? lookup_path(item, a.get(1)) : item).str();
           check_value_size(out.size());
         }
         return Value(std::move(out));
       }},
      {"first", [](const Value& v, const CallArgs&) {
         if (v.is_list() && v.as_list().is_generator && !v.as_list().deferred_error) {  // next(): takes one item
           const ListData& g = v.as_list();
           if (g.consumed >= g.items.size()) return Value::undefined("No first item, sequence was empty.");
           return g.items[g.consumed++];
         }
         std::vector<Value> items = iterate(v);
         return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
       }},
      {"last", [](const Value& v, const CallArgs&) {
         if ((v.is_list() && v.as_list().is_generator) || v.is_none() || v.is_number() || v.is_callable() || v.is_namespace())
           fail("TypeError", "'" + v.type_name() + "' object is not reversible");
         std::vector<Value> items = iterate(v);
         return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
       }},
      {"default", [](const Value& v, const CallArgs& args) {
         BoundArgs a(args, "default", {"default_value", "boolean"});
         if (v.is_undefined() || (a.get_bool(1, false) && !v.truthy())) return a.get_or(0, Value(""));
         return v;
       }},
      {"items", [](const Value& v, const CallArgs&) {
         if (v.is_undefined()) return Value::generator({});
         if (!v.is_dict() || v.is_namespace()) fail("TypeError", "Can only get item pairs from a mapping.");
         std::vector<Value> pairs;
         for (const auto& [k, val] : v.as_dict().entries) pairs.push_back(Value::tuple({Value(k), val}));
         return Value::generator(std::move(pairs));
       }},
      {"list", [](const Value& v, const CallArgs&) { return Value::list(iterate(v)); }},
      {"selectattr", [](const Value& v, const CallArgs& a) { return select_or_reject(v, a, true, true); }},
      {"rejectattr", [](const Value& v, const CallArgs& a) { return select_or_reject(v, a, false, true); }},
      {"select", [](const Value& v, const CallArgs& a) { return select_or_reject(v, a, true, false); }},
      {"reject", [](const Value& v, const CallArgs& a) { return select_or_reject(v, a, false, false); }},
      {"map", do_map},
      {"string", [](const Value& v, const CallArgs&) { return Value(soft_str(v)); }},
      {"int", do_int},
      {"float", do_float},
      {"abs", [](const Value& v, const CallArgs&) {
         if (v.is_float()) return Value(std::fabs(v.as_float()));
         if (v.is_number()) return Value(v.as_int() < 0 ? -v.as_int() : v.as_int());
         fail("TypeError", "bad operand type for abs(): '" + v.type_name() + "'");
       }},
      {"round", do_round},
      {"indent", do_indent},
      {"safe", [](const Value& v, const CallArgs&) { return v; }},
      {"escape", [](const Value& v, const CallArgs&) { return Value(html_escape(soft_str(v))); }},
      {"e", [](const Value& v, const CallArgs&) { return Value(html_escape(soft_str(v))); }},
      {"unique", do_unique},
      {"sort", do_sort},
      {"dictsort", do_dictsort},
      {"reverse", [](const Value& v, const CallArgs&) {
         if (v.is_string()) {
           std::u32string u = text::to_u32(v.as_string());
           std::reverse(u.begin(), u.end());
           return Value(text::to_utf8(u));
         }
         if (!v.is_list() && !v.is_dict() && !v.is_undefined()) fail("FilterArgumentError", "argument must be iterable");
         std::vector<Value> items = iterate(v);
         std::reverse(items.begin(), items.end());
         return Value::generator(std::move(items));
       }},
      {"batch", [](const Value& v, const CallArgs& args) {
         BoundArgs a(args, "batch", {"linecount", "fill_with"});
         int64_t n = a.get_int(0, 1);
         if (n <= 0) fail("ValueError", "batch size must be positive");
         std::vector<Value> rows, row;
         for (const Value& item : iterate(v)) {
           if (static_cast<int64_t>(row.size()) == n) rows.push_back(Value::list(std::exchange(row, {})));
           row.push_back(item);
         }
         if (!row.empty()) {
           if (a.has(1) && !a.get(1).is_none())
             while (static_cast<int64_t>(row.size()) < n) row.push_back(a.get(1));
           rows.push_back(Value::list(std::move(row)));
         }
         return Value::generator(std::move(rows));
       }},
      {"wordcount", [](const Value& v, const CallArgs&) {
         int64_t words = 0;
         bool in_word = false;
         for (char32_t c : text::to_u32(soft_str(v))) {
           bool word_char = text::is_alnum(c) || c == '_';
           if (word_char && !in_word) ++words;
           in_word = word_char;
         }
         return Value(words);
       }},
      {"center", [](const Value& v, const CallArgs& args) {
         BoundArgs a(args, "center", {"width"});
         CallArgs center_args;
         center_args.positional.push_back(Value(a.get_int(0, 80)));
         return call(*bound_method(Value(soft_str(v)), "center"), center_args);
       }},
      {"sum", [](const Value& v, const CallArgs& args) {
         BoundArgs a(args, "sum", {"attribute", "start"});
         Value total = a.get_or(1, Value(static_cast<int64_t>(0)));
         for (const Value& item : iterate(v))
           total = binary_op("+", total, a.has(0) && !a.get(0).is_none() ? lookup_path(item, a.get(0)) : item);
         return total;
       }},
      {"min", [](const Value& v, const CallArgs& a) { return min_max(v, a, false); }},
      {"max", [](const Value& v, const CallArgs& a) { return min_max(v, a, true); }},
      {"attr", [](const Value& v, const CallArgs& args) {
         BoundArgs a(args, "attr", {"name"});
         std::string name = a.get_string(0, "");
         if (v.is_dict() && !v.is_namespace() && !bound_method(v, name))
           return Value::undefined("'" + v.object_type_repr() + "' has no attribute '" + name + "'");
         return get_attribute(v, name);
       }},
      {"format", [](const Value& v, const CallArgs& args) {
         if (args.positional.size() == 1) return Value(percent_format(soft_str(v), args.positional[0]));
         return Value(percent_format(soft_str(v), Value::tuple(args.positional)));
       }},
  };
  return table;
}

}  // namespace

bool is_known_filter(const std::string& name) { return filters().count(name) > 0 || name == "d"; }

Value apply_filter(const std::string& name, const Value& input, const CallArgs& args) {
  const auto& table = filters();
  auto it = table.find(name == "d" ? "default" : name);
  if (it == table.end()) fail("TemplateAssertionError", "No filter named '" + name + "'.");
  // Filters that are Python generators in jinja2 fail only when their result is consumed.
  static const std::set<std::string> kGenerators = {"selectattr", "rejectattr", "select", "reject",
                                                    "map",        "unique",     "batch",  "items"};
  if (kGenerators.count(it->first)) {
    try {
      return it->second(input, args);
    } catch (const Error& e) {
      return Value::failed_generator(e);
    }
  }
  return it->second(input, args);
}

}  // namespace sy::jinja
