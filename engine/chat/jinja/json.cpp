// JSON <-> Value. Output follows Python's json.dumps byte for byte (transformers' `tojson`):
// ", " / ": " separators, "," + newline with indent, float repr, \uXXXX escapes.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "engine/chat/jinja/builtins.h"
#include "engine/chat/jinja/text.h"

namespace sy::jinja {

namespace {

template <typename Json>
Value convert(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null: return Value::none();
    case Json::value_t::boolean: return Value(j.template get<bool>());
    case Json::value_t::number_integer: return Value(j.template get<int64_t>());
    case Json::value_t::number_unsigned: {
      uint64_t u = j.template get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value(static_cast<double>(u));
      return Value(static_cast<int64_t>(u));
    }
    case Json::value_t::number_float: return Value(j.template get<double>());
    case Json::value_t::string: return Value(j.template get<std::string>());
    case Json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& item : j) items.push_back(convert(item));
      return Value::list(std::move(items));
    }
    case Json::value_t::object: {
      Value d = Value::dict();
      for (auto it = j.begin(); it != j.end(); ++it) d.mutable_dict().entries.emplace_back(it.key(), convert(it.value()));
      return d;
    }
    default: return Value::none();
  }
}

}  // namespace

Value from_json(const nlohmann::json& j) { return convert(j); }
Value from_json(const nlohmann::ordered_json& j) { return convert(j); }

namespace {

void append_json_string(std::string& out, const std::string& s, bool ensure_ascii) {
  out.push_back('"');
  for (char32_t c : text::to_u32(s)) {
    switch (c) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      case '\b': out += "\\b"; continue;
      case '\f': out += "\\f"; continue;
      default: break;
    }
    char buf[16];
    if (c < 0x20 || (ensure_ascii && c > 0x7e)) {
      if (c >= 0x10000) {
        char32_t v = c - 0x10000;
        std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", static_cast<unsigned>(0xd800 + (v >> 10)),
                      static_cast<unsigned>(0xdc00 + (v & 0x3ff)));
      } else {
        std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      }
      out += buf;
    } else {
      text::append_utf8(out, c);
    }
  }
  out.push_back('"');
}

class JsonWriter {
 public:
  explicit JsonWriter(const JsonDumpOptions& options) : options_(options) {}

  void write(const Value& v, int level) {
    check_value_size(out_.size());
    switch (v.kind()) {
      case Value::Kind::None: out_ += "null"; return;
      case Value::Kind::Bool: out_ += v.as_bool() ? "true" : "false"; return;
      case Value::Kind::Int: out_ += std::to_string(v.as_int()); return;
      case Value::Kind::Float: {
        double f = v.as_float();
        if (std::isnan(f)) out_ += "NaN";
        else if (std::isinf(f)) out_ += f > 0 ? "Infinity" : "-Infinity";
        else out_ += float_repr(f);
        return;
      }
      case Value::Kind::String: append_json_string(out_, v.as_string(), options_.ensure_ascii); return;
      case Value::Kind::List: {
        if (v.as_list().is_generator) fail("TypeError", "Object of type generator is not JSON serializable");
        const auto& items = v.as_list().items;
        if (items.empty()) {
          out_ += "[]";
          return;
        }
        out_ += "[";
        for (size_t i = 0; i < items.size(); ++i) {
          if (i) out_ += options_.item_separator;
          newline(level + 1);
          write(items[i], level + 1);
        }
        newline(level);
        out_ += "]";
        return;
      }
      case Value::Kind::Dict: {
        if (v.is_namespace()) fail("TypeError", "Object of type Namespace is not JSON serializable");
        std::vector<const std::pair<std::string, Value>*> entries;
        for (const auto& entry : v.as_dict().entries) entries.push_back(&entry);
        if (entries.empty()) {
          out_ += "{}";
          return;
        }
        if (options_.sort_keys)
          std::stable_sort(entries.begin(), entries.end(), [](auto* a, auto* b) { return a->first < b->first; });
        out_ += "{";
        for (size_t i = 0; i < entries.size(); ++i) {
          if (i) out_ += options_.item_separator;
          newline(level + 1);
          append_json_string(out_, entries[i]->first, options_.ensure_ascii);
          out_ += options_.key_separator;
          write(entries[i]->second, level + 1);
        }
        newline(level);
        out_ += "}";
        return;
      }
      case Value::Kind::Undefined: fail("TypeError", "Object of type Undefined is not JSON serializable");
      case Value::Kind::Callable: fail("TypeError", "Object of type function is not JSON serializable");
    }
  }

  std::string take() { return std::move(out_); }

 private:
  void newline(int level) {
    if (!options_.indent) return;
    out_.push_back('\n');
    for (int i = 0; i < level; ++i) out_ += *options_.indent;
  }

  const JsonDumpOptions& options_;
  std::string out_;
};

}  // namespace

std::string json_dumps(const Value& v, const JsonDumpOptions& options) {
  JsonWriter writer(options);
  writer.write(v, 0);
  return writer.take();
}

}  // namespace sy::jinja
