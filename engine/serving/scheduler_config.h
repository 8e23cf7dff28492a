// Limits the scheduler enforces (flags --max-num-seqs, --max-num-batched-tokens,
// --max-model-len, --block-size).
#pragma once

#include <cstdint>
#include <string>

namespace sy {

struct SchedulerConfig {
  int32_t max_num_seqs = 64;              // sequences holding KV at once
  int32_t max_num_batched_tokens = 2048;  // tokens per step (prefill chunks + decodes)
  int32_t max_model_len = 4096;           // prompt + output tokens of one sequence
  // KV partitions (--expert-parallel N: one per rank; see block_manager.h). A sequence lives
  // in one partition, so it must fit in num_blocks / kv_partitions blocks.
  int32_t kv_partitions = 1;

  // Empty when consistent; otherwise names the offending field. max_num_batched_tokens must
  // be at least max_num_seqs, so that a step always has room for a prefill token beside the
  // decodes (guaranteed progress).
  std::string validate() const {
    if (max_num_seqs <= 0) return "max_num_seqs must be > 0";
    if (max_num_batched_tokens <= 0) return "max_num_batched_tokens must be > 0";
    if (max_model_len <= 0) return "max_model_len must be > 0";
    if (kv_partitions <= 0) return "kv_partitions must be > 0";
    if (max_num_batched_tokens < max_num_seqs)
      return "max_num_batched_tokens (" + std::to_string(max_num_batched_tokens) +
             ") must be >= max_num_seqs (" + std::to_string(max_num_seqs) + ")";
    return {};
  }
};

}  // namespace sy
