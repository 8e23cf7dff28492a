// Decoders of tokenizer.json ("decoder"): token strings -> text (sampler -> **detokenize** ->
// request stream). Supported: ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, Sequence.
//
// Streaming needs to decode a sequence in chunks whose texts concatenate to the decode of the
// whole. Every supported decoder is compositional at "clean" cuts, given two facts the chain
// reports: whether the chunk starts the sequence (Metaspace drops the first token's leading
// replacement, Strip after Fuse trims the text's start) and whether the chunk ends in an open
// state that later tokens would change (a byte-fallback run, an incomplete UTF-8 sequence).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/tokenizer/json_reader.h"

namespace sy::tok {

struct DecodeState {
  bool at_sequence_start = true;  // the first token is the sequence's first (after skipping)
  bool fused = false;             // tokens have been joined into one string
  bool open_tail = false;         // out: the end may still change when more tokens follow
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode(std::vector<std::string>& tokens, DecodeState& state) const = 0;
};

std::unique_ptr<Decoder> make_decoder(const json& j, const std::string& path);

// Decodes `tokens` with `decoder` (null: HF's default, tokens joined by spaces) and joins the
// result. Sets `open_tail` as described above.
std::string decode_tokens(const Decoder* decoder, std::vector<std::string> tokens, bool at_sequence_start,
                          bool* open_tail);

}  // namespace sy::tok
