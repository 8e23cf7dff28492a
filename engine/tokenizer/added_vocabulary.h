// Added tokens of tokenizer.json ("added_tokens"): special and normal tokens matched in the text
// before normalization and BPE (request -> tokenize: **added-token split** -> normalize -> ...).
// Matching is leftmost-longest, honouring lstrip/rstrip/single_word; tokens with
// normalized=true are matched in the normalized text, the others in the raw text (HF semantics).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tokenizer/json_reader.h"
#include "engine/tokenizer/string_map.h"

namespace sy::tok {

class Normalizer;

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
  bool normalized = false;
  // What decode and id_to_token give for it: HF stores a normalized token's content normalized.
  std::string decoded;
};

// A piece of input: either text still to be tokenized or an added token already recognised.
struct TextSegment {
  size_t begin, end;          // byte range in the text it was cut from
  std::optional<int32_t> id;  // set for a recognised added token
};

class AddedVocabulary {
 public:
  AddedVocabulary(const json& added_tokens, const std::string& path, const Normalizer* normalizer);
  ~AddedVocabulary();

  // Cuts `text` at added tokens of one matching set. With `skip_special`, special tokens are not
  // recognised (HF encode_special_tokens / split_special_tokens).
  void split(std::string_view text, bool normalized_set, bool skip_special, std::vector<TextSegment>& out) const;

  const std::vector<AddedToken>& tokens() const { return tokens_; }
  const AddedToken* find_by_id(int32_t id) const;
  std::optional<int32_t> token_to_id(std::string_view content) const;
  // Whether `token` is the content of a special token. HF's skip_special_tokens tests the decoded
  // string this way (so a normalized special token whose normalized form differs is kept).
  bool is_special_content(std::string_view token) const;
  bool empty() const { return tokens_.empty(); }

 private:
  class Trie;
  std::vector<AddedToken> tokens_;
  StringMap<size_t> by_content_;
  StringMap<bool> special_contents_;
  std::vector<std::pair<int32_t, size_t>> by_id_;  // sorted (id, index)
  std::unique_ptr<Trie> raw_trie_;         // normalized=false tokens, matched in raw text
  std::unique_ptr<Trie> normalized_trie_;  // normalized=true tokens (content normalized)
};

}  // namespace sy::tok
