#include "engine/tokenizer/byte_level.h"

#include "engine/tokenizer/utf8.h"

namespace sy::tok {

ByteLevelAlphabet::ByteLevelAlphabet() {
  char_to_byte_.fill(-1);
  // Printable Latin-1 bytes stand for themselves; the other 68 map to U+0100 upwards in order.
  char32_t next_extra = 0x100;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    const char32_t cp = printable ? static_cast<char32_t>(b) : next_extra++;
    std::string utf8;
    append_utf8(utf8, cp);
    encoded_len_[b] = static_cast<uint8_t>(utf8.size());
    for (size_t i = 0; i < utf8.size(); ++i) encoded_[b][i] = utf8[i];
    char_to_byte_[cp] = static_cast<int16_t>(b);
  }
}

const ByteLevelAlphabet& ByteLevelAlphabet::get() {
  static const ByteLevelAlphabet alphabet;
  return alphabet;
}

void ByteLevelAlphabet::encode(std::string_view bytes, std::string& out) const {
  out.reserve(out.size() + bytes.size() * 2);
  for (char c : bytes) {
    const auto b = static_cast<uint8_t>(c);
    out.append(encoded_[b].data(), encoded_len_[b]);
  }
}

}  // namespace sy::tok
