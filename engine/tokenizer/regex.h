// Compiled PCRE2 pattern used by the tokenizer's Split pre-tokenizer and Replace normalizer/decoder
// (request -> tokenize). Patterns come from tokenizer.json, written for Oniguruma (what HF
// `tokenizers` uses): compiled with UTF + UCP so \p{L}, \s, (?i) and (?!\S) behave as there.
// Compiled once (JIT when available); matching is thread-safe.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sy::tok {

class Regex {
 public:
  // Throws std::invalid_argument with PCRE2's message and offset on a bad pattern.
  explicit Regex(const std::string& pattern);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Non-overlapping leftmost matches, left to right, as [begin, end) byte offsets.
  void find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& matches) const;
  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  struct Code;
  std::unique_ptr<Code> code_;
};

// Rewrites \p{..}, \s and \d so PCRE2 matches what HF's Oniguruma matches: its Unicode tables
// are newer than PCRE2 10.42's (unicode_extras.inc) and its \s lacks U+180E. \w is left as
// PCRE2's (\p{L}, \p{N}, _); Oniguruma's differs for marks and a few symbols.
std::string translate_oniguruma_pattern(std::string_view pattern);

// A pattern matching `literal` exactly (Split/Replace patterns given as {"String": ...}).
std::string escape_regex_literal(std::string_view literal);

}  // namespace sy::tok
