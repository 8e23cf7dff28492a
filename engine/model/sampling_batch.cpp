#include "engine/model/sampling_batch.h"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>

namespace sy {
namespace {

void check_ragged(const std::vector<int32_t>& offsets, size_t rows, size_t total, const char* name) {
  if (offsets.size() != rows + 1 || offsets.front() != 0 || size_t(offsets.back()) != total)
    throw std::invalid_argument(std::string("SamplingBatch: ") + name + " must run from 0 to " +
                                std::to_string(total) + " over " + std::to_string(rows + 1) + " entries");
  for (size_t r = 0; r < rows; ++r)
    if (offsets[r + 1] < offsets[r])
      throw std::invalid_argument(std::string("SamplingBatch: ") + name + " decreases at row " + std::to_string(r));
}

}  // namespace

void validate_sampling_batch(const SamplingBatch& s) {
  const size_t rows = s.params.size();
  if (s.penalty_output_counts.size() != s.penalty_token_ids.size())
    throw std::invalid_argument("SamplingBatch: penalty_output_counts and penalty_token_ids differ in size");
  check_ragged(s.penalty_offsets, rows, s.penalty_token_ids.size(), "penalty_offsets");
  check_ragged(s.mask_offsets, rows, s.mask_token_ids.size(), "mask_offsets");
}

void sample_on_host(const SamplingBatch& s, std::vector<float>& logits, int32_t vocab_size, SampledBatch& out) {
  validate_sampling_batch(s);
  const size_t rows = s.params.size(), V = size_t(vocab_size);
  if (logits.size() < rows * V)
    throw std::invalid_argument("sample_on_host: logits hold " + std::to_string(logits.size()) + " values, need " +
                                std::to_string(rows) + " rows of " + std::to_string(vocab_size));
  for (size_t r = 0; r < rows; ++r)
    for (int32_t i = s.mask_offsets[r]; i < s.mask_offsets[r + 1]; ++i) {
      const int32_t id = s.mask_token_ids[i];
      if (id >= 0 && id < vocab_size) logits[r * V + id] = -std::numeric_limits<float>::infinity();
    }

  const int32_t num_top = std::max(s.num_top_logprobs, 0);
  out.token_ids.assign(rows, 0);
  out.logprobs.assign(s.num_top_logprobs >= 0 ? rows : 0, 0.0f);
  out.top_ids.assign(rows * num_top, -1);
  out.top_logprobs.assign(rows * num_top, 0.0f);
  SampleArgs a;
  a.logits = logits.data();
  a.num_rows = static_cast<int32_t>(rows);
  a.vocab_size = vocab_size;
  a.params = s.params.data();
  a.penalty_offsets = s.penalty_offsets.data();
  a.penalty_token_ids = s.penalty_token_ids.data();
  a.penalty_output_counts = s.penalty_output_counts.data();
  a.sampled_ids = out.token_ids.data();
  if (s.num_top_logprobs >= 0) {
    a.sampled_logprobs = out.logprobs.data();
    a.num_top_logprobs = num_top;
    a.top_ids = out.top_ids.data();
    a.top_logprobs = out.top_logprobs.data();
  }
  cpu::sample(a);
}

}  // namespace sy
