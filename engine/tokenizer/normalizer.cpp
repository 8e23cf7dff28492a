#include "engine/tokenizer/normalizer.h"

#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/ustring.h>

#include "engine/tokenizer/regex.h"
#include "engine/tokenizer/utf8.h"

namespace sy::tok {
namespace {

bool is_ascii(const std::string& text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

class UnicodeNormalizer final : public Normalizer {
 public:
  enum class Form { kNfc, kNfd, kNfkc, kNfkd };
  UnicodeNormalizer(Form form, const std::string& path) {
    UErrorCode status = U_ZERO_ERROR;
    switch (form) {
      case Form::kNfc: impl_ = icu::Normalizer2::getNFCInstance(status); break;
      case Form::kNfd: impl_ = icu::Normalizer2::getNFDInstance(status); break;
      case Form::kNfkc: impl_ = icu::Normalizer2::getNFKCInstance(status); break;
      case Form::kNfkd: impl_ = icu::Normalizer2::getNFKDInstance(status); break;
    }
    if (U_FAILURE(status)) throw FormatError(path, std::string("ICU normalizer unavailable: ") + u_errorName(status));
  }
  void normalize(std::string& text) const override {
    if (is_ascii(text)) return;  // ASCII is invariant under all four forms
    UErrorCode status = U_ZERO_ERROR;
    const icu::UnicodeString source = icu::UnicodeString::fromUTF8(text);
    if (impl_->isNormalized(source, status) && U_SUCCESS(status)) return;
    status = U_ZERO_ERROR;
    const icu::UnicodeString normalized = impl_->normalize(source, status);
    if (U_FAILURE(status)) throw std::runtime_error(std::string("ICU normalization failed: ") + u_errorName(status));
    text.clear();
    normalized.toUTF8String(text);
  }

 private:
  const icu::Normalizer2* impl_ = nullptr;
};

// Rust char::to_lowercase per code point (full mappings, no context such as final sigma).
class LowercaseNormalizer final : public Normalizer {
 public:
  void normalize(std::string& text) const override {
    std::string out;
    out.reserve(text.size());
    size_t pos = 0;
    while (pos < text.size()) {
      const char32_t cp = next_code_point(text, pos);
      if (cp < 0x80) {
        out.push_back(static_cast<char>(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp));
        continue;
      }
      UChar source[2];
      int32_t source_len = 0;
      U16_APPEND_UNSAFE(source, source_len, static_cast<UChar32>(cp));
      UChar lowered[8];
      UErrorCode status = U_ZERO_ERROR;
      const int32_t len = u_strToLower(lowered, 8, source, source_len, "", &status);
      if (U_FAILURE(status)) {
        append_utf8(out, cp);
        continue;
      }
      for (int32_t i = 0; i < len;) {
        UChar32 c;
        U16_NEXT(lowered, i, len, c);
        append_utf8(out, static_cast<char32_t>(c));
      }
    }
    text = std::move(out);
  }
};

class StripNormalizer final : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& text) const override {
    size_t begin = 0, end = text.size();
    if (left_) {
      size_t pos = 0;
      while (pos < text.size()) {
        size_t next = pos;
        if (!is_whitespace(next_code_point(text, next))) break;
        pos = next;
      }
      begin = pos;
    }
    if (right_) {
      while (end > begin) {
        size_t start = end - 1;
        while (start > begin && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
        size_t p = start;
        if (!is_whitespace(next_code_point(text, p))) break;
        end = start;
      }
    }
    text = text.substr(begin, end - begin);
  }

 private:
  bool left_, right_;
};

class PrependNormalizer final : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

class ReplaceNormalizer final : public Normalizer {
 public:
  ReplaceNormalizer(const std::string& pattern, std::string content) : regex_(pattern), content_(std::move(content)) {}
  void normalize(std::string& text) const override {
    thread_local std::vector<std::pair<size_t, size_t>> matches;
    regex_.find_all(text, matches);
    if (matches.empty()) return;
    std::string out;
    out.reserve(text.size() + matches.size() * content_.size());
    size_t last = 0;
    for (const auto& [begin, end] : matches) {
      out.append(text, last, begin - last);
      out += content_;
      last = end;
    }
    out.append(text, last, std::string::npos);
    text = std::move(out);
  }

 private:
  Regex regex_;
  std::string content_;
};

class SequenceNormalizer final : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> parts) : parts_(std::move(parts)) {}
  void normalize(std::string& text) const override {
    for (const auto& part : parts_) part->normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const json& j, const std::string& path) {
  if (j.is_null()) return nullptr;
  const std::string type = component_type(j, path);
  using Form = UnicodeNormalizer::Form;
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(Form::kNfc, path);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(Form::kNfd, path);
  if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(Form::kNfkc, path);
  if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(Form::kNfkd, path);
  if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
  if (type == "Strip") {
    return std::make_unique<StripNormalizer>(optional_bool(j, path, "strip_left", true),
                                             optional_bool(j, path, "strip_right", true));
  }
  if (type == "Prepend") return std::make_unique<PrependNormalizer>(as_string(require_member(j, path, "prepend"), child_path(path, "prepend")));
  if (type == "Replace") {
    const std::string pattern_path = child_path(path, "pattern");
    const std::string pattern = pattern_to_regex(require_member(j, path, "pattern"), pattern_path);
    std::string content = as_string(require_member(j, path, "content"), child_path(path, "content"));
    try {
      return std::make_unique<ReplaceNormalizer>(pattern, std::move(content));
    } catch (const std::invalid_argument& e) {
      throw FormatError(pattern_path, e.what());
    }
  }
  if (type == "Sequence") {
    const std::string list_path = child_path(path, "normalizers");
    const json& list = as_array(require_member(j, path, "normalizers"), list_path);
    std::vector<std::unique_ptr<Normalizer>> parts;
    for (size_t i = 0; i < list.size(); ++i) {
      if (auto part = make_normalizer(list[i], index_path(list_path, i))) parts.push_back(std::move(part));
    }
    return std::make_unique<SequenceNormalizer>(std::move(parts));
  }
  throw FormatError(child_path(path, "type"), "unsupported normalizer type \"" + type + "\"");
}

}  // namespace sy::tok
