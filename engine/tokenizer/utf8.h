// UTF-8 helpers for the tokenizer (request -> tokenize -> scheduler; sampler -> detokenize).
// Decoding follows Rust's rules exactly (String::from_utf8_lossy, char::is_whitespace, ...),
// because Hugging Face `tokenizers` is written in Rust and our ids/texts must equal its ones.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sy::tok {

inline constexpr char32_t kReplacementChar = 0xFFFD;

// Number of bytes of the UTF-8 sequence starting with lead byte `b` (1 for invalid leads).
inline size_t utf8_sequence_length(unsigned char b) {
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) return 2;
  if (b >= 0xE0 && b <= 0xEF) return 3;
  if (b >= 0xF0 && b <= 0xF4) return 4;
  return 1;
}

// Decodes the (valid) code point at text[pos]; advances pos. Input must be valid UTF-8.
char32_t next_code_point(std::string_view text, size_t& pos);
void append_utf8(std::string& out, char32_t cp);

// Rust String::from_utf8_lossy: each maximal invalid subpart becomes one U+FFFD.
// `incomplete_tail` (optional) is set when the bytes end inside a sequence that more bytes
// could still complete (the streaming detokenizer must not cut there).
std::string utf8_lossy(std::string_view bytes, bool* incomplete_tail = nullptr);
bool is_valid_utf8(std::string_view bytes);

// Rust char predicates (Unicode properties via ICU).
bool is_whitespace(char32_t cp);    // White_Space
bool is_numeric(char32_t cp);       // general category Nd, Nl or No
bool is_alphanumeric(char32_t cp);  // Alphabetic or numeric

}  // namespace sy::tok
