// Tokenizer: Hugging Face tokenizer.json, producing the ids `tokenizers` produces
// (request -> **tokenize** -> scheduler; sampler -> detokenize, see detokenizer.h).
// Pipeline per input: split out added tokens (raw text) -> normalize -> split out normalized
// added tokens -> pre-tokenize into words -> BPE per word -> post-process (BOS/EOS).
// Immutable after loading; encode/decode may be called from any number of threads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sy {

class IncrementalDetokenizer;

class Tokenizer {
 public:
  // Loads tokenizer.json (+ tokenizer_config.json beside it when present, for bos/eos,
  // add_bos_token/add_eos_token). Throws std::runtime_error naming the file and the JSON path,
  // e.g. "tokenizer.json: model.merges[12]: expected a string or a pair".
  static std::shared_ptr<const Tokenizer> from_file(const std::filesystem::path& tokenizer_json);
  static std::shared_ptr<const Tokenizer> from_model_dir(const std::filesystem::path& dir);
  ~Tokenizer();

  // Invalid UTF-8 in `text` is first replaced by U+FFFD (as Python would refuse it outright).
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const;
  // Like encode, but special tokens written in `text` are not recognised: they are tokenized as
  // plain text (HF split_special_tokens=True). For untrusted user text. Added tokens that are not
  // special (e.g. Qwen3's <think>) are still recognised, as in HF.
  std::vector<int32_t> encode_plain(std::string_view text, bool add_special_tokens = true) const;
  // HF `tokenizers` decode: unknown ids are dropped; special tokens too with skip_special_tokens.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;

  int32_t vocab_size() const;  // including added tokens (max id + 1)
  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::string id_to_token(int32_t id) const;  // raw vocab string; "" for an unknown id
  bool is_special(int32_t id) const;
  std::optional<int32_t> bos_id() const;
  std::optional<int32_t> eos_id() const;
  std::string bos_token() const;  // "" if none
  std::string eos_token() const;  // "" if none

 private:
  friend class IncrementalDetokenizer;
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);

  std::vector<int32_t> encode_impl(std::string_view text, bool add_special_tokens, bool split_special) const;
  // Streaming support: the string an id contributes to decoding (nullptr when it contributes
  // nothing), and decoding of a chunk of those strings (see decoder.h).
  const std::string* token_for_decode(int32_t id, bool skip_special_tokens) const;
  std::string decode_chunk(std::vector<std::string> tokens, bool at_sequence_start, bool* open_tail) const;

  std::unique_ptr<Impl> impl_;
};

}  // namespace sy
