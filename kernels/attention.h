// Causal attention over a paged KV cache (vLLM-style blocks), for prefill chunks and decode
// tokens of many sequences in one call.
//
// KV cache layout per layer: k_cache [num_blocks, block_size, num_kv_heads, head_dim],
//                            v_cache [num_blocks, block_size, num_kv_heads, head_dim_v].
// A sequence's token at position p lives in block block_tables[s][p / block_size], offset
// p % block_size. "Slot" = block * block_size + offset.
//
// Sequence s contributes query tokens [query_start[s], query_start[s+1]) which are its last
// (query_start[s+1]-query_start[s]) positions: token i of s has position
// seq_lens[s] - n_s + i. Query head h reads kv head h / (num_heads / num_kv_heads) (GQA).
// Mask: causal (kv_pos <= q_pos) and, when sliding_window > 0, kv_pos > q_pos - sliding_window.
// Math (transformers' eager attention): scores = round(round(q·k)·scale) in dtype, softmax in
// fp32 (with exp(sink[h]) added to the denominator when sinks are given), probabilities rounded
// to dtype, out = Σ p·v accumulated in fp32, rounded to dtype.
#pragma once

#include "kernels/dtype.h"

namespace sy {

struct KvCacheWriteArgs {
  const void* k = nullptr;  // [num_tokens, num_kv_heads, head_dim], token stride k_stride
  const void* v = nullptr;  // [num_tokens, num_kv_heads, head_dim_v], token stride v_stride
  void* k_cache = nullptr;
  void* v_cache = nullptr;
  const int64_t* slot_mapping = nullptr;  // [num_tokens]; slot < 0 means "do not store"
  DType dtype = DType::kF32;
  int64_t num_tokens = 0;
  int num_kv_heads = 0, head_dim = 0, head_dim_v = 0;
  int64_t k_stride = 0, v_stride = 0;  // 0 means contiguous
};

struct PagedAttentionArgs {
  const void* q = nullptr;  // [num_tokens, num_heads, head_dim], token stride q_stride
  void* out = nullptr;      // [num_tokens, num_heads, head_dim_v] contiguous
  const void* k_cache = nullptr;
  const void* v_cache = nullptr;
  const int32_t* block_tables = nullptr;  // [num_seqs, max_blocks_per_seq]
  const int32_t* seq_lens = nullptr;      // [num_seqs] context length including the new tokens
  const int32_t* query_start = nullptr;   // [num_seqs + 1] offsets of each sequence's new tokens
  const float* sinks = nullptr;           // [num_heads] fp32 or null (GPT-OSS attention sinks)
  DType dtype = DType::kF32;
  int num_seqs = 0;
  int64_t num_tokens = 0;
  int num_heads = 0, num_kv_heads = 0, head_dim = 0, head_dim_v = 0;
  int block_size = 0, max_blocks_per_seq = 0;
  int64_t q_stride = 0;  // 0 means num_heads * head_dim
  float scale = 1.0f;
  int sliding_window = 0;  // 0: full causal attention
};

namespace cpu {
void kv_cache_write(const KvCacheWriteArgs& a);
void paged_attention(const PagedAttentionArgs& a);
}  // namespace cpu
namespace cuda {
void kv_cache_write(const KvCacheWriteArgs& a, void* stream);
void paged_attention(const PagedAttentionArgs& a, void* stream);
}  // namespace cuda

}  // namespace sy
