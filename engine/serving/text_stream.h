// TextStream: a sequence's tokens -> text deltas, with stop strings found across tokens.
// Position in the flow: sampler -> postprocess -> [text stream] -> request output.
// The engine only sees this interface; make_detokenizer_stream_factory (detokenizer_stream.h)
// implements it with the model's tokenizer, tests with whatever they need.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "engine/serving/sampling_params.h"

namespace sy {

struct TextDelta {
  std::string text;      // new text, never part of a stop string
  bool stopped = false;  // a stop string matched: the sequence ends here
};

class TextStream {
 public:
  virtual ~TextStream() = default;
  virtual TextDelta push(int32_t token_id) = 0;
  // The text held back so far (incomplete UTF-8, a possible stop-string prefix) once the
  // sequence ends for another reason.
  virtual std::string finish() = 0;
};

// One TextStream per sequence, built from the request's sampling params.
using TextStreamFactory = std::function<std::unique_ptr<TextStream>(const SamplingParams&)>;

}  // namespace sy
