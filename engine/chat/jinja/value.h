// Value: the dynamic value model of the chat-template interpreter (request -> chat template ->
// token ids). It mirrors the Python objects a Jinja template sees under transformers: None,
// bool, int, float, str, list/tuple, dict (insertion-ordered), jinja's Undefined, namespaces,
// and callables (macros, globals, bound methods). Printing and comparison follow Python so the
// rendered text is byte-identical to jinja2's.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace sy::jinja {

// A failure while rendering; the interpreter attaches the template position. `kind` is the
// Python exception class jinja2 would raise ("UndefinedError", "TypeError", ...).
struct Error {
  std::string kind;
  std::string message;
};
[[noreturn]] void fail(std::string kind, std::string message);

class Value;
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};
using NativeFunction = std::function<Value(CallArgs&)>;

struct ListData {
  std::vector<Value> items;
  bool is_tuple = false;
  // Jinja filters such as selectattr/map return generators: always truthy and without len().
  bool is_generator = false;
  // A generator's body runs when it is consumed: an error it hits (items of a non-mapping,
  // map over an int) surfaces only then, and never if the template just tests it for truth.
  std::shared_ptr<const Error> deferred_error;
  // How many items of a generator were consumed: like a Python generator, it yields each item
  // once (`g|list` twice gives the items, then []), shared by every reference to it.
  mutable size_t consumed = 0;
};

struct DictData {
  std::vector<std::pair<std::string, Value>> entries;  // insertion order, like a Python dict
  bool is_namespace = false;                            // jinja namespace(): the only assignable object
  const Value* find(const std::string& key) const;
  Value* find(const std::string& key);
  void set(const std::string& key, Value value);
};

struct CallableData {
  std::string name;
  NativeFunction fn;
};

class Value {
 public:
  enum class Kind : uint8_t { Undefined, None, Bool, Int, Float, String, List, Dict, Callable };

  Value() = default;  // Undefined
  static Value undefined(std::string hint = {}, bool unsafe = false);
  static Value none();
  Value(bool b);
  Value(int64_t i);
  Value(int i) : Value(static_cast<int64_t>(i)) {}
  Value(double f);
  Value(std::string s);
  Value(const char* s) : Value(std::string(s)) {}
  static Value list(std::vector<Value> items = {});
  static Value tuple(std::vector<Value> items);
  static Value generator(std::vector<Value> items);
  static Value failed_generator(Error error);  // raises `error` when iterated
  static Value dict();
  static Value namespace_object();
  static Value callable(std::string name, NativeFunction fn);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::Undefined; }
  bool is_none() const { return kind_ == Kind::None; }
  bool is_bool() const { return kind_ == Kind::Bool; }
  bool is_int() const { return kind_ == Kind::Int; }
  bool is_float() const { return kind_ == Kind::Float; }
  bool is_number() const { return kind_ == Kind::Int || kind_ == Kind::Float || kind_ == Kind::Bool; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_list() const { return kind_ == Kind::List; }
  bool is_dict() const { return kind_ == Kind::Dict; }
  bool is_namespace() const { return kind_ == Kind::Dict && dict_->is_namespace; }
  bool is_callable() const { return kind_ == Kind::Callable; }

  bool as_bool() const { return b_; }
  int64_t as_int() const { return kind_ == Kind::Bool ? (b_ ? 1 : 0) : i_; }
  double as_float() const { return kind_ == Kind::Float ? f_ : static_cast<double>(as_int()); }
  const std::string& as_string() const { return s_; }
  const ListData& as_list() const { return *list_; }
  const DictData& as_dict() const { return *dict_; }
  DictData& mutable_dict() const { return *dict_; }
  const CallableData& as_callable() const { return *fn_; }
  // For Undefined: the message jinja2 raises when the value is used, and whether it came from
  // a blocked attribute (SecurityError) rather than a missing one.
  const std::string& undefined_hint() const { return s_; }
  bool undefined_is_unsafe() const { return b_; }
  [[noreturn]] void raise_undefined() const;

  // Python truthiness (generators are always true, Undefined is false).
  bool truthy() const;
  // Python type name as in error messages: 'int', 'str', 'NoneType', 'list', 'dict', ...
  std::string type_name() const;
  // jinja2's object_type_repr: "dict object", "None", ...
  std::string object_type_repr() const;
  // str(x) and repr(x) as Python prints them; Undefined prints as "".
  std::string str() const;
  std::string repr() const;

 private:
  Kind kind_ = Kind::Undefined;
  bool b_ = false;
  int64_t i_ = 0;
  double f_ = 0;
  std::string s_;
  std::shared_ptr<ListData> list_;
  std::shared_ptr<DictData> dict_;
  std::shared_ptr<CallableData> fn_;
};

// Python ==, used by ==, in, equalto and unique.
bool equals(const Value& a, const Value& b);
// Python <; throws TypeError for unorderable types.
bool less_than(const Value& a, const Value& b);
// Python a <op> b for op in < <= > >=, with CPython's error naming the operator and operands.
bool compare_order(const std::string& op, const Value& a, const Value& b);
// Python float repr: shortest round-trip digits, "1e+16" style exponents, "1.0" for integers.
std::string float_repr(double f);
// Python repr of a str.
std::string string_repr(const std::string& s);

}  // namespace sy::jinja
