// CUDA paged attention (kernels/attention.h): KV-cache write and one flash-style kernel for
// both prefill chunks and decode tokens. Position: runner -> attention layer -> here.
//
// paged_attention: one block per (query token, kv head, group of up to 8 query heads sharing
// that kv head), one warp per query head. The block walks the token's visible keys 32 at a
// time: the K/V tile is gathered through the block table into shared memory once for all the
// warps of the GQA group (fp32), each lane scores one key, and the warp keeps an online
// softmax (running max m, running denominator l, fp32 accumulators split across lanes by
// output dimension). Scores are rounded like the reference (round(round(q·k)·scale) in dtype);
// probabilities are not rounded individually, so bf16 outputs agree within tolerance, not bit
// for bit.
//
// Split-KV (flash-decoding): when the grid would not fill the device (few tokens, e.g. decode
// of a handful of sequences) and contexts may be long, each block covers only one slice of a
// token's keys and writes its unnormalised partial (m, l, acc) to fp32 scratch; a second
// kernel merges the slices: M = max m_s, L = Σ l_s·e^(m_s−M) (+ e^(sink−M)), out = Σ acc_s·e^(m_s−M) / L.
#include <algorithm>

#include "kernels/attention.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_info.h"
#include "kernels/cuda/float_types.cuh"

namespace sy::cuda {
namespace {

constexpr int kKeysPerTile = 32;  // one key per lane
constexpr int kMaxWarps = 8;      // query heads per block
constexpr int kMaxDvPerLane = 8;  // head_dim_v <= 256
constexpr int kMaxSplits = 32;     // split-KV slices per (token, kv head)
constexpr int kSplitMinKeys = 256; // fewer keys per slice cost more in the merge than they save

template <typename T>
__global__ void kv_cache_write_kernel(const T* __restrict__ k, const T* __restrict__ v, T* __restrict__ k_cache,
                                      T* __restrict__ v_cache, const int64_t* __restrict__ slot_mapping,
                                      int64_t num_tokens, int num_kv_heads, int head_dim, int head_dim_v,
                                      int64_t k_stride, int64_t v_stride) {
  const int width = max(head_dim, head_dim_v);
  const int64_t n = num_tokens * num_kv_heads * width;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int d = int(i % width);
    const int h = int((i / width) % num_kv_heads);
    const int64_t t = i / (int64_t(width) * num_kv_heads);
    const int64_t slot = slot_mapping[t];
    if (slot < 0) continue;
    if (d < head_dim) k_cache[(slot * num_kv_heads + h) * head_dim + d] = k[t * k_stride + int64_t(h) * head_dim + d];
    if (d < head_dim_v)
      v_cache[(slot * num_kv_heads + h) * head_dim_v + d] = v[t * v_stride + int64_t(h) * head_dim_v + d];
  }
}

struct AttnParams {
  const void* q;
  void* out;
  const void* k_cache;
  const void* v_cache;
  const int32_t* block_tables;
  const int32_t* seq_lens;
  const int32_t* query_start;
  const float* sinks;
  int num_seqs, num_heads, num_kv_heads, head_dim, head_dim_v, block_size, max_blocks_per_seq;
  int group, warps, sliding_window;
  int64_t q_stride;
  float scale;
  int num_splits;         // 1: no split, the block finishes the output itself
  int split_len;          // keys per split (multiple of kKeysPerTile)
  float* partial_acc;     // [num_tokens, num_heads, num_splits, head_dim_v] unnormalised
  float* partial_ml;      // [num_tokens, num_heads, num_splits, 2] running max and denominator
};

template <typename T>
__global__ void paged_attention_kernel(AttnParams p) {
  extern __shared__ float smem[];
  float* q_s = smem;                                  // [warps, head_dim]
  float* k_s = q_s + p.warps * p.head_dim;            // [32, head_dim + 1] (padded: no bank conflicts)
  float* v_s = k_s + kKeysPerTile * (p.head_dim + 1);  // [32, head_dim_v]
  const int kstride = p.head_dim + 1;

  const int64_t t = blockIdx.x;
  const int kv_head = blockIdx.y;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int split = blockIdx.z % p.num_splits;
  const int head_in_group = (blockIdx.z / p.num_splits) * p.warps + warp;
  const bool active = head_in_group < p.group;
  const int h = kv_head * p.group + head_in_group;

  // Sequence of this token: the last s with query_start[s] <= t (empty sequences skipped).
  int lo = 0, hi = p.num_seqs - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (p.query_start[mid] <= t) lo = mid; else hi = mid - 1;
  }
  const int s = lo;
  const int n_new = p.query_start[s + 1] - p.query_start[s];
  const int pos = p.seq_lens[s] - n_new + int(t - p.query_start[s]);
  const int visible_first = p.sliding_window > 0 ? max(0, pos - p.sliding_window + 1) : 0;
  // This block's slice of the visible keys [visible_first, pos]; may be empty for short contexts.
  const int first = visible_first + split * p.split_len;
  const int last = p.num_splits == 1 ? pos : min(pos, first + p.split_len - 1);
  const int32_t* table = p.block_tables + int64_t(s) * p.max_blocks_per_seq;

  const T* q = static_cast<const T*>(p.q);
  const T* kc = static_cast<const T*>(p.k_cache);
  const T* vc = static_cast<const T*>(p.v_cache);
  if (active)
    for (int d = lane; d < p.head_dim; d += 32)
      q_s[warp * p.head_dim + d] = to_f32(q[t * p.q_stride + int64_t(h) * p.head_dim + d]);

  float m = -INFINITY, l = 0.0f;
  float acc[kMaxDvPerLane];
#pragma unroll
  for (int i = 0; i < kMaxDvPerLane; ++i) acc[i] = 0.0f;

  for (int base = first; base <= last; base += kKeysPerTile) {
    const int count = min(kKeysPerTile, last - base + 1);
    __syncthreads();  // previous tile fully consumed (and q_s written, on the first pass)
    for (int e = threadIdx.x; e < count * p.head_dim; e += blockDim.x) {
      const int j = e / p.head_dim, d = e - j * p.head_dim;
      const int kp = base + j;
      const int64_t slot = int64_t(table[kp / p.block_size]) * p.block_size + kp % p.block_size;
      k_s[j * kstride + d] = to_f32(kc[(slot * p.num_kv_heads + kv_head) * p.head_dim + d]);
    }
    for (int e = threadIdx.x; e < count * p.head_dim_v; e += blockDim.x) {
      const int j = e / p.head_dim_v, d = e - j * p.head_dim_v;
      const int kp = base + j;
      const int64_t slot = int64_t(table[kp / p.block_size]) * p.block_size + kp % p.block_size;
      v_s[j * p.head_dim_v + d] = to_f32(vc[(slot * p.num_kv_heads + kv_head) * p.head_dim_v + d]);
    }
    __syncthreads();
    if (!active) continue;

    float score = -INFINITY;
    if (lane < count) {
      const float* kr = k_s + lane * kstride;
      const float* qr = q_s + warp * p.head_dim;
      float dot = 0.0f;
      for (int d = 0; d < p.head_dim; ++d) dot = fmaf(qr[d], kr[d], dot);
      score = round_as<T>(round_as<T>(dot) * p.scale);
    }
    const float m_new = fmaxf(m, warp_max(score));
    const float correction = expf(m - m_new);  // 0 on the first tile (m = -inf)
    const float prob = lane < count ? expf(score - m_new) : 0.0f;
    l = l * correction + warp_sum(prob);
#pragma unroll
    for (int i = 0; i < kMaxDvPerLane; ++i) acc[i] *= correction;
    for (int j = 0; j < count; ++j) {
      const float pj = __shfl_sync(0xffffffffu, prob, j);
      const float* vr = v_s + j * p.head_dim_v;
#pragma unroll
      for (int i = 0; i < kMaxDvPerLane; ++i) {
        const int d = lane + 32 * i;
        if (d < p.head_dim_v) acc[i] = fmaf(pj, vr[d], acc[i]);
      }
    }
    m = m_new;
  }
  if (!active) return;
  if (p.num_splits > 1) {
    const int64_t part = (t * p.num_heads + h) * p.num_splits + split;
    float* pacc = p.partial_acc + part * p.head_dim_v;
#pragma unroll
    for (int i = 0; i < kMaxDvPerLane; ++i) {
      const int d = lane + 32 * i;
      if (d < p.head_dim_v) pacc[d] = acc[i];
    }
    if (lane == 0) {
      p.partial_ml[2 * part] = m;  // -inf for an empty slice
      p.partial_ml[2 * part + 1] = l;
    }
    return;
  }
  // GPT-OSS sinks: one extra logit per head in the softmax denominator, with no value.
  if (p.sinks) l += expf(p.sinks[h] - m);
  const float inv_l = 1.0f / l;
  T* out = static_cast<T*>(p.out) + (t * p.num_heads + h) * int64_t(p.head_dim_v);
#pragma unroll
  for (int i = 0; i < kMaxDvPerLane; ++i) {
    const int d = lane + 32 * i;
    if (d < p.head_dim_v) out[d] = from_f32<T>(acc[i] * inv_l);
  }
}

// Merges the split partials: one warp per (token, head), lanes over head_dim_v.
template <typename T>
__global__ void merge_splits_kernel(AttnParams p, int64_t num_tokens) {
  const int64_t item = blockIdx.x * int64_t(blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (item >= num_tokens * p.num_heads) return;
  const int h = int(item % p.num_heads);
  const float* ml = p.partial_ml + item * p.num_splits * 2;
  float M = p.sinks ? p.sinks[h] : -INFINITY;
  for (int s = 0; s < p.num_splits; ++s) M = fmaxf(M, ml[2 * s]);
  float L = p.sinks ? expf(p.sinks[h] - M) : 0.0f;
  for (int s = 0; s < p.num_splits; ++s)
    if (ml[2 * s + 1] > 0.0f) L += ml[2 * s + 1] * expf(ml[2 * s] - M);
  T* out = static_cast<T*>(p.out) + item * p.head_dim_v;
  for (int d = lane; d < p.head_dim_v; d += 32) {
    float acc = 0.0f;
    for (int s = 0; s < p.num_splits; ++s)
      if (ml[2 * s + 1] > 0.0f) acc += p.partial_acc[(item * p.num_splits + s) * p.head_dim_v + d] * expf(ml[2 * s] - M);
    out[d] = from_f32<T>(acc / L);
  }
}

}  // namespace

void kv_cache_write(const KvCacheWriteArgs& a, void* stream) {
  const char* op = "kv_cache_write";
  require(a.num_tokens >= 0 && a.num_kv_heads > 0 && a.head_dim > 0 && a.head_dim_v > 0, op,
          "num_tokens must be >= 0 and num_kv_heads, head_dim, head_dim_v > 0");
  if (a.num_tokens == 0) return;
  require(a.k && a.v && a.k_cache && a.v_cache && a.slot_mapping, op, "k, v, k_cache, v_cache and slot_mapping must be set");
  const int64_t k_stride = a.k_stride ? a.k_stride : int64_t(a.num_kv_heads) * a.head_dim;
  const int64_t v_stride = a.v_stride ? a.v_stride : int64_t(a.num_kv_heads) * a.head_dim_v;
  auto s = static_cast<cudaStream_t>(stream);
  dispatch_float(a.dtype, op, "dtype", [&](auto tag) {
    using T = decltype(tag);
    const int64_t n = a.num_tokens * a.num_kv_heads * std::max(a.head_dim, a.head_dim_v);
    kv_cache_write_kernel<T><<<blocks_for(n, 256), 256, 0, s>>>(
        static_cast<const T*>(a.k), static_cast<const T*>(a.v), static_cast<T*>(a.k_cache),
        static_cast<T*>(a.v_cache), a.slot_mapping, a.num_tokens, a.num_kv_heads, a.head_dim, a.head_dim_v,
        k_stride, v_stride);
  });
  after_launch(op, s);
}

void paged_attention(const PagedAttentionArgs& a, void* stream) {
  const char* op = "paged_attention";
  require(a.num_seqs >= 0 && a.num_tokens >= 0, op, "num_seqs and num_tokens must be >= 0");
  require(a.num_heads > 0 && a.num_kv_heads > 0 && a.num_heads % a.num_kv_heads == 0, op,
          "num_heads (" + std::to_string(a.num_heads) + ") must be a positive multiple of num_kv_heads (" +
              std::to_string(a.num_kv_heads) + ")");
  require(a.head_dim > 0 && a.head_dim_v > 0 && a.block_size > 0, op, "head_dim, head_dim_v and block_size must be > 0");
  require(a.head_dim_v <= 32 * kMaxDvPerLane, op,
          "head_dim_v " + std::to_string(a.head_dim_v) + " exceeds " + std::to_string(32 * kMaxDvPerLane));
  if (a.num_tokens == 0) return;
  require(a.num_seqs > 0, op, "num_tokens > 0 needs num_seqs > 0");
  require(a.q && a.out && a.k_cache && a.v_cache && a.block_tables && a.seq_lens && a.query_start, op,
          "q, out, k_cache, v_cache, block_tables, seq_lens and query_start must be set");
  require(a.num_kv_heads <= 65535, op, "num_kv_heads exceeds the grid limit");

  AttnParams p{};
  p.q = a.q;
  p.out = a.out;
  p.k_cache = a.k_cache;
  p.v_cache = a.v_cache;
  p.block_tables = a.block_tables;
  p.seq_lens = a.seq_lens;
  p.query_start = a.query_start;
  p.sinks = a.sinks;
  p.num_seqs = a.num_seqs;
  p.num_heads = a.num_heads;
  p.num_kv_heads = a.num_kv_heads;
  p.head_dim = a.head_dim;
  p.head_dim_v = a.head_dim_v;
  p.block_size = a.block_size;
  p.max_blocks_per_seq = a.max_blocks_per_seq;
  p.group = a.num_heads / a.num_kv_heads;
  p.warps = std::min(p.group, kMaxWarps);
  p.sliding_window = a.sliding_window;
  p.q_stride = a.q_stride ? a.q_stride : int64_t(a.num_heads) * a.head_dim;
  p.scale = a.scale;

  const size_t smem = sizeof(float) * (size_t(p.warps) * a.head_dim + size_t(kKeysPerTile) * (a.head_dim + 1) +
                                       size_t(kKeysPerTile) * a.head_dim_v);
  const int head_chunks = (p.group + p.warps - 1) / p.warps;

  // Split the keys when the plain grid leaves most SMs idle and contexts can be long. Context
  // lengths live on the device; the block table's capacity (or the window) bounds them.
  const int64_t max_context = p.sliding_window > 0 ? std::min<int64_t>(p.sliding_window, int64_t(a.max_blocks_per_seq) * a.block_size)
                                                   : int64_t(a.max_blocks_per_seq) * a.block_size;
  const int64_t blocks = a.num_tokens * a.num_kv_heads * head_chunks;
  const int sms = current_device_info().sm_count;
  int splits = 1;
  if (blocks < 2 * sms && max_context > 4 * kSplitMinKeys)
    splits = int(std::min<int64_t>({kMaxSplits, (2 * sms + blocks - 1) / blocks, max_context / kSplitMinKeys}));
  p.num_splits = std::max(splits, 1);
  p.split_len = int(((max_context + p.num_splits - 1) / p.num_splits + kKeysPerTile - 1) / kKeysPerTile * kKeysPerTile);

  auto s = static_cast<cudaStream_t>(stream);
  float* scratch = nullptr;
  if (p.num_splits > 1) {
    const size_t parts = size_t(a.num_tokens) * a.num_heads * p.num_splits;
    check(cudaMallocAsync(reinterpret_cast<void**>(&scratch), parts * (size_t(a.head_dim_v) + 2) * sizeof(float), s),
          "paged_attention: split scratch");
    p.partial_acc = scratch;
    p.partial_ml = scratch + parts * a.head_dim_v;
  }
  const dim3 grid(unsigned(a.num_tokens), unsigned(a.num_kv_heads), unsigned(head_chunks * p.num_splits));
  dispatch_float(a.dtype, op, "dtype", [&](auto tag) {
    using T = decltype(tag);
    if (smem > 48 * 1024)
      check(cudaFuncSetAttribute(paged_attention_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)),
            "paged_attention: shared memory limit");
    paged_attention_kernel<T><<<grid, 32 * p.warps, smem, s>>>(p);
    if (p.num_splits > 1) {
      const int64_t items = a.num_tokens * a.num_heads;
      merge_splits_kernel<T><<<unsigned((items + 7) / 8), 256, 0, s>>>(p, a.num_tokens);
    }
  });
  after_launch(op, s);
  if (scratch) check(cudaFreeAsync(scratch, s), "paged_attention: split scratch release");
}

}  // namespace sy::cuda
