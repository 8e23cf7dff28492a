// The model's tokenizer as the engine's TextStream: an IncrementalDetokenizer per sequence
// (UTF-8-safe deltas, stop strings found across tokens and held back until resolved).
// Position in the flow: sampler -> postprocess -> [detokenizer stream] -> request output.
#pragma once

#include <memory>

#include "engine/serving/text_stream.h"
#include "engine/tokenizer/tokenizer.h"

namespace sy {

TextStreamFactory make_detokenizer_stream_factory(std::shared_ptr<const Tokenizer> tokenizer);

}  // namespace sy
