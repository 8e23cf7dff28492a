#include "engine/tokenizer/decoder.h"

#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/regex.h"
#include "engine/tokenizer/utf8.h"

namespace sy::tok {
namespace {

class ByteLevelDecoder final : public Decoder {
 public:
  void decode(std::vector<std::string>& tokens, DecodeState& state) const override {
    const ByteLevelAlphabet& alphabet = ByteLevelAlphabet::get();
    std::string bytes;
    for (const std::string& token : tokens) {
      // A token with any character outside the 256 is taken as its own UTF-8 bytes (HF).
      const size_t mark = bytes.size();
      size_t pos = 0;
      bool mapped = true;
      while (pos < token.size()) {
        const int b = alphabet.decode_char(next_code_point(token, pos));
        if (b < 0) {
          mapped = false;
          break;
        }
        bytes.push_back(static_cast<char>(b));
      }
      if (!mapped) {
        bytes.resize(mark);
        bytes += token;
      }
    }
    bool incomplete = false;
    std::string text = utf8_lossy(bytes, &incomplete);
    state.open_tail |= incomplete;
    state.fused = true;
    tokens.assign(1, std::move(text));
  }
};

class MetaspaceDecoder final : public Decoder {
 public:
  MetaspaceDecoder(std::string replacement, bool prepends) : replacement_(std::move(replacement)), prepends_(prepends) {}
  void decode(std::vector<std::string>& tokens, DecodeState& state) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      // HF removes every replacement character of the sequence's first token, not just one.
      const bool first = i == 0 && state.at_sequence_start && prepends_;
      std::string out;
      out.reserve(tokens[i].size());
      size_t pos = 0;
      while (pos < tokens[i].size()) {
        if (tokens[i].compare(pos, replacement_.size(), replacement_) == 0) {
          if (!first) out.push_back(' ');
          pos += replacement_.size();
        } else {
          out.push_back(tokens[i][pos++]);
        }
      }
      tokens[i] = std::move(out);
    }
  }

 private:
  std::string replacement_;
  bool prepends_;
};

class ReplaceDecoder final : public Decoder {
 public:
  ReplaceDecoder(const std::string& pattern, std::string content) : regex_(pattern), content_(std::move(content)) {}
  void decode(std::vector<std::string>& tokens, DecodeState&) const override {
    std::vector<std::pair<size_t, size_t>> matches;
    for (std::string& token : tokens) {
      regex_.find_all(token, matches);
      if (matches.empty()) continue;
      std::string out;
      size_t last = 0;
      for (const auto& [begin, end] : matches) {
        out.append(token, last, begin - last);
        out += content_;
        last = end;
      }
      out.append(token, last, std::string::npos);
      token = std::move(out);
    }
  }

 private:
  Regex regex_;
  std::string content_;
};

// "<0xNN>" -> NN, or -1.
int parse_byte_token(const std::string& token) {
  if (token.size() != 6 || token.compare(0, 3, "<0x") != 0 || token[5] != '>') return -1;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = hex(token[3]), lo = hex(token[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

class ByteFallbackDecoder final : public Decoder {
 public:
  void decode(std::vector<std::string>& tokens, DecodeState& state) const override {
    std::vector<std::string> out;
    out.reserve(tokens.size());
    std::string run;
    // A run of byte tokens becomes its text when valid UTF-8, else one U+FFFD per byte.
    auto flush = [&]() {
      if (run.empty()) return;
      if (is_valid_utf8(run)) {
        out.push_back(run);
      } else {
        for (size_t i = 0; i < run.size(); ++i) out.emplace_back("\xEF\xBF\xBD");
      }
      run.clear();
    };
    for (std::string& token : tokens) {
      const int b = parse_byte_token(token);
      if (b >= 0) {
        run.push_back(static_cast<char>(b));
      } else {
        flush();
        out.push_back(std::move(token));
      }
    }
    state.open_tail |= !run.empty();
    flush();
    tokens = std::move(out);
  }
};

class FuseDecoder final : public Decoder {
 public:
  void decode(std::vector<std::string>& tokens, DecodeState& state) const override {
    std::string joined;
    for (const std::string& t : tokens) joined += t;
    tokens.assign(1, std::move(joined));
    state.fused = true;
  }
};

class StripDecoder final : public Decoder {
 public:
  StripDecoder(char32_t content, size_t start, size_t stop) : content_(content), start_(start), stop_(stop) {}
  void decode(std::vector<std::string>& tokens, DecodeState& state) const override {
    // After fusion the one token is the whole text: its start is the sequence's start only in
    // the first chunk, and its end is known only at the very end.
    const size_t start = state.fused && !state.at_sequence_start ? 0 : start_;
    if (state.fused && stop_ > 0) state.open_tail = true;
    for (std::string& token : tokens) {
      std::vector<std::pair<size_t, char32_t>> chars;  // (byte offset, code point)
      size_t pos = 0;
      while (pos < token.size()) {
        const size_t at = pos;
        chars.emplace_back(at, next_code_point(token, pos));
      }
      size_t cut_front = 0;
      while (cut_front < start && cut_front < chars.size() && chars[cut_front].second == content_) ++cut_front;
      size_t cut_back = 0;
      while (cut_back < stop_ && cut_back < chars.size() && chars[chars.size() - 1 - cut_back].second == content_) ++cut_back;
      if (cut_front + cut_back >= chars.size()) {
        token.clear();
        continue;
      }
      const size_t begin = chars[cut_front].first;
      const size_t end = cut_back == 0 ? token.size() : chars[chars.size() - cut_back].first;
      token = token.substr(begin, end - begin);
    }
  }

 private:
  char32_t content_;
  size_t start_, stop_;
};

class SequenceDecoder final : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> parts) : parts_(std::move(parts)) {}
  void decode(std::vector<std::string>& tokens, DecodeState& state) const override {
    for (const auto& part : parts_) part->decode(tokens, state);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

}  // namespace

std::unique_ptr<Decoder> make_decoder(const json& j, const std::string& path) {
  if (j.is_null()) return nullptr;
  const std::string type = component_type(j, path);
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "Metaspace") {
    const std::string replacement = optional_string(j, path, "replacement", "\u2581");
    single_char(replacement, child_path(path, "replacement"));
    bool prepends = optional_bool(j, path, "add_prefix_space", true);
    if (const json* s = find_member(j, "prepend_scheme")) {
      const std::string scheme = as_string(*s, child_path(path, "prepend_scheme"));
      if (scheme != "first" && scheme != "always" && scheme != "never") {
        throw FormatError(child_path(path, "prepend_scheme"), "unknown prepend scheme \"" + scheme + "\"");
      }
      prepends = scheme != "never";
    }
    return std::make_unique<MetaspaceDecoder>(replacement, prepends);
  }
  if (type == "Replace") {
    const std::string pattern_path = child_path(path, "pattern");
    const std::string pattern = pattern_to_regex(require_member(j, path, "pattern"), pattern_path);
    std::string content = as_string(require_member(j, path, "content"), child_path(path, "content"));
    try {
      return std::make_unique<ReplaceDecoder>(pattern, std::move(content));
    } catch (const std::invalid_argument& e) {
      throw FormatError(pattern_path, e.what());
    }
  }
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip") {
    const char32_t content = single_char(as_string(require_member(j, path, "content"), child_path(path, "content")),
                                         child_path(path, "content"));
    const int64_t start = optional_int(j, path, "start", 0), stop = optional_int(j, path, "stop", 0);
    if (start < 0 || stop < 0) throw FormatError(path, "negative strip count");
    return std::make_unique<StripDecoder>(content, static_cast<size_t>(start), static_cast<size_t>(stop));
  }
  if (type == "Sequence") {
    const std::string list_path = child_path(path, "decoders");
    const json& list = as_array(require_member(j, path, "decoders"), list_path);
    std::vector<std::unique_ptr<Decoder>> parts;
    for (size_t i = 0; i < list.size(); ++i) {
      if (auto part = make_decoder(list[i], index_path(list_path, i))) parts.push_back(std::move(part));
    }
    return std::make_unique<SequenceDecoder>(std::move(parts));
  }
  throw FormatError(child_path(path, "type"), "unsupported decoder type \"" + type + "\"");
}

std::string decode_tokens(const Decoder* decoder, std::vector<std::string> tokens, bool at_sequence_start,
                          bool* open_tail) {
  std::string text;
  if (!decoder) {
    if (open_tail) *open_tail = false;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0 || !at_sequence_start) text.push_back(' ');
      text += tokens[i];
    }
    return text;
  }
  DecodeState state;
  state.at_sequence_start = at_sequence_start;
  decoder->decode(tokens, state);
  if (open_tail) *open_tail = state.open_tail;
  for (const std::string& t : tokens) text += t;
  return text;
}

}  // namespace sy::tok
