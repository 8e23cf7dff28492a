#include "engine/tokenizer/pre_tokenizer.h"

#include <algorithm>
#include <functional>

#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/regex.h"
#include "engine/tokenizer/utf8.h"

namespace sy::tok {

void apply_split_behavior(const std::vector<SplitPiece>& pieces, SplitBehavior behavior,
                          std::vector<std::pair<size_t, size_t>>& out) {
  out.clear();
  switch (behavior) {
    case SplitBehavior::kRemoved:
      for (const auto& p : pieces) {
        if (!p.is_match) out.emplace_back(p.begin, p.end);
      }
      break;
    case SplitBehavior::kIsolated:
      for (const auto& p : pieces) out.emplace_back(p.begin, p.end);
      break;
    case SplitBehavior::kMergedWithPrevious: {
      // A match joins the piece before it unless that piece is itself a match (HF semantics).
      bool previous_match = false;
      for (const auto& p : pieces) {
        if (p.is_match && !previous_match && !out.empty()) {
          out.back().second = p.end;
        } else {
          out.emplace_back(p.begin, p.end);
        }
        previous_match = p.is_match;
      }
      break;
    }
    case SplitBehavior::kMergedWithNext: {
      // Mirror image: walk right to left, a match joins the piece after it unless that is a match.
      bool previous_match = false;
      for (auto it = pieces.rbegin(); it != pieces.rend(); ++it) {
        if (it->is_match && !previous_match && !out.empty()) {
          out.back().first = it->begin;
        } else {
          out.emplace_back(it->begin, it->end);
        }
        previous_match = it->is_match;
      }
      std::reverse(out.begin(), out.end());
      break;
    }
    case SplitBehavior::kContiguous: {
      bool previous_match = false;
      for (const auto& p : pieces) {
        if (p.is_match == previous_match && !out.empty()) {
          out.back().second = p.end;
        } else {
          out.emplace_back(p.begin, p.end);
        }
        previous_match = p.is_match;
      }
      break;
    }
  }
}

namespace {

// Cuts each word at the kept ranges; the first piece keeps at_origin when it starts at 0.
void split_words(std::vector<Word>& words, SplitBehavior behavior,
                 const std::function<void(const std::string&, std::vector<SplitPiece>&)>& find_pieces) {
  std::vector<Word> out;
  out.reserve(words.size() * 2);
  std::vector<SplitPiece> pieces;
  std::vector<std::pair<size_t, size_t>> ranges;
  for (auto& word : words) {
    pieces.clear();
    find_pieces(word.text, pieces);
    apply_split_behavior(pieces, behavior, ranges);
    for (const auto& [begin, end] : ranges) {
      if (begin == end) continue;
      if (begin == 0 && end == word.text.size()) {
        out.push_back(std::move(word));
        break;
      }
      out.push_back(Word{word.text.substr(begin, end - begin), word.at_origin && begin == 0});
    }
  }
  words = std::move(out);
}

// Regex matches as pieces covering the text (HF Pattern::find_matches for a regex).
void regex_pieces(const Regex& regex, bool invert, const std::string& text, std::vector<SplitPiece>& pieces) {
  thread_local std::vector<std::pair<size_t, size_t>> matches;
  regex.find_all(text, matches);
  size_t prev = 0;
  for (const auto& [begin, end] : matches) {
    if (prev != begin) pieces.push_back({prev, begin, invert});
    pieces.push_back({begin, end, !invert});
    prev = end;
  }
  if (prev != text.size()) pieces.push_back({prev, text.size(), invert});
}

// Each character satisfying `pred` is its own match (HF Pattern for Fn(char) -> bool).
template <typename Pred>
void char_pieces(const std::string& text, Pred pred, std::vector<SplitPiece>& pieces) {
  size_t last = 0, pos = 0;
  while (pos < text.size()) {
    const size_t begin = pos;
    const char32_t cp = next_code_point(text, pos);
    if (pred(cp)) {
      if (last < begin) pieces.push_back({last, begin, false});
      pieces.push_back({begin, pos, true});
      last = pos;
    }
  }
  if (last < text.size()) pieces.push_back({last, text.size(), false});
}

SplitBehavior parse_behavior(const json& j, const std::string& path) {
  const std::string name = as_string(j, path);
  if (name == "Removed") return SplitBehavior::kRemoved;
  if (name == "Isolated") return SplitBehavior::kIsolated;
  if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (name == "Contiguous") return SplitBehavior::kContiguous;
  throw FormatError(path, "unknown split behavior \"" + name + "\"");
}

class SplitPreTokenizer final : public PreTokenizer {
 public:
  SplitPreTokenizer(const std::string& pattern, SplitBehavior behavior, bool invert)
      : regex_(pattern), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(std::vector<Word>& words) const override {
    split_words(words, behavior_, [this](const std::string& text, std::vector<SplitPiece>& pieces) {
      regex_pieces(regex_, invert_, text, pieces);
    });
  }

 private:
  Regex regex_;
  SplitBehavior behavior_;
  bool invert_;
};

// GPT-2's pattern, used by ByteLevel when use_regex is true.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class ByteLevelPreTokenizer final : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space), regex_(use_regex ? std::make_unique<Regex>(kGpt2Pattern) : nullptr) {}
  void pre_tokenize(std::vector<Word>& words) const override {
    if (add_prefix_space_) {
      for (auto& word : words) {
        if (word.text.empty() || word.text[0] != ' ') word.text = " " + word.text;
      }
    }
    if (regex_) {
      split_words(words, SplitBehavior::kIsolated, [this](const std::string& text, std::vector<SplitPiece>& pieces) {
        regex_pieces(*regex_, false, text, pieces);
      });
    }
    const ByteLevelAlphabet& alphabet = ByteLevelAlphabet::get();
    std::string mapped;
    for (auto& word : words) {
      mapped.clear();
      alphabet.encode(word.text, mapped);
      word.text.swap(mapped);
    }
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<Regex> regex_;
};

enum class PrependScheme { kFirst, kAlways, kNever };

class MetaspacePreTokenizer final : public PreTokenizer {
 public:
  MetaspacePreTokenizer(char32_t replacement, PrependScheme scheme, bool split)
      : replacement_cp_(replacement), scheme_(scheme), split_(split) {
    append_utf8(replacement_, replacement);
  }
  void pre_tokenize(std::vector<Word>& words) const override {
    for (auto& word : words) {
      std::string replaced;
      replaced.reserve(word.text.size() + replacement_.size());
      for (char c : word.text) {
        if (c == ' ') {
          replaced += replacement_;
        } else {
          replaced.push_back(c);
        }
      }
      const bool starts_with_replacement = replaced.compare(0, replacement_.size(), replacement_) == 0;
      if (!starts_with_replacement &&
          (scheme_ == PrependScheme::kAlways || (scheme_ == PrependScheme::kFirst && word.at_origin))) {
        replaced.insert(0, replacement_);
      }
      word.text = std::move(replaced);
    }
    if (split_) {
      split_words(words, SplitBehavior::kMergedWithNext, [this](const std::string& text, std::vector<SplitPiece>& pieces) {
        char_pieces(text, [this](char32_t cp) { return cp == replacement_cp_; }, pieces);
      });
    }
  }

 private:
  char32_t replacement_cp_;
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
};

class DigitsPreTokenizer final : public PreTokenizer {
 public:
  explicit DigitsPreTokenizer(bool individual) : individual_(individual) {}
  void pre_tokenize(std::vector<Word>& words) const override {
    split_words(words, individual_ ? SplitBehavior::kIsolated : SplitBehavior::kContiguous,
                [](const std::string& text, std::vector<SplitPiece>& pieces) { char_pieces(text, is_numeric, pieces); });
  }

 private:
  bool individual_;
};

class SequencePreTokenizer final : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> parts) : parts_(std::move(parts)) {}
  void pre_tokenize(std::vector<Word>& words) const override {
    for (const auto& part : parts_) part->pre_tokenize(words);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& j, const std::string& path) {
  if (j.is_null()) return nullptr;
  const std::string type = component_type(j, path);
  if (type == "ByteLevel") {
    return std::make_unique<ByteLevelPreTokenizer>(optional_bool(j, path, "add_prefix_space", true),
                                                   optional_bool(j, path, "use_regex", true));
  }
  if (type == "Split") {
    const std::string pattern_path = child_path(path, "pattern");
    const std::string pattern = pattern_to_regex(require_member(j, path, "pattern"), pattern_path);
    const SplitBehavior behavior = parse_behavior(require_member(j, path, "behavior"), child_path(path, "behavior"));
    const bool invert = optional_bool(j, path, "invert", false);
    try {
      return std::make_unique<SplitPreTokenizer>(pattern, behavior, invert);
    } catch (const std::invalid_argument& e) {
      throw FormatError(pattern_path, e.what());
    }
  }
  if (type == "Metaspace") {
    const std::string replacement_path = child_path(path, "replacement");
    const char32_t replacement = single_char(optional_string(j, path, "replacement", "\u2581"), replacement_path);
    PrependScheme scheme = PrependScheme::kAlways;
    if (const json* s = find_member(j, "prepend_scheme")) {
      const std::string name = as_string(*s, child_path(path, "prepend_scheme"));
      if (name == "first") scheme = PrependScheme::kFirst;
      else if (name == "always") scheme = PrependScheme::kAlways;
      else if (name == "never") scheme = PrependScheme::kNever;
      else throw FormatError(child_path(path, "prepend_scheme"), "unknown prepend scheme \"" + name + "\"");
    } else if (!optional_bool(j, path, "add_prefix_space", true)) {
      scheme = PrependScheme::kNever;  // files older than prepend_scheme
    }
    return std::make_unique<MetaspacePreTokenizer>(replacement, scheme, optional_bool(j, path, "split", true));
  }
  if (type == "Digits") return std::make_unique<DigitsPreTokenizer>(optional_bool(j, path, "individual_digits", false));
  if (type == "Sequence") {
    const std::string list_path = child_path(path, "pretokenizers");
    const json& list = as_array(require_member(j, path, "pretokenizers"), list_path);
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    for (size_t i = 0; i < list.size(); ++i) {
      if (auto part = make_pre_tokenizer(list[i], index_path(list_path, i))) parts.push_back(std::move(part));
    }
    return std::make_unique<SequencePreTokenizer>(std::move(parts));
  }
  throw FormatError(child_path(path, "type"), "unsupported pre-tokenizer type \"" + type + "\"");
}

}  // namespace sy::tok
