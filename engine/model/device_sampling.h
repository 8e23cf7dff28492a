// Device sampling: draws a step's tokens from fp32 logits that live in a backend's memory
// (Backend::supports_sampling, the CUDA backend), so that the [rows, vocab] logits never cross
// to the host. Position: runner (lm_head logits on the device) -> [here] -> ids/logprobs ->
// postprocess. Same algorithm and Philox draws as sample_on_host (kernels/sampling.h).
#pragma once

#include <cstdint>

#include "engine/backend/backend.h"
#include "engine/model/sampling_batch.h"
#include "engine/model/scratch_arena.h"

namespace sy {

// logits: [sampling.num_rows(), vocab_size] fp32 in `be`'s memory; masked ids are written there
// in place. Copies the sampling inputs up in one transfer (parameters, penalty and mask arrays)
// and the results back in one; device buffers come from `arena` (names "sample.*").
void sample_on_device(Backend& be, ScratchArena& arena, float* logits, int32_t vocab_size,
                      const SamplingBatch& sampling, SampledBatch& out);

}  // namespace sy
