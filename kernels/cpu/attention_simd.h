// SIMD causal paged attention (kernels/attention.h), compiled once per ISA by
// attention_avx512.cpp and attention_avx2.cpp. Bit-identical to ref::paged_attention: the
// same operations in the same order per output, only batched differently.
//
// Work item = (sequence, kv head, block of up to kBlockTokens consecutive new tokens). Its rows
// are the block's tokens × the GQA group of query heads sharing the kv head, so each K and V
// row of the paged cache is widened to fp32 once per item and reused by every row: decode
// (one token) shares it across the group, prefill across the block's tokens too.
//   scores   q·k in the reference's summation order (simd_vec.h's dot8x8_padded: one query
//            row against eight keys at once, eight independent add chains), then
//            round(round(q·k)·scale) in dtype
//   softmax  per row in fp32, max first, std::exp and the denominator summed in key order
//            (exactly the reference's sequence), probabilities rounded to dtype
//   p·V      out[d] += p·v[d] per key in ascending position, vectorised over d
// Items spread over the OpenMP threads (dynamic: causal items differ in size) when the call is
// large enough to pay for the fork/join; a short decode step runs on the calling thread.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/attention.h"
#include "kernels/cpu/simd_vec.h"

namespace sy::cpu::simd {
namespace {

constexpr int32_t kBlockTokens = 32;       // query tokens per prefill work item
constexpr int32_t kKeyChunk = 64;          // K/V rows widened to fp32 at a time
constexpr int64_t kScoreBudget = 1 << 20;  // floats of scores per item ([rows, keys])
// rows · keys · (head_dim + head_dim_v) below which a call runs on the calling thread: about
// 50 µs of work (a decode step of 32 heads × 128 dims at ~128 tokens of context). With
// OMP_WAIT_POLICY=passive on a loaded 2-core machine, waking the second thread for a region
// was measured at 20-100 µs, more than such a call saves.
constexpr int64_t kParallelMinAttentionWork = 1 << 20;

bool attention_supported(const PagedAttentionArgs& a) {
  if (!is_float_dtype(a.dtype) || a.num_seqs < 0 || a.num_tokens <= 0) return false;
  if (a.num_heads <= 0 || a.num_kv_heads <= 0 || a.num_heads % a.num_kv_heads != 0) return false;
  if (a.head_dim <= 0 || a.head_dim_v <= 0 || a.block_size <= 0) return false;
  if (!(a.q && a.out && a.k_cache && a.v_cache && a.block_tables && a.seq_lens && a.query_start)) return false;
  if (a.query_start[0] != 0 || a.query_start[a.num_seqs] != a.num_tokens) return false;
  for (int s = 0; s < a.num_seqs; ++s) {
    const int32_t n_new = a.query_start[s + 1] - a.query_start[s];
    if (n_new < 0 || n_new > a.seq_lens[s] || a.seq_lens[s] > int64_t(a.max_blocks_per_seq) * a.block_size)
      return false;
  }
  return true;
}

struct AttentionItem {
  int seq, kv_head;
  int32_t first_token, end_token;  // new-token indices [first, end) within the sequence
};

// Per-thread buffers, reused across items and calls.
struct AttentionScratch {
  std::vector<float> q;       // [rows, pad8(head_dim)]
  std::vector<float> scores;  // [rows, keys] scores, then probabilities
  std::vector<float> kv;      // [kKeyChunk, pad(head_dim or head_dim_v)] widened K or V rows
  std::vector<float> acc;     // [rows, pad(head_dim_v)]
};

template <DType T>
class AttentionKernel {
 public:
  explicit AttentionKernel(const PagedAttentionArgs& a)
      : a_(a),
        group_(a.num_heads / a.num_kv_heads),
        hd_pad_(pad8(a.head_dim)),
        hdv_pad_(pad_lanes(a.head_dim_v)),
        q_stride_(a.q_stride ? a.q_stride : int64_t(a.num_heads) * a.head_dim) {}

  void run(const AttentionItem& it, AttentionScratch& s) const {
    const int32_t seq_len = a_.seq_lens[it.seq];
    const int32_t n_new = a_.query_start[it.seq + 1] - a_.query_start[it.seq];
    const int32_t pos0 = seq_len - n_new;  // position of new token 0
    const int32_t tokens = it.end_token - it.first_token;
    const int64_t rows = int64_t(tokens) * group_;
    const int32_t lo = first_key(pos0 + it.first_token), hi = pos0 + it.end_token - 1;  // keys [lo, hi]
    const int64_t keys = hi - lo + 1;
    const int32_t* table = a_.block_tables + int64_t(it.seq) * a_.max_blocks_per_seq;
    const int h0 = it.kv_head * group_;

    s.q.resize(size_t(rows * hd_pad_));
    s.scores.resize(size_t(rows * keys));
    s.kv.resize(size_t(kKeyChunk * std::max(hd_pad_, hdv_pad_)));
    s.acc.assign(size_t(rows * hdv_pad_), 0.0f);
    for (int32_t i = 0; i < tokens; ++i) {
      const int64_t t = a_.query_start[it.seq] + it.first_token + i;
      for (int g = 0; g < group_; ++g)
        widen_row<T>(elem(a_.q, t * q_stride_ + int64_t(h0 + g) * a_.head_dim), a_.head_dim,
                     s.q.data() + (i * group_ + g) * hd_pad_, hd_pad_);
    }

    // Scores, one chunk of widened K rows at a time.
    for (int32_t p0 = lo; p0 <= hi; p0 += kKeyChunk) {
      const int32_t p1 = std::min(hi + 1, p0 + kKeyChunk);
      for (int32_t p = p0; p < p1; ++p)
        widen_row<T>(cache_row(a_.k_cache, table, p, it.kv_head, a_.head_dim), a_.head_dim,
                     s.kv.data() + (p - p0) * hd_pad_, hd_pad_);
      for (int32_t i = 0; i < tokens; ++i) {
        const int32_t q_pos = pos0 + it.first_token + i;
        const int32_t k0 = std::max(first_key(q_pos), p0), k1 = std::min(q_pos + 1, p1);  // keys [k0, k1)
        for (int g = 0; g < group_ && k0 < k1; ++g) {
          const int64_t r = int64_t(i) * group_ + g;
          score_keys(s.q.data() + r * hd_pad_, s.kv.data() + (k0 - p0) * hd_pad_, k1 - k0,
                     s.scores.data() + r * keys + (k0 - lo));
        }
      }
    }

    for (int32_t i = 0; i < tokens; ++i) {
      const int32_t q_pos = pos0 + it.first_token + i;
      const int32_t k0 = first_key(q_pos);
      for (int g = 0; g < group_; ++g)
        softmax_row(s.scores.data() + (int64_t(i) * group_ + g) * keys + (k0 - lo), q_pos - k0 + 1, h0 + g);
    }

    // p·V, one chunk of widened V rows at a time; each row adds its keys in ascending order.
    for (int32_t p0 = lo; p0 <= hi; p0 += kKeyChunk) {
      const int32_t p1 = std::min(hi + 1, p0 + kKeyChunk);
      for (int32_t p = p0; p < p1; ++p)
        widen_row<T>(cache_row(a_.v_cache, table, p, it.kv_head, a_.head_dim_v), a_.head_dim_v,
                     s.kv.data() + (p - p0) * hdv_pad_, hdv_pad_);
      for (int32_t i = 0; i < tokens; ++i) {
        const int32_t q_pos = pos0 + it.first_token + i;
        const int32_t k0 = std::max(first_key(q_pos), p0), k1 = std::min(q_pos + 1, p1);
        for (int g = 0; g < group_ && k0 < k1; ++g) {
          const int64_t r = int64_t(i) * group_ + g;
          accumulate_values(s.scores.data() + r * keys + (k0 - lo), s.kv.data() + (k0 - p0) * hdv_pad_, k1 - k0,
                            s.acc.data() + r * hdv_pad_);
        }
      }
    }

    for (int32_t i = 0; i < tokens; ++i) {
      const int64_t t = a_.query_start[it.seq] + it.first_token + i;
      for (int g = 0; g < group_; ++g) {
        const float* acc = s.acc.data() + (int64_t(i) * group_ + g) * hdv_pad_;
        void* out = elem(a_.out, (t * a_.num_heads + h0 + g) * a_.head_dim_v);
        for_each_vector(a_.head_dim_v, [&](int64_t d, int lanes) { store_n<T>(out, d, load<DType::kF32>(acc, d), lanes); });
      }
    }
  }

 private:
  int32_t first_key(int32_t q_pos) const {
    return a_.sliding_window > 0 ? std::max(0, q_pos - a_.sliding_window + 1) : 0;
  }
  static const void* elem(const void* base, int64_t i) { return static_cast<const char*>(base) + i * int64_t(dtype_size(T)); }
  static void* elem(void* base, int64_t i) { return static_cast<char*>(base) + i * int64_t(dtype_size(T)); }
  // Row of kv head kvh at position pos of a sequence (kernels/attention.h's slot layout).
  const void* cache_row(const void* cache, const int32_t* table, int32_t pos, int kvh, int dim) const {
    const int64_t slot = int64_t(table[pos / a_.block_size]) * a_.block_size + pos % a_.block_size;
    return elem(cache, (slot * a_.num_kv_heads + kvh) * dim);
  }

  // out[j] = round(round(q·k_j)·scale) for n consecutive widened keys.
  void score_keys(const float* q, const float* k, int32_t n, float* out) const {
    constexpr bool kExact = T != DType::kF32;  // 16-bit q and k: exact products
    int32_t j = 0;
    for (; j + 8 <= n; j += 8) {
      float d[8];
      dot8x8_padded<kExact>(q, k + j * hd_pad_, hd_pad_, hd_pad_, d);
      for (int u = 0; u < 8; ++u) out[j + u] = sy::round_to(T, sy::round_to(T, d[u]) * a_.scale);
    }
    for (; j < n; ++j)
      out[j] = sy::round_to(T, sy::round_to(T, dot8_padded<kExact>(q, k + j * hd_pad_, hd_pad_)) * a_.scale);
  }

  // In place: scores of one query head over its n visible keys -> probabilities rounded to T.
  void softmax_row(float* v, int32_t n, int head) const {
    // The maximum is the same value in any order (±0 ties give the same exp(s - max) = 1).
    Vec vmx = vset1(a_.sinks ? a_.sinks[head] : -INFINITY);
    int32_t j0 = 0;
    for (; j0 + kLanes <= n; j0 += kLanes) vmx = vmax(vmx, load<DType::kF32>(v, j0));
    float mx = vreduce_max(vmx);
    for (int32_t j = j0; j < n; ++j) mx = std::max(mx, v[j]);
    float sum = a_.sinks ? std::exp(a_.sinks[head] - mx) : 0.0f;  // a sink adds to the denominator only
    for (int32_t j = 0; j < n; ++j) {
      v[j] = std::exp(v[j] - mx);
      sum += v[j];
    }
    const Vec denom = vset1(sum);
    for_each_vector(n, [&](int64_t j, int lanes) {
      store_n<DType::kF32>(v, j, round_to<T>(vdiv(load_n<DType::kF32>(v, j, lanes), denom)), lanes);
    });
  }

  // acc[d] += p_j · v_j[d] for n keys in order, vectorised over d (up to 8 vectors in registers).
  void accumulate_values(const float* p, const float* v, int32_t n, float* acc) const {
    constexpr int kRegs = 8;
    for (int64_t d0 = 0; d0 < hdv_pad_; d0 += kRegs * kLanes) {
      const int regs = int(std::min<int64_t>(kRegs, (hdv_pad_ - d0) / kLanes));
      if (regs == kRegs) accumulate_block<kRegs>(p, v + d0, n, acc + d0);
      else
        for (int b = 0; b < regs; ++b) accumulate_block<1>(p, v + d0 + b * kLanes, n, acc + d0 + b * kLanes);
    }
  }
  template <int R>
  void accumulate_block(const float* p, const float* v, int32_t n, float* acc) const {
    Vec r[R];
    for (int b = 0; b < R; ++b) r[b] = load<DType::kF32>(acc, b * kLanes);
    for (int32_t j = 0; j < n; ++j) {
      const Vec pj = vset1(p[j]);
      const float* vj = v + j * hdv_pad_;
      for (int b = 0; b < R; ++b) {
        const Vec x = load<DType::kF32>(vj, b * kLanes);
        // A 16-bit probability times a 16-bit value is exact in fp32: the FMA equals the
        // reference's multiply-then-add. An f32 product must be rounded before the add.
        if constexpr (T == DType::kF32) r[b] = vadd(r[b], vmul(pj, x));
        else r[b] = vfmadd(pj, x, r[b]);
      }
    }
    for (int b = 0; b < R; ++b) store<DType::kF32>(acc, b * kLanes, r[b]);
  }

  const PagedAttentionArgs& a_;
  const int group_;
  const int64_t hd_pad_, hdv_pad_, q_stride_;
};

template <DType T>
void run_attention(const PagedAttentionArgs& a) {
  const int group = a.num_heads / a.num_kv_heads;
  std::vector<AttentionItem> items;
  int64_t work = 0;
  for (int s = 0; s < a.num_seqs; ++s) {
    const int32_t n_new = a.query_start[s + 1] - a.query_start[s];
    if (n_new == 0) continue;
    const int64_t max_keys = a.sliding_window > 0 ? std::min(a.seq_lens[s], a.sliding_window + kBlockTokens)
                                                  : a.seq_lens[s];
    const int32_t block = int32_t(std::clamp<int64_t>(kScoreBudget / (int64_t(group) * max_keys), 1, kBlockTokens));
    for (int kvh = 0; kvh < a.num_kv_heads; ++kvh)
      for (int32_t i = 0; i < n_new; i += block) items.push_back({s, kvh, i, std::min(n_new, i + block)});
    work += int64_t(n_new) * a.num_heads * max_keys * (a.head_dim + a.head_dim_v);
  }
  const AttentionKernel<T> kernel(a);
  const bool parallel = work >= kParallelMinAttentionWork && items.size() > 1 && omp_get_max_threads() > 1;
#pragma omp parallel if (parallel)
  {
    static thread_local AttentionScratch scratch;
    AttentionScratch& s = scratch;
#pragma omp for schedule(dynamic, 1)
    for (size_t i = 0; i < items.size(); ++i) kernel.run(items[i], s);
  }
}

bool paged_attention(const PagedAttentionArgs& a) {
  if (!attention_supported(a)) return false;
  with_dtype(a.dtype, [&]<DType T>() { run_attention<T>(a); });
  return true;
}

}  // namespace
}  // namespace sy::cpu::simd
