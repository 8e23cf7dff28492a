// IncrementalDetokenizer: streaming decode of generated ids (sampler -> **detokenize** -> request
// stream). Deltas are always valid UTF-8 and their concatenation equals Tokenizer::decode of all
// ids (HF semantics: Metaspace leading space, byte-fallback runs, ByteLevel bytes,
// skip_special_tokens). Stop strings are found across token boundaries; text that could start
// one is held back until resolved.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/tokenizer/stop_matcher.h"
#include "engine/tokenizer/tokenizer.h"

namespace sy {

class IncrementalDetokenizer {
 public:
  IncrementalDetokenizer(std::shared_ptr<const Tokenizer> tok, bool skip_special_tokens,
                         std::vector<std::string> stop_strings = {});

  struct Delta {
    std::string text;
    bool stopped = false;
    std::string matched_stop;
  };
  Delta push(int32_t id);  // after `stopped`, further pushes return empty deltas
  std::string finish();    // flush held-back text at end of generation (no stop matched)

 private:
  std::shared_ptr<const Tokenizer> tok_;
  bool skip_special_tokens_;
  tok::StopMatcher stops_;
  // Tokens not yet turned into text: they end in a state later tokens may change (an open
  // byte-fallback run, an incomplete UTF-8 sequence). Usually empty or a few tokens.
  std::vector<std::string> pending_;
  bool at_sequence_start_ = true;  // no token has been decoded yet
};

}  // namespace sy
