#include "engine/tokenizer/added_vocabulary.h"

#include <algorithm>
#include <array>

#include <unicode/uchar.h>

#include "engine/tokenizer/normalizer.h"
#include "engine/tokenizer/utf8.h"

namespace sy::tok {

// Byte trie over the token strings of one matching set; finds the longest token at a position.
class AddedVocabulary::Trie {
 public:
  Trie() { nodes_.emplace_back(); }
  void insert(std::string_view key, size_t token_index) {
    if (key.empty()) return;
    int32_t node = 0;
    for (char c : key) {
      const auto b = static_cast<unsigned char>(c);
      int32_t child = find_child(node, b);
      if (child < 0) {
        child = static_cast<int32_t>(nodes_.size());
        nodes_.emplace_back();
        nodes_[node].children.emplace_back(b, child);
      }
      node = child;
    }
    // First token wins when two normalize to the same string.
    if (nodes_[node].token < 0) nodes_[node].token = static_cast<int64_t>(token_index);
    first_bytes_[static_cast<unsigned char>(key[0])] = true;
  }
  // Longest key starting at text[pos]: returns the token index and sets `end`, or -1.
  int64_t longest_at(std::string_view text, size_t pos, size_t& end) const {
    if (!first_bytes_[static_cast<unsigned char>(text[pos])]) return -1;
    int64_t best = -1;
    int32_t node = 0;
    for (size_t i = pos; i < text.size(); ++i) {
      node = find_child(node, static_cast<unsigned char>(text[i]));
      if (node < 0) break;
      if (nodes_[node].token >= 0) {
        best = nodes_[node].token;
        end = i + 1;
      }
    }
    return best;
  }
  bool empty() const { return nodes_.size() == 1; }

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int32_t>> children;
    int64_t token = -1;
  };
  int32_t find_child(int32_t node, unsigned char b) const {
    for (const auto& [byte, child] : nodes_[node].children) {
      if (byte == b) return child;
    }
    return -1;
  }
  std::vector<Node> nodes_;
  std::array<bool, 256> first_bytes_{};
};

AddedVocabulary::AddedVocabulary(const json& added_tokens, const std::string& path, const Normalizer* normalizer)
    : raw_trie_(std::make_unique<Trie>()), normalized_trie_(std::make_unique<Trie>()) {
  if (!added_tokens.is_null()) {
    as_array(added_tokens, path);
    for (size_t i = 0; i < added_tokens.size(); ++i) {
      const json& t = added_tokens[i];
      const std::string tp = index_path(path, i);
      AddedToken token;
      token.id = as_token_id(require_member(t, tp, "id"), child_path(tp, "id"));
      token.content = as_string(require_member(t, tp, "content"), child_path(tp, "content"));
      token.special = optional_bool(t, tp, "special", false);
      token.lstrip = optional_bool(t, tp, "lstrip", false);
      token.rstrip = optional_bool(t, tp, "rstrip", false);
      token.single_word = optional_bool(t, tp, "single_word", false);
      token.normalized = optional_bool(t, tp, "normalized", !token.special);
      if (token.content.empty()) throw FormatError(child_path(tp, "content"), "empty added token");
      tokens_.push_back(std::move(token));
    }
  }
  for (size_t i = 0; i < tokens_.size(); ++i) {
    AddedToken& token = tokens_[i];
    by_content_.emplace(token.content, i);
    by_id_.emplace_back(token.id, i);
    if (token.special) special_contents_.emplace(token.content, true);
    token.decoded = token.content;
    if (token.normalized) {
      if (normalizer) normalizer->normalize(token.decoded);
      normalized_trie_->insert(token.decoded, i);
    } else {
      raw_trie_->insert(token.content, i);
    }
  }
  std::sort(by_id_.begin(), by_id_.end());
}

AddedVocabulary::~AddedVocabulary() = default;

const AddedToken* AddedVocabulary::find_by_id(int32_t id) const {
  auto it = std::lower_bound(by_id_.begin(), by_id_.end(), std::make_pair(id, size_t{0}));
  if (it == by_id_.end() || it->first != id) return nullptr;
  return &tokens_[it->second];
}

std::optional<int32_t> AddedVocabulary::token_to_id(std::string_view content) const {
  auto it = by_content_.find(content);
  if (it == by_content_.end()) return std::nullopt;
  return tokens_[it->second].id;
}

bool AddedVocabulary::is_special_content(std::string_view token) const {
  return special_contents_.find(token) != special_contents_.end();
}

namespace {

// Code point ending at text[end) / starting at text[begin].
char32_t last_code_point(std::string_view text, size_t end) {
  size_t start = end - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  return next_code_point(text, start);
}

// Unicode \w (UTS #18, what HF's single_word check uses via Rust's regex crate): Alphabetic,
// marks, decimal digits, connector punctuation, join controls.
bool is_word_char(char32_t cp) {
  const auto c = static_cast<UChar32>(cp);
  if (u_hasBinaryProperty(c, UCHAR_ALPHABETIC) || u_hasBinaryProperty(c, UCHAR_JOIN_CONTROL)) return true;
  switch (u_charType(c)) {
    case U_NON_SPACING_MARK:
    case U_COMBINING_SPACING_MARK:
    case U_ENCLOSING_MARK:
    case U_DECIMAL_DIGIT_NUMBER:
    case U_CONNECTOR_PUNCTUATION:
      return true;
    default:
      return false;
  }
}

}  // namespace

void AddedVocabulary::split(std::string_view text, bool normalized_set, bool skip_special,
                            std::vector<TextSegment>& out) const {
  out.clear();
  const Trie& trie = normalized_set ? *normalized_trie_ : *raw_trie_;
  size_t segment_start = 0;  // end of the last emitted piece
  size_t pos = 0;
  if (!trie.empty()) {
    while (pos < text.size()) {
      size_t match_end = 0;
      const int64_t index = trie.longest_at(text, pos, match_end);
      if (index < 0) {
        ++pos;
        continue;
      }
      const AddedToken& token = tokens_[index];
      const size_t match_begin = pos;
      pos = match_end;  // matches never overlap, even when this one is rejected below
      if (skip_special && token.special) continue;
      if (token.single_word) {
        const bool space_before = match_begin == 0 || !is_word_char(last_code_point(text, match_begin));
        size_t after = match_end;
        const bool space_after = match_end == text.size() || !is_word_char(next_code_point(text, after));
        if (!space_before || !space_after) continue;
      }
      size_t begin = match_begin, end = match_end;
      if (token.lstrip) {
        while (begin > segment_start && is_whitespace(last_code_point(text, begin))) {
          size_t start = begin - 1;
          while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
          begin = start;
        }
      }
      if (token.rstrip) {
        while (end < text.size()) {
          size_t next = end;
          if (!is_whitespace(next_code_point(text, next))) break;
          end = next;
        }
        pos = end;
      }
      if (begin > segment_start) out.push_back({segment_start, begin, std::nullopt});
      out.push_back({begin, end, token.id});
      segment_start = end;
    }
  }
  if (segment_start < text.size()) out.push_back({segment_start, text.size(), std::nullopt});
}

}  // namespace sy::tok
