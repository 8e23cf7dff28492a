// Reference KV-cache write and causal paged attention (kernels/attention.h).
// Attention runs one (query token, kv head) pair per iteration: the GQA group of query heads
// sharing that kv head is processed together, so each K/V row is converted to fp32 once per
// group rather than once per query head; work spreads over tokens and kv heads.
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
  const int64_t work = a.num_tokens * a.num_kv_heads;
#pragma omp parallel
  {
    std::vector<float> q(static_cast<size_t>(group) * size_t(a.head_dim));      // [group, head_dim]
    std::vector<float> acc(static_cast<size_t>(group) * size_t(a.head_dim_v));  // [group, head_dim_v]
    std::vector<float> k(static_cast<size_t>(a.head_dim)), v(static_cast<size_t>(a.head_dim_v));
    std::vector<float> scores;  // [group, visible keys]
    std::vector<float> max_score(static_cast<size_t>(group)), denom(static_cast<size_t>(group));
#pragma omp for schedule(dynamic, 1)
    for (int64_t wi = 0; wi < work; ++wi) {
      const int64_t t = wi / a.num_kv_heads;
      const int kvh = int(wi % a.num_kv_heads);
      const int h0 = kvh * group;  // first query head reading this kv head
      const int32_t* table = a.block_tables + int64_t(token_seq[size_t(t)]) * a.max_blocks_per_seq;
      const int32_t q_pos = token_pos[size_t(t)];
      const int32_t first = a.sliding_window > 0 ? std::max(0, q_pos - a.sliding_window + 1) : 0;
      const int64_t visible = q_pos - first + 1;
      auto cache_row = [&](int32_t pos) {  // (slot * num_kv_heads + kvh)
        const int64_t slot = int64_t(table[pos / a.block_size]) * a.block_size + pos % a.block_size;
        return slot * a.num_kv_heads + kvh;
      };

      load_row(offset(a.q, a.dtype, t * q_stride + int64_t(h0) * a.head_dim), a.dtype,
               int64_t(group) * a.head_dim, q.data());
      // Every K and V row is loaded once for the whole GQA group of query heads.
      scores.resize(size_t(group * visible));
      for (int g = 0; g < group; ++g) max_score[size_t(g)] = a.sinks ? a.sinks[h0 + g] : -INFINITY;
      for (int32_t p = first; p <= q_pos; ++p) {
        load_row(offset(a.k_cache, a.dtype, cache_row(p) * a.head_dim), a.dtype, a.head_dim, k.data());
        for (int g = 0; g < group; ++g) {
          // round(round(q·k) · scale): matmul output, then the scaling, each in dtype.
          const float qk = round_to(a.dtype, dot(q.data() + size_t(g) * size_t(a.head_dim), k.data(), a.head_dim));
          const float s = round_to(a.dtype, qk * a.scale);
          scores[size_t(g * visible + (p - first))] = s;
          max_score[size_t(g)] = std::max(max_score[size_t(g)], s);
        }
      }
      // fp32 softmax; a sink adds exp(sink) to the denominator only.
      for (int g = 0; g < group; ++g) {
        const float mx = max_score[size_t(g)];
        float sum = a.sinks ? std::exp(a.sinks[h0 + g] - mx) : 0.0f;
        for (int64_t j = 0; j < visible; ++j) {
          float& s = scores[size_t(g * visible + j)];
          s = std::exp(s - mx);
          sum += s;
        }
        denom[size_t(g)] = sum;
      }
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int32_t p = first; p <= q_pos; ++p) {
        load_row(offset(a.v_cache, a.dtype, cache_row(p) * a.head_dim_v), a.dtype, a.head_dim_v, v.data());
        for (int g = 0; g < group; ++g) {
          // Probabilities are rounded to dtype before the p·V matmul, as eager attention does.
          const float prob = round_to(a.dtype, scores[size_t(g * visible + (p - first))] / denom[size_t(g)]);
          float* out_acc = acc.data() + size_t(g) * size_t(a.head_dim_v);
          for (int d = 0; d < a.head_dim_v; ++d) out_acc[d] += prob * v[size_t(d)];
        }
      }
      void* out = offset(a.out, a.dtype, (t * a.num_heads + h0) * a.head_dim_v);
      for (int64_t i = 0; i < int64_t(group) * a.head_dim_v; ++i) store_f(out, a.dtype, i, acc[size_t(i)]);
    }
  }
}

}  // namespace sy::cpu::ref
