// Pre-tokenizers of tokenizer.json ("pre_tokenizer"): split normalized text into words that BPE
// encodes independently (request -> tokenize: added-token split -> normalize -> pre-tokenize ->
// BPE). Supported: ByteLevel, Split (all five behaviors, invert), Metaspace, Digits, Sequence.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/tokenizer/json_reader.h"

namespace sy::tok {

struct Word {
  std::string text;
  // Whether the word begins at offset 0 of the original input (Metaspace "first" prepends the
  // replacement only there, as HF checks offsets_original().0 == 0).
  bool at_origin = false;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `words` by their pieces, in order; empty pieces are dropped.
  virtual void pre_tokenize(std::vector<Word>& words) const = 0;
};

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& j, const std::string& path);

// How a Split keeps the matched delimiters (HF SplitDelimiterBehavior).
enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

struct SplitPiece {
  size_t begin, end;
  bool is_match;
};
// Applies `behavior` to pieces that cover a text, returning the [begin, end) ranges to keep.
void apply_split_behavior(const std::vector<SplitPiece>& pieces, SplitBehavior behavior,
                          std::vector<std::pair<size_t, size_t>>& out);

}  // namespace sy::tok
