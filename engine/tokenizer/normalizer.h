// Normalizers of tokenizer.json ("normalizer"): text rewrites applied before pre-tokenization
// (request -> tokenize: added-token split -> normalize -> pre-tokenize -> BPE -> post-process).
// Supported: NFC, NFD, NFKC, NFKD (ICU), Lowercase, Strip, Prepend, Replace, Sequence.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/tokenizer/json_reader.h"

namespace sy::tok {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // Rewrites `text` (valid UTF-8) in place.
  virtual void normalize(std::string& text) const = 0;
};

// Builds the normalizer described at `path`; null JSON gives nullptr. Unsupported types throw
// FormatError naming the path and type.
std::unique_ptr<Normalizer> make_normalizer(const json& j, const std::string& path);

}  // namespace sy::tok
