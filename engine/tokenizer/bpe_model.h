// The BPE model of tokenizer.json ("model": {"type": "BPE"}): turns one pre-tokenized word into
// token ids (request -> tokenize: ... -> pre-tokenize -> BPE -> post-process). Semantics follow
// HF `tokenizers` exactly: initial symbols per character (byte_fallback to <0xNN>, unk with
// fuse_unk), then merges lowest rank first (leftmost on ties), ignore_merges, subword prefix and
// end-of-word suffix. Results of short words are cached (thread-safe).
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

class BpeModel {
 public:
  static std::unique_ptr<BpeModel> from_json(const json& model, const std::string& path);
  ~BpeModel();

  // Appends the ids of `word` to `out`.
  void tokenize(std::string_view word, std::vector<int32_t>& out) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  // nullptr for ids not in the vocabulary.
  const std::string* id_to_token(int32_t id) const;
  int32_t max_id() const { return static_cast<int32_t>(id_to_token_.size()) - 1; }

 private:
  BpeModel();
  // (left id, right id) -> (rank, merged id), open addressing over 64-bit keys.
  class MergeTable;
  class WordCache;
  struct Symbol;

  void merge_word(std::string_view word, std::vector<int32_t>& out) const;
  void initial_symbols(std::string_view word, std::vector<Symbol>& symbols) const;

  StringMap<int32_t> vocab_;
  std::vector<std::string> id_to_token_;  // "" where no token has the id
  std::vector<bool> id_present_;
  std::unique_ptr<MergeTable> merges_;
  std::unique_ptr<WordCache> cache_;
  std::optional<int32_t> unk_id_;
  std::string continuing_subword_prefix_;
  std::string end_of_word_suffix_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  int32_t byte_token_ids_[256];  // id of "<0xNN>", -1 when missing
};

}  // namespace sy::tok
