// Reference KV-cache write and causal paged attention (kernels/attention.h).
// Attention runs one (query token, head) pair per iteration, which keeps the scores of one
// query in a small buffer and parallelises evenly over prefill chunks and decode batches.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/cpu/ref.h"
#include "kernels/cpu/ref_util.h"

namespace sy::cpu::ref {

void kv_cache_write(const KvCacheWriteArgs& a) {
  using namespace detail;
  const char* op = "kv_cache_write";
  require_float(a.dtype, op, "dtype");
  require(a.num_tokens >= 0 && a.num_kv_heads > 0 && a.head_dim > 0 && a.head_dim_v > 0, op,
          "num_tokens must be >= 0 and num_kv_heads, head_dim, head_dim_v > 0");
  if (a.num_tokens == 0) return;
  require(a.k && a.v && a.k_cache && a.v_cache && a.slot_mapping, op,
          "k, v, k_cache, v_cache and slot_mapping must be set");
  const int64_t k_row = int64_t(a.num_kv_heads) * a.head_dim;    // elements per token in k_cache
  const int64_t v_row = int64_t(a.num_kv_heads) * a.head_dim_v;  // elements per token in v_cache
  const int64_t k_stride = a.k_stride ? a.k_stride : k_row;
  const int64_t v_stride = a.v_stride ? a.v_stride : v_row;
  const size_t elem = dtype_size(a.dtype);
#pragma omp parallel for schedule(static) if (a.num_tokens > 64)
  for (int64_t t = 0; t < a.num_tokens; ++t) {
    const int64_t slot = a.slot_mapping[t];
    if (slot < 0) continue;
    std::memcpy(offset(a.k_cache, a.dtype, slot * k_row), offset(a.k, a.dtype, t * k_stride),
                size_t(k_row) * elem);
    std::memcpy(offset(a.v_cache, a.dtype, slot * v_row), offset(a.v, a.dtype, t * v_stride),
                size_t(v_row) * elem);
  }
}

void paged_attention(const PagedAttentionArgs& a) {
  using namespace detail;
  const char* op = "paged_attention";
  require_float(a.dtype, op, "dtype");
  require(a.num_seqs >= 0 && a.num_tokens >= 0, op, "num_seqs and num_tokens must be >= 0");
  require(a.num_heads > 0 && a.num_kv_heads > 0 && a.num_heads % a.num_kv_heads == 0, op,
          "num_heads (" + std::to_string(a.num_heads) + ") must be a positive multiple of num_kv_heads (" +
              std::to_string(a.num_kv_heads) + ")");
  require(a.head_dim > 0 && a.head_dim_v > 0 && a.block_size > 0, op,
          "head_dim, head_dim_v and block_size must be > 0");
  if (a.num_tokens == 0) return;
  require(a.q && a.out && a.k_cache && a.v_cache && a.block_tables && a.seq_lens && a.query_start,
          op, "q, out, k_cache, v_cache, block_tables, seq_lens and query_start must be set");
  require(a.query_start[0] == 0 && a.query_start[a.num_seqs] == a.num_tokens, op,
          "query_start must run from 0 to num_tokens");

  // Per query token: its sequence and position in that sequence.
  std::vector<int32_t> token_seq(static_cast<size_t>(a.num_tokens)), token_pos(static_cast<size_t>(a.num_tokens));
  for (int s = 0; s < a.num_seqs; ++s) {
    const int32_t n_new = a.query_start[s + 1] - a.query_start[s];
    require(n_new >= 0 && n_new <= a.seq_lens[s], op,
            "sequence " + std::to_string(s) + " has " + std::to_string(n_new) +
                " new tokens but seq_lens = " + std::to_string(a.seq_lens[s]));
    require(a.seq_lens[s] <= int64_t(a.max_blocks_per_seq) * a.block_size, op,
            "sequence " + std::to_string(s) + ": seq_lens exceeds max_blocks_per_seq * block_size");
    for (int32_t i = 0; i < n_new; ++i) {
      token_seq[size_t(a.query_start[s] + i)] = s;
      token_pos[size_t(a.query_start[s] + i)] = a.seq_lens[s] - n_new + i;
    }
  }

  const int64_t q_stride = a.q_stride ? a.q_stride : int64_t(a.num_heads) * a.head_dim;
  const int group = a.num_heads / a.num_kv_heads;  // query heads per kv head
  const int64_t work = a.num_tokens * a.num_heads;
#pragma omp parallel
  {
    std::vector<float> q(static_cast<size_t>(a.head_dim)), k(static_cast<size_t>(a.head_dim));  // fp32 rows
    std::vector<float> v(static_cast<size_t>(a.head_dim_v)), acc(static_cast<size_t>(a.head_dim_v));
    std::vector<float> scores;  // [visible keys]
#pragma omp for schedule(dynamic, 4)
    for (int64_t wi = 0; wi < work; ++wi) {
      const int64_t t = wi / a.num_heads;
      const int h = int(wi % a.num_heads);
      const int kvh = h / group;
      const int32_t* table = a.block_tables + int64_t(token_seq[size_t(t)]) * a.max_blocks_per_seq;
      const int32_t q_pos = token_pos[size_t(t)];
      const int32_t first = a.sliding_window > 0 ? std::max(0, q_pos - a.sliding_window + 1) : 0;
      auto cache_row = [&](int32_t pos) {  // (slot * num_kv_heads + kvh)
        const int64_t slot = int64_t(table[pos / a.block_size]) * a.block_size + pos % a.block_size;
        return slot * a.num_kv_heads + kvh;
      };

      load_row(offset(a.q, a.dtype, t * q_stride + int64_t(h) * a.head_dim), a.dtype, a.head_dim,
               q.data());
      scores.resize(size_t(q_pos - first + 1));
      float max_score = a.sinks ? a.sinks[h] : -INFINITY;
      for (int32_t p = first; p <= q_pos; ++p) {
        load_row(offset(a.k_cache, a.dtype, cache_row(p) * a.head_dim), a.dtype, a.head_dim, k.data());
        // round(round(q·k) · scale): matmul output, then the scaling, each in dtype.
        const float s = round_to(a.dtype, round_to(a.dtype, dot(q.data(), k.data(), a.head_dim)) * a.scale);
        scores[size_t(p - first)] = s;
        max_score = std::max(max_score, s);
      }
      float denom = a.sinks ? std::exp(a.sinks[h] - max_score) : 0.0f;
      for (float& s : scores) {
        s = std::exp(s - max_score);
        denom += s;
      }
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int32_t p = first; p <= q_pos; ++p) {
        const float prob = round_to(a.dtype, scores[size_t(p - first)] / denom);
        load_row(offset(a.v_cache, a.dtype, cache_row(p) * a.head_dim_v), a.dtype, a.head_dim_v, v.data());
        for (int d = 0; d < a.head_dim_v; ++d) acc[size_t(d)] += prob * v[size_t(d)];
      }
      void* out = offset(a.out, a.dtype, (t * a.num_heads + h) * a.head_dim_v);
      for (int d = 0; d < a.head_dim_v; ++d) store_f(out, a.dtype, d, acc[size_t(d)]);
    }
  }
}

}  // namespace sy::cpu::ref
