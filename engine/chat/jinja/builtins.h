// Built-in behaviour of the chat-template interpreter (request -> chat template -> token ids):
// Python operators on Values, attribute/item access as jinja2's sandbox performs it, str/dict/
// list methods, jinja filters and tests, and Python's json.dumps for `tojson`.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/chat/jinja/value.h"

namespace sy::jinja {

// ---- sandbox size bound shared by every operation that builds a string or list ----
void set_max_value_bytes(size_t bytes);  // per render thread
void check_value_size(size_t bytes);     // throws when `bytes` exceeds the bound

// ---- binding call arguments to a Python-style signature ----
class BoundArgs {
 public:
  // Binds positional and keyword arguments to `names` in order; throws TypeError like Python
  // for unknown keywords or too many positionals.
  BoundArgs(const CallArgs& call, const std::string& function, std::initializer_list<const char*> names);
  bool has(size_t index) const { return values_[index].has_value(); }
  const Value& get(size_t index) const { return *values_[index]; }
  Value get_or(size_t index, Value fallback) const { return has(index) ? get(index) : std::move(fallback); }
  // Typed accessors that raise TypeError naming the function and parameter.
  int64_t get_int(size_t index, int64_t fallback) const;
  std::string get_string(size_t index, const std::string& fallback) const;
  bool get_bool(size_t index, bool fallback) const;

 private:
  std::string function_;
  std::vector<std::string> names_;
  std::vector<std::optional<Value>> values_;
};

// ---- operators and access (operators.cpp) ----
Value binary_op(const std::string& op, const Value& a, const Value& b);
Value negate(const Value& v, bool minus);
bool contains(const Value& haystack, const Value& needle);
// Items a `for` loop (or a filter) iterates: dict keys, string characters, Undefined -> none.
std::vector<Value> iterate(const Value& v);
int64_t length(const Value& v);  // len(); TypeError for objects without one
Value get_attribute(const Value& object, const std::string& name);
Value get_item(const Value& object, const Value& key);
Value slice(const Value& object, const Value& start, const Value& stop, const Value& step);
Value call(const Value& callee, CallArgs& args);
std::string percent_format(const std::string& format, const Value& args);  // str % args

// ---- methods of str/dict/list (methods.cpp); nullopt when `name` is not a method ----
std::optional<Value> bound_method(const Value& object, const std::string& name);
bool is_unsafe_method(const Value& object, const std::string& name);

// ---- filters and tests (filters.cpp, tests.cpp) ----
bool is_known_filter(const std::string& name);
Value apply_filter(const std::string& name, const Value& input, const CallArgs& args);
bool is_known_test(const std::string& name);
bool apply_test(const std::string& name, const Value& value, const CallArgs& args);

// ---- JSON (json.cpp) ----
Value from_json(const nlohmann::json& j);
Value from_json(const nlohmann::ordered_json& j);  // keeps the document's key order
struct JsonDumpOptions {
  bool ensure_ascii = false;
  std::optional<std::string> indent;  // Python's indent: an int becomes that many spaces
  std::string item_separator = ", ";
  std::string key_separator = ": ";
  bool sort_keys = false;
};
std::string json_dumps(const Value& v, const JsonDumpOptions& options);

}  // namespace sy::jinja
