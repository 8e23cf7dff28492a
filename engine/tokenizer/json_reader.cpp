#include "engine/tokenizer/json_reader.h"

#include "engine/tokenizer/regex.h"
#include "engine/tokenizer/utf8.h"

namespace sy::tok {

std::string pattern_to_regex(const json& j, const std::string& path) {
  if (j.is_object() && j.size() == 1) {
    if (const json* s = find_member(j, "String")) return escape_regex_literal(as_string(*s, child_path(path, "String")));
    if (const json* r = find_member(j, "Regex")) return as_string(*r, child_path(path, "Regex"));
  }
  throw FormatError(path, "expected {\"String\": ...} or {\"Regex\": ...}");
}

char32_t single_char(const std::string& s, const std::string& path) {
  size_t pos = 0;
  if (s.empty() || !is_valid_utf8(s)) throw FormatError(path, "expected a single character");
  const char32_t cp = next_code_point(s, pos);
  if (pos != s.size()) throw FormatError(path, "expected a single character");
  return cp;
}

}  // namespace sy::tok
