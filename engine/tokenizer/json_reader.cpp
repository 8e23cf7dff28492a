#include "engine/tokenizer/json_reader.h"

#include "engine/tokenizer/regex.h"

namespace sy::tok {

std::string pattern_to_regex(const json& j, const std::string& path) {
  if (j.is_object() && j.size() == 1) {
    if (const json* s = find_member(j, "String")) return escape_regex_literal(as_string(*s, child_path(path, "String")));
    if (const json* r = find_member(j, "Regex")) return as_string(*r, child_path(path, "Regex"));
  }
  throw FormatError(path, "expected {\"String\": ...} or {\"Regex\": ...}");
}

}  // namespace sy::tok
