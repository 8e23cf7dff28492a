#include "engine/model/device_sampling.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/model/packed_upload.h"

namespace sy {

void sample_on_device(Backend& be, ScratchArena& arena, float* logits, int32_t vocab_size,
                      const SamplingBatch& s, SampledBatch& out) {
  if (!be.supports_sampling()) throw std::logic_error("sample_on_device: " + be.name() + " backend does not sample");
  validate_sampling_batch(s);
  const int32_t rows = s.num_rows();
  const bool with_logprobs = s.num_top_logprobs >= 0;
  const size_t num_top = size_t(std::max(s.num_top_logprobs, 0));
  out.token_ids.assign(rows, 0);
  out.logprobs.assign(with_logprobs ? rows : 0, 0.0f);
  out.top_ids.assign(rows * num_top, -1);
  out.top_logprobs.assign(rows * num_top, 0.0f);
  if (rows == 0) return;

  PackedUpload up;
  const size_t params_at = up.add(s.params);
  const size_t pen_offsets_at = up.add(s.penalty_offsets);
  const size_t pen_ids_at = up.add(s.penalty_token_ids);
  const size_t pen_counts_at = up.add(s.penalty_output_counts);
  const size_t mask_offsets_at = up.add(s.mask_offsets);
  const size_t mask_ids_at = up.add(s.mask_token_ids);
  unsigned char* dev = up.upload(be, arena, "sample.inputs");

  if (!s.mask_token_ids.empty())
    be.mask_logits({.logits = logits, .num_rows = rows, .vocab_size = vocab_size,
                    .mask_offsets = reinterpret_cast<const int32_t*>(dev + mask_offsets_at),
                    .mask_token_ids = reinterpret_cast<const int32_t*>(dev + mask_ids_at)});

  // Results side by side in 4-byte words, so that one copy brings them back:
  // [ids: rows][logprobs: rows][top_ids: rows * N][top_logprobs: rows * N].
  const size_t words = size_t(rows) * (with_logprobs ? 2 + 2 * num_top : 1);
  auto* results = arena.get<int32_t>("sample.results", words);
  SampleArgs a;
  a.logits = logits;
  a.num_rows = rows;
  a.vocab_size = vocab_size;
  a.params = reinterpret_cast<const SamplingRowParams*>(dev + params_at);
  if (!s.penalty_token_ids.empty()) {  // no row uses penalties otherwise
    a.penalty_offsets = reinterpret_cast<const int32_t*>(dev + pen_offsets_at);
    a.penalty_token_ids = reinterpret_cast<const int32_t*>(dev + pen_ids_at);
    a.penalty_output_counts = reinterpret_cast<const int32_t*>(dev + pen_counts_at);
  }
  a.sampled_ids = results;
  a.all_greedy = std::all_of(s.params.begin(), s.params.end(),
                             [](const SamplingRowParams& p) { return p.temperature == 0.0f; });
  if (with_logprobs) {
    a.sampled_logprobs = reinterpret_cast<float*>(results + rows);
    a.num_top_logprobs = int32_t(num_top);
    a.top_ids = results + 2 * size_t(rows);
    a.top_logprobs = reinterpret_cast<float*>(results + (2 + num_top) * size_t(rows));
  }
  be.sample(a);

  std::vector<int32_t> host(words);
  be.copy_to_host(host.data(), results, words * sizeof(int32_t));
  std::copy_n(host.begin(), rows, out.token_ids.begin());
  if (!with_logprobs) return;
  std::memcpy(out.logprobs.data(), host.data() + rows, size_t(rows) * sizeof(float));
  std::copy_n(host.begin() + 2 * size_t(rows), rows * num_top, out.top_ids.begin());
  std::memcpy(out.top_logprobs.data(), host.data() + (2 + num_top) * size_t(rows), rows * num_top * sizeof(float));
}

}  // namespace sy
