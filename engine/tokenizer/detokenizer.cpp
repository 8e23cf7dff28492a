#include "engine/tokenizer/detokenizer.h"

namespace sy {

IncrementalDetokenizer::IncrementalDetokenizer(std::shared_ptr<const Tokenizer> tok, bool skip_special_tokens,
                                               std::vector<std::string> stop_strings)
    : tok_(std::move(tok)), skip_special_tokens_(skip_special_tokens), stops_(std::move(stop_strings)) {}

IncrementalDetokenizer::Delta IncrementalDetokenizer::push(int32_t id) {
  if (stops_.stopped()) return {};
  const std::string* token = tok_->token_for_decode(id, skip_special_tokens_);
  if (!token) return {};
  pending_.push_back(*token);
  bool open_tail = false;
  // Decoding the pending chunk alone is exact: the previous chunk ended at a clean cut.
  std::string text = tok_->decode_chunk(pending_, at_sequence_start_, &open_tail);
  if (open_tail) return {};
  pending_.clear();
  at_sequence_start_ = false;
  tok::StopMatcher::Result r = stops_.push(text);
  return Delta{std::move(r.text), r.stopped, std::move(r.matched_stop)};
}

std::string IncrementalDetokenizer::finish() {
  if (stops_.stopped()) return {};
  std::string text;
  if (!pending_.empty()) {
    text = tok_->decode_chunk(pending_, at_sequence_start_, nullptr);
    pending_.clear();
    at_sequence_start_ = false;
  }
  std::string out = stops_.push(text).text;
  out += stops_.finish().text;
  return out;
}

}  // namespace sy
