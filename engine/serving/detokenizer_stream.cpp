#include "engine/serving/detokenizer_stream.h"

#include "engine/tokenizer/detokenizer.h"

namespace sy {
namespace {

class DetokenizerStream final : public TextStream {
 public:
  DetokenizerStream(std::shared_ptr<const Tokenizer> tok, const SamplingParams& p)
      : detok_(std::move(tok), p.skip_special_tokens, p.stop) {}
  TextDelta push(int32_t token_id) override {
    IncrementalDetokenizer::Delta d = detok_.push(token_id);
    return {std::move(d.text), d.stopped};
  }
  std::string finish() override { return detok_.finish(); }

 private:
  IncrementalDetokenizer detok_;
};

}  // namespace

TextStreamFactory make_detokenizer_stream_factory(std::shared_ptr<const Tokenizer> tokenizer) {
  return [tokenizer](const SamplingParams& p) -> std::unique_ptr<TextStream> {
    return std::make_unique<DetokenizerStream>(tokenizer, p);
  };
}

}  // namespace sy
