// Python str semantics on UTF-8 strings; case mapping goes through ICU's root locale, which
// applies the same full Unicode mappings (including final sigma) as CPython.
#include "engine/chat/jinja/text.h"

#include "engine/chat/jinja/value.h"

#include <unicode/uchar.h>
#include <unicode/ustring.h>

#include <algorithm>

namespace sy::jinja::text {

std::u32string to_u32(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    char32_t cp;
    int extra;
    if (c < 0x80) { cp = c; extra = 0; }
    else if ((c >> 5) == 0x6) { cp = c & 0x1f; extra = 1; }
    else if ((c >> 4) == 0xe) { cp = c & 0x0f; extra = 2; }
    else if ((c >> 3) == 0x1e) { cp = c & 0x07; extra = 3; }
    else { cp = 0xfffd; extra = 0; }  // stray continuation byte: inputs come from JSON, so rare
    ++i;
    for (int k = 0; k < extra && i < s.size(); ++k, ++i) cp = (cp << 6) | (static_cast<unsigned char>(s[i]) & 0x3f);
    out.push_back(cp);
  }
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out.push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

std::string to_utf8(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) append_utf8(out, c);
  return out;
}

size_t length(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xc0) != 0x80;
  return n;
}

bool is_space(char32_t c) {
  if (c <= 0x20) return c == 0x20 || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f);
  switch (c) {
    case 0x85: case 0xa0: case 0x1680: case 0x2028: case 0x2029: case 0x202f: case 0x205f: case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200a;
  }
}

std::string strip(std::string_view s, const std::optional<std::string>& chars, bool left, bool right) {
  std::u32string u = to_u32(s);
  std::u32string set = chars ? to_u32(*chars) : std::u32string();
  auto strippable = [&](char32_t c) { return chars ? set.find(c) != std::u32string::npos : is_space(c); };
  size_t begin = 0, end = u.size();
  if (left) while (begin < end && strippable(u[begin])) ++begin;
  if (right) while (end > begin && strippable(u[end - 1])) --end;
  return to_utf8(std::u32string_view(u).substr(begin, end - begin));
}

std::vector<std::string> split(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit,
                               bool from_right) {
  std::vector<std::string> parts;
  if (sep) {
    if (sep->empty()) fail("ValueError", "empty separator");
    if (!from_right) {
      size_t pos = 0;
      while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
        size_t hit = s.find(*sep, pos);
        if (hit == std::string_view::npos) break;
        parts.emplace_back(s.substr(pos, hit - pos));
        pos = hit + sep->size();
      }
      parts.emplace_back(s.substr(pos));
    } else {
      size_t end = s.size();
      while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
        if (end < sep->size()) break;
        size_t hit = s.rfind(*sep, end - sep->size());
        if (hit == std::string_view::npos) break;
        parts.emplace_back(s.substr(hit + sep->size(), end - hit - sep->size()));
        end = hit;
      }
      parts.emplace_back(s.substr(0, end));
      std::reverse(parts.begin(), parts.end());
    }
    return parts;
  }
  // Whitespace splitting drops empty pieces; the unsplit remainder keeps inner whitespace.
  std::u32string u = to_u32(s);
  if (!from_right) {
    size_t i = 0;
    while (true) {
      while (i < u.size() && is_space(u[i])) ++i;
      if (i >= u.size()) break;
      if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) >= maxsplit) {
        parts.push_back(to_utf8(std::u32string_view(u).substr(i)));  // remainder keeps its trailing space
        break;
      }
      size_t j = i;
      while (j < u.size() && !is_space(u[j])) ++j;
      parts.push_back(to_utf8(std::u32string_view(u).substr(i, j - i)));
      i = j;
    }
  } else {
    size_t i = u.size();
    while (true) {
      while (i > 0 && is_space(u[i - 1])) --i;
      if (i == 0) break;
      if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) >= maxsplit) {
        parts.push_back(to_utf8(std::u32string_view(u).substr(0, i)));  // remainder keeps its leading space
        break;
      }
      size_t j = i;
      while (j > 0 && !is_space(u[j - 1])) --j;
      parts.push_back(to_utf8(std::u32string_view(u).substr(j, i - j)));
      i = j;
    }
    std::reverse(parts.begin(), parts.end());
  }
  return parts;
}

std::vector<std::string> splitlines(std::string_view s) {
  std::u32string u = to_u32(s);
  std::vector<std::string> lines;
  size_t start = 0, i = 0;
  while (i < u.size()) {
    char32_t c = u[i];
    bool is_break = c == '\n' || c == '\r' || c == 0x0b || c == 0x0c || c == 0x1c || c == 0x1d || c == 0x1e ||
                    c == 0x85 || c == 0x2028 || c == 0x2029;
    if (!is_break) { ++i; continue; }
    lines.push_back(to_utf8(std::u32string_view(u).substr(start, i - start)));
    i += (c == '\r' && i + 1 < u.size() && u[i + 1] == '\n') ? 2 : 1;
    start = i;
  }
  if (start < u.size()) lines.push_back(to_utf8(std::u32string_view(u).substr(start)));
  return lines;
}

std::string replace(std::string_view s, std::string_view old_text, std::string_view new_text, int64_t count) {
  std::string out;
  if (old_text.empty()) {
    // Python inserts the replacement before every code point and at the end.
    std::u32string u = to_u32(s);
    int64_t done = 0;
    for (char32_t c : u) {
      if (count < 0 || done < count) { out.append(new_text); ++done; }
      append_utf8(out, c);
    }
    if (count < 0 || done < count) out.append(new_text);
    return out;
  }
  size_t pos = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    size_t hit = s.find(old_text, pos);
    if (hit == std::string_view::npos) break;
    out.append(s.substr(pos, hit - pos));
    out.append(new_text);
    pos = hit + old_text.size();
    ++done;
  }
  out.append(s.substr(pos));
  return out;
}

int64_t find(std::string_view s, std::string_view sub, bool from_right) {
  size_t hit = from_right ? s.rfind(sub) : s.find(sub);
  if (hit == std::string_view::npos) return -1;
  return static_cast<int64_t>(length(s.substr(0, hit)));
}

int64_t count(std::string_view s, std::string_view sub) {
  if (sub.empty()) return static_cast<int64_t>(length(s)) + 1;
  int64_t n = 0;
  for (size_t pos = s.find(sub); pos != std::string_view::npos; pos = s.find(sub, pos + sub.size())) ++n;
  return n;
}

namespace {

enum class CaseMap { Upper, Lower };

std::string map_case(std::string_view s, CaseMap which) {
  if (s.empty()) return {};
  std::u16string src;
  for (char32_t c : to_u32(s)) {
    if (c >= 0x10000) {
      src.push_back(static_cast<char16_t>(0xd800 + ((c - 0x10000) >> 10)));
      src.push_back(static_cast<char16_t>(0xdc00 + ((c - 0x10000) & 0x3ff)));
    } else {
      src.push_back(static_cast<char16_t>(c));
    }
  }
  std::u16string dst(src.size() * 3 + 8, u'\0');
  UErrorCode status = U_ZERO_ERROR;
  int32_t n = which == CaseMap::Upper
                  ? u_strToUpper(reinterpret_cast<UChar*>(dst.data()), static_cast<int32_t>(dst.size()),
                                 reinterpret_cast<const UChar*>(src.data()), static_cast<int32_t>(src.size()), "", &status)
                  : u_strToLower(reinterpret_cast<UChar*>(dst.data()), static_cast<int32_t>(dst.size()),
                                 reinterpret_cast<const UChar*>(src.data()), static_cast<int32_t>(src.size()), "", &status);
  if (U_FAILURE(status)) return std::string(s);
  dst.resize(static_cast<size_t>(n));
  std::string out;
  out.reserve(dst.size());
  for (size_t i = 0; i < dst.size(); ++i) {
    char32_t c = dst[i];
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < dst.size()) {
      c = 0x10000 + ((c - 0xd800) << 10) + (dst[i + 1] - 0xdc00);
      ++i;
    }
    append_utf8(out, c);
  }
  return out;
}

std::string title_char(char32_t c) {
  std::string out;
  append_utf8(out, static_cast<char32_t>(u_totitle(static_cast<UChar32>(c))));
  return out;
}

bool is_cased(char32_t c) { return u_hasBinaryProperty(static_cast<UChar32>(c), UCHAR_CASED); }

}  // namespace

std::string upper(std::string_view s) { return map_case(s, CaseMap::Upper); }
std::string lower(std::string_view s) { return map_case(s, CaseMap::Lower); }

std::string capitalize(std::string_view s) {
  std::u32string u = to_u32(s);
  if (u.empty()) return {};
  return title_char(u[0]) + lower(to_utf8(std::u32string_view(u).substr(1)));
}

std::string py_title(std::string_view s) {
  std::string out;
  bool previous_is_cased = false;
  for (char32_t c : to_u32(s)) {
    std::string one;
    append_utf8(one, c);
    out += previous_is_cased ? lower(one) : title_char(c);
    previous_is_cased = is_cased(c);
  }
  return out;
}

std::string jinja_title(std::string_view s) {
  // jinja: split on runs of [-\s({\[<], then upper-case each piece's first char, lower the rest.
  auto is_boundary = [](char32_t c) {
    return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || is_space(c);
  };
  std::u32string u = to_u32(s);
  std::string out;
  size_t i = 0;
  while (i < u.size()) {
    bool boundary = is_boundary(u[i]);
    size_t j = i;
    while (j < u.size() && is_boundary(u[j]) == boundary) ++j;
    std::u32string_view piece = std::u32string_view(u).substr(i, j - i);
    out += upper(to_utf8(piece.substr(0, 1))) + lower(to_utf8(piece.substr(1)));
    i = j;
  }
  return out;
}

bool is_alnum(char32_t c) { return u_isalnum(static_cast<UChar32>(c)); }
bool is_alpha(char32_t c) { return u_isalpha(static_cast<UChar32>(c)); }
bool is_digit(char32_t c) { return u_isdigit(static_cast<UChar32>(c)); }

bool is_lower_cased(std::string_view s) {
  bool any_cased = false;
  for (char32_t c : to_u32(s)) {
    if (u_isupper(static_cast<UChar32>(c)) || u_istitle(static_cast<UChar32>(c))) return false;
    if (u_islower(static_cast<UChar32>(c))) any_cased = true;
  }
  return any_cased;
}

bool is_upper_cased(std::string_view s) {
  bool any_cased = false;
  for (char32_t c : to_u32(s)) {
    if (u_islower(static_cast<UChar32>(c)) || u_istitle(static_cast<UChar32>(c))) return false;
    if (u_isupper(static_cast<UChar32>(c))) any_cased = true;
  }
  return any_cased;
}

}  // namespace sy::jinja::text
