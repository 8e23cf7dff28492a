#include "engine/tokenizer/utf8.h"

#include <unicode/uchar.h>

namespace sy::tok {

char32_t next_code_point(std::string_view text, size_t& pos) {
  const auto b0 = static_cast<unsigned char>(text[pos]);
  const size_t len = utf8_sequence_length(b0);
  if (len == 1) {
    ++pos;
    return b0;
  }
  char32_t cp = b0 & (0x7F >> len);
  for (size_t i = 1; i < len; ++i) cp = (cp << 6) | (static_cast<unsigned char>(text[pos + i]) & 0x3F);
  pos += len;
  return cp;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

namespace {

// Valid range of the second byte after lead `b` (Unicode Table 3-7); later bytes are 80..BF.
void second_byte_range(unsigned char b, unsigned char& lo, unsigned char& hi) {
  lo = 0x80;
  hi = 0xBF;
  if (b == 0xE0) lo = 0xA0;
  if (b == 0xED) hi = 0x9F;
  if (b == 0xF0) lo = 0x90;
  if (b == 0xF4) hi = 0x8F;
}

// Length of the valid sequence at bytes[pos], or 0 when invalid; `valid_prefix` is how many
// bytes form a prefix of some valid sequence (the maximal subpart), `truncated` whether the
// input ended inside it.
size_t scan_sequence(std::string_view bytes, size_t pos, size_t& valid_prefix, bool& truncated) {
  const auto b0 = static_cast<unsigned char>(bytes[pos]);
  truncated = false;
  valid_prefix = 1;
  if (b0 < 0x80) return 1;
  const size_t len = utf8_sequence_length(b0);
  if (len == 1) return 0;  // 80..C1 or F5..FF: never valid
  for (size_t i = 1; i < len; ++i) {
    if (pos + i >= bytes.size()) {
      truncated = true;
      return 0;
    }
    const auto b = static_cast<unsigned char>(bytes[pos + i]);
    unsigned char lo = 0x80, hi = 0xBF;
    if (i == 1) second_byte_range(b0, lo, hi);
    if (b < lo || b > hi) return 0;
    valid_prefix = i + 1;
  }
  return len;
}

}  // namespace

std::string utf8_lossy(std::string_view bytes, bool* incomplete_tail) {
  std::string out;
  out.reserve(bytes.size());
  if (incomplete_tail) *incomplete_tail = false;
  size_t pos = 0;
  while (pos < bytes.size()) {
    size_t valid_prefix = 0;
    bool truncated = false;
    const size_t len = scan_sequence(bytes, pos, valid_prefix, truncated);
    if (len > 0) {
      out.append(bytes.substr(pos, len));
      pos += len;
      continue;
    }
    append_utf8(out, kReplacementChar);
    if (truncated && incomplete_tail) *incomplete_tail = true;
    pos += valid_prefix;
  }
  return out;
}

bool is_valid_utf8(std::string_view bytes) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    size_t valid_prefix = 0;
    bool truncated = false;
    const size_t len = scan_sequence(bytes, pos, valid_prefix, truncated);
    if (len == 0) return false;
    pos += len;
  }
  return true;
}

bool is_whitespace(char32_t cp) { return u_isUWhiteSpace(static_cast<UChar32>(cp)); }

bool is_numeric(char32_t cp) {
  const auto type = u_charType(static_cast<UChar32>(cp));
  return type == U_DECIMAL_DIGIT_NUMBER || type == U_LETTER_NUMBER || type == U_OTHER_NUMBER;
}

bool is_alphanumeric(char32_t cp) {
  return u_isUAlphabetic(static_cast<UChar32>(cp)) || is_numeric(cp);
}

}  // namespace sy::tok
