// Typed access to tokenizer.json values with errors that name the JSON path
// ("model.merges[12]: expected a string or a pair"). Used only while loading a tokenizer.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace sy::tok {

using json = nlohmann::json;

// A malformed or unsupported tokenizer.json; what() is "<json path>: <problem>". The loader
// prefixes the file name.
class FormatError : public std::runtime_error {
 public:
  FormatError(const std::string& path, const std::string& problem)
      : std::runtime_error(path + ": " + problem) {}
};

inline std::string child_path(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}
inline std::string index_path(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

// Member `key` of object `j`, or nullptr when absent or null.
inline const json* find_member(const json& j, const std::string& key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

inline const json& require_member(const json& j, const std::string& path, const std::string& key) {
  if (!j.is_object()) throw FormatError(path, "expected an object");
  const json* v = find_member(j, key);
  if (!v) throw FormatError(child_path(path, key), "missing");
  return *v;
}

inline std::string as_string(const json& j, const std::string& path) {
  if (!j.is_string()) throw FormatError(path, "expected a string");
  return j.get<std::string>();
}

inline bool as_bool(const json& j, const std::string& path) {
  if (!j.is_boolean()) throw FormatError(path, "expected a boolean");
  return j.get<bool>();
}

inline int64_t as_int(const json& j, const std::string& path) {
  if (!j.is_number_integer()) throw FormatError(path, "expected an integer");
  return j.get<int64_t>();
}

inline int32_t as_token_id(const json& j, const std::string& path) {
  const int64_t v = as_int(j, path);
  if (v < 0 || v > INT32_MAX) throw FormatError(path, "token id out of range");
  return static_cast<int32_t>(v);
}

inline const json& as_array(const json& j, const std::string& path) {
  if (!j.is_array()) throw FormatError(path, "expected an array");
  return j;
}

inline std::string optional_string(const json& j, const std::string& path, const std::string& key,
                                   const std::string& fallback) {
  const json* v = find_member(j, key);
  return v ? as_string(*v, child_path(path, key)) : fallback;
}

inline bool optional_bool(const json& j, const std::string& path, const std::string& key, bool fallback) {
  const json* v = find_member(j, key);
  return v ? as_bool(*v, child_path(path, key)) : fallback;
}

inline int64_t optional_int(const json& j, const std::string& path, const std::string& key, int64_t fallback) {
  const json* v = find_member(j, key);
  return v ? as_int(*v, child_path(path, key)) : fallback;
}

// The "type" tag of a component object.
inline std::string component_type(const json& j, const std::string& path) {
  if (!j.is_object()) throw FormatError(path, "expected an object");
  return as_string(require_member(j, path, "type"), child_path(path, "type"));
}

// A string holding exactly one Unicode character (Metaspace replacement, Strip content, ...).
char32_t single_char(const std::string& s, const std::string& path);

// A {"String": "..."} or {"Regex": "..."} pattern. Returns a PCRE2 pattern.
std::string pattern_to_regex(const json& j, const std::string& path);

}  // namespace sy::tok
