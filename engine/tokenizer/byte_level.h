// GPT-2's byte <-> printable-character table used by the ByteLevel pre-tokenizer (bytes -> the
// characters BPE vocabularies are written in) and the ByteLevel decoder (back to bytes).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace sy::tok {

class ByteLevelAlphabet {
 public:
  static const ByteLevelAlphabet& get();
  // UTF-8 of the character that stands for byte b.
  std::string_view encode_byte(uint8_t b) const { return {encoded_[b].data(), encoded_len_[b]}; }
  // Appends the characters standing for each byte of `bytes`.
  void encode(std::string_view bytes, std::string& out) const;
  // Byte a character stands for, or -1 when it is not one of the 256.
  int decode_char(char32_t cp) const { return cp < kTableSize ? char_to_byte_[cp] : -1; }

 private:
  ByteLevelAlphabet();
  static constexpr char32_t kTableSize = 0x200;  // all 256 characters are below U+0144
  std::array<std::array<char, 2>, 256> encoded_{};
  std::array<uint8_t, 256> encoded_len_{};
  std::array<int16_t, kTableSize> char_to_byte_{};
};

}  // namespace sy::tok
