// Post-processors of tokenizer.json ("post_processor"): add the special tokens around an encoded
// sequence when add_special_tokens is set (request -> tokenize: ... -> BPE -> **post-process**).
// Supported: TemplateProcessing (single template), ByteLevel (offsets only: no id change),
// BertProcessing, RobertaProcessing, Sequence.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/tokenizer/json_reader.h"

namespace sy::tok {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Rewrites `ids` of one sequence; called only when special tokens are to be added.
  virtual void process(std::vector<int32_t>& ids) const = 0;
  // The ids this processor puts before / after the sequence (for bos/eos inference).
  virtual std::vector<int32_t> prefix_ids() const = 0;
  virtual std::vector<int32_t> suffix_ids() const = 0;
};

std::unique_ptr<PostProcessor> make_post_processor(const json& j, const std::string& path);

}  // namespace sy::tok
