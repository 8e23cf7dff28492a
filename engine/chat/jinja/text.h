// Python str semantics on UTF-8 strings for the chat-template interpreter (request -> chat
// template -> token ids). Python indexes strings by code point and uses Unicode whitespace and
// case rules; templates slice, strip and upper-case message text, so these must match exactly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sy::jinja::text {

std::u32string to_u32(std::string_view s);
std::string to_utf8(std::u32string_view s);
void append_utf8(std::string& out, char32_t cp);
size_t length(std::string_view s);  // in code points, as Python len()

bool is_space(char32_t c);  // str.isspace()
// str.strip/lstrip/rstrip; `chars` absent strips whitespace.
std::string strip(std::string_view s, const std::optional<std::string>& chars, bool left, bool right);
// str.split / str.rsplit; `sep` absent splits on whitespace runs.
std::vector<std::string> split(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit,
                               bool from_right);
// str.splitlines() (no keepends).
std::vector<std::string> splitlines(std::string_view s);
std::string replace(std::string_view s, std::string_view old_text, std::string_view new_text, int64_t count);
int64_t find(std::string_view s, std::string_view sub, bool from_right);  // code point index or -1
int64_t count(std::string_view s, std::string_view sub);

std::string upper(std::string_view s);
std::string lower(std::string_view s);
std::string capitalize(std::string_view s);  // str.capitalize()
std::string py_title(std::string_view s);    // str.title()
std::string jinja_title(std::string_view s); // jinja's |title filter
bool is_alnum(char32_t c);
bool is_alpha(char32_t c);
bool is_digit(char32_t c);
bool is_lower_cased(std::string_view s);  // str.islower()
bool is_upper_cased(std::string_view s);  // str.isupper()

}  // namespace sy::jinja::text
