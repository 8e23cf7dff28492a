// CUDA sampler (kernels/sampling.h): the same per-row steps as the CPU reference, in the same
// canonical order, so a seeded request draws the same token on either backend.
// Position: runner -> lm_head logits -> here -> detokenizer.
//
//   1. prepare (one block per row): copy the row, apply penalties, greedy rows take the argmax
//      (ties to the lower id) and stop; others get fp32 probabilities of logits / T.
//   2. sort every row's probabilities descending with their token ids (CUB segmented radix
//      sort: stable, so equal probabilities keep ascending ids — the reference's tie order).
//   3. select (one block per row): top-k, top-p and min-p cut the sorted prefix; the Philox
//      uniform for (seed, counter) times the kept mass walks the inverse CDF.
//   4. logprobs (optional, one block per row): log_softmax of the raw logits, the sampled
//      token's value and the top-N by repeated block argmax.
// With SampleArgs::all_greedy only step 1 runs (and 4 when asked): no probabilities, no sort.
// Scratch memory comes from the stream-ordered allocator (cudaMallocAsync), so the op needs no
// caller workspace and stays capturable in a CUDA graph.
#include <cub/device/device_segmented_radix_sort.cuh>

#include <cfloat>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/float_types.cuh"
#include "kernels/sampling.h"

namespace sy::cuda {
namespace {

constexpr int kThreads = 1024;
constexpr int kWarps = kThreads / 32;

struct RowScratch {
  float* probs;      // [rows, vocab] probabilities (greedy rows: unused)
  int32_t* ids;      // [rows, vocab] iota
  float* sorted_p;   // [rows, vocab] descending
  int32_t* sorted_ids;
  int32_t* offsets;  // [rows + 1] segment starts for the sort
  unsigned char* greedy;  // [rows]
};

__device__ double block_sum(double v, double* scratch) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  __syncthreads();
  if (threadIdx.x % 32 == 0) scratch[threadIdx.x / 32] = v;
  __syncthreads();
  double total = 0;
  for (int w = 0; w < kWarps; ++w) total += scratch[w];
  return total;
}

__device__ float block_max(float v, float* scratch) {
  v = warp_max(v);
  __syncthreads();
  if (threadIdx.x % 32 == 0) scratch[threadIdx.x / 32] = v;
  __syncthreads();
  float m = -INFINITY;
  for (int w = 0; w < kWarps; ++w) m = fmaxf(m, scratch[w]);
  return m;
}

__device__ int block_min_int(int v, int* scratch) {
  for (int off = 16; off > 0; off >>= 1) v = min(v, __shfl_xor_sync(0xffffffffu, v, off));
  __syncthreads();
  if (threadIdx.x % 32 == 0) scratch[threadIdx.x / 32] = v;
  __syncthreads();
  int m = INT_MAX;
  for (int w = 0; w < kWarps; ++w) m = min(m, scratch[w]);
  return m;
}

// True when (v, id) ranks before (bv, bid): value descending, ties by ascending id.
__device__ __forceinline__ bool ranks_before(float v, int id, float bv, int bid) {
  return v > bv || (v == bv && id < bid);
}

// Block argmax of key(i) over i in [0, n) restricted to entries ranked after (after_v, after_id)
// (pass +inf, -1 for "no restriction"). Returns the id; value through *out_v.
template <typename Key>
__device__ int block_argmax(int n, Key key, float after_v, int after_id, float* out_v, float* fscratch, int* iscratch) {
  float bv = -INFINITY;
  int bid = INT_MAX;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const float v = key(i);
    if (ranks_before(after_v, after_id, v, i) && ranks_before(v, i, bv, bid)) {
      bv = v;
      bid = i;
    }
  }
  for (int off = 16; off > 0; off >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, bv, off);
    const int oid = __shfl_xor_sync(0xffffffffu, bid, off);
    if (ranks_before(ov, oid, bv, bid)) {
      bv = ov;
      bid = oid;
    }
  }
  __syncthreads();
  if (threadIdx.x % 32 == 0) {
    fscratch[threadIdx.x / 32] = bv;
    iscratch[threadIdx.x / 32] = bid;
  }
  __syncthreads();
  bv = -INFINITY;
  bid = INT_MAX;
  for (int w = 0; w < kWarps; ++w)
    if (ranks_before(fscratch[w], iscratch[w], bv, bid)) {
      bv = fscratch[w];
      bid = iscratch[w];
    }
  *out_v = bv;
  return bid;
}

__global__ void __launch_bounds__(kThreads) prepare_kernel(SampleArgs a, RowScratch s) {
  __shared__ double dscratch[kWarps];
  __shared__ float fscratch[kWarps];
  __shared__ int iscratch[kWarps];
  const int row = blockIdx.x;
  const int V = a.vocab_size;
  const SamplingRowParams p = a.params[row];
  const float* raw = a.logits + int64_t(row) * V;
  float* x = s.probs + int64_t(row) * V;  // working copy, then probabilities
  int32_t* ids = s.ids ? s.ids + int64_t(row) * V : nullptr;
  for (int i = threadIdx.x; i < V; i += blockDim.x) {
    x[i] = raw[i];
    if (ids) ids[i] = i;  // null when every row is greedy: nothing is sorted
  }
  __syncthreads();
  if (a.penalty_offsets && (p.repetition_penalty != 1.0f || p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f)) {
    // Each token appears once per row: no two threads touch the same element.
    for (int i = a.penalty_offsets[row] + threadIdx.x; i < a.penalty_offsets[row + 1]; i += blockDim.x) {
      const int t = a.penalty_token_ids[i];
      if (t < 0 || t >= V) continue;
      float v = x[t];
      if (p.repetition_penalty != 1.0f) v = v > 0 ? v / p.repetition_penalty : v * p.repetition_penalty;
      const int count = a.penalty_output_counts[i];
      if (count > 0) v -= p.frequency_penalty * float(count) + p.presence_penalty;
      x[t] = v;
    }
  }
  __syncthreads();
  if (p.temperature == 0.0f || a.all_greedy) {
    float v;
    const int best = block_argmax(V, [&](int i) { return x[i]; }, INFINITY, -1, &v, fscratch, iscratch);
    if (threadIdx.x == 0) {
      a.sampled_ids[row] = best;
      s.greedy[row] = 1;
    }
    return;
  }
  const float inv_t = 1.0f / p.temperature;
  float mx = -INFINITY;
  for (int i = threadIdx.x; i < V; i += blockDim.x) mx = fmaxf(mx, x[i]);
  mx = block_max(mx, fscratch);
  double sum = 0;
  for (int i = threadIdx.x; i < V; i += blockDim.x) {
    const float e = expf((x[i] - mx) * inv_t);
    x[i] = e;
    sum += e;
  }
  sum = block_sum(sum, dscratch);
  const float inv_sum = float(1.0 / sum);
  for (int i = threadIdx.x; i < V; i += blockDim.x) x[i] *= inv_sum;
  if (threadIdx.x == 0) s.greedy[row] = 0;
}

// Inclusive block scan of one double per thread, in thread order; *total gets the block's sum.
__device__ double block_inclusive_scan(double v, double* scratch, double* total) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  for (int off = 1; off < 32; off <<= 1) {
    const double o = __shfl_up_sync(0xffffffffu, v, off);
    if (lane >= off) v += o;
  }
  __syncthreads();
  if (lane == 31) scratch[warp] = v;
  __syncthreads();
  double before = 0, all = 0;
  for (int w = 0; w < kWarps; ++w) {
    if (w < warp) before += scratch[w];
    all += scratch[w];
  }
  *total = all;
  return before + v;
}

__global__ void __launch_bounds__(kThreads) select_kernel(SampleArgs a, RowScratch s) {
  __shared__ double dscratch[kWarps];
  __shared__ int iscratch[kWarps];
  const int row = blockIdx.x;
  if (s.greedy[row]) return;
  const int V = a.vocab_size;
  const SamplingRowParams p = a.params[row];
  const float* sp = s.sorted_p + int64_t(row) * V;
  const int32_t* sid = s.sorted_ids + int64_t(row) * V;

  int kept = (p.top_k > 0 && p.top_k < V) ? p.top_k : V;
  if (p.top_p < 1.0f) {
    // Smallest prefix whose mass reaches top_p: the first i with cumsum(0..i) >= top_p.
    double carry = 0;
    int found = INT_MAX;
    for (int base = 0; base < kept && found == INT_MAX; base += blockDim.x) {
      const int i = base + threadIdx.x;
      double total;
      const double incl = carry + block_inclusive_scan(i < kept ? double(sp[i]) : 0.0, dscratch, &total);
      found = block_min_int(i < kept && incl >= double(p.top_p) ? i : INT_MAX, iscratch);
      carry += total;
    }
    if (found != INT_MAX) kept = found + 1;
  }
  if (p.min_p > 0.0f) {
    const float threshold = p.min_p * sp[0];
    int first_below = INT_MAX;  // sorted descending: everything from the first p < threshold goes
    for (int i = 1 + threadIdx.x; i < kept; i += blockDim.x)
      if (sp[i] < threshold) first_below = min(first_below, i);
    first_below = block_min_int(first_below, iscratch);
    if (first_below != INT_MAX) kept = first_below;
  }
  double kept_mass = 0;
  for (int i = threadIdx.x; i < kept; i += blockDim.x) kept_mass += sp[i];
  kept_mass = block_sum(kept_mass, dscratch);
  const double target = philox_uniform(p.seed, p.rng_counter) * kept_mass;
  // Inverse CDF: the first i with cumsum(0..i) > target.
  double carry = 0;
  int pick = INT_MAX;
  for (int base = 0; base < kept && pick == INT_MAX; base += blockDim.x) {
    const int i = base + threadIdx.x;
    double total;
    const double incl = carry + block_inclusive_scan(i < kept ? double(sp[i]) : 0.0, dscratch, &total);
    pick = block_min_int(i < kept && target < incl ? i : INT_MAX, iscratch);
    carry += total;
  }
  if (threadIdx.x == 0) a.sampled_ids[row] = sid[pick != INT_MAX ? pick : kept - 1];
}

__global__ void __launch_bounds__(kThreads) logprobs_kernel(SampleArgs a) {
  __shared__ double dscratch[kWarps];
  __shared__ float fscratch[kWarps];
  __shared__ int iscratch[kWarps];
  const int row = blockIdx.x;
  const int V = a.vocab_size;
  const float* raw = a.logits + int64_t(row) * V;
  float mx = -INFINITY;
  for (int i = threadIdx.x; i < V; i += blockDim.x) mx = fmaxf(mx, raw[i]);
  mx = block_max(mx, fscratch);
  double sum = 0;
  for (int i = threadIdx.x; i < V; i += blockDim.x) sum += exp(double(raw[i] - mx));
  sum = block_sum(sum, dscratch);
  const float log_z = mx + float(log(sum));
  if (threadIdx.x == 0) a.sampled_logprobs[row] = raw[a.sampled_ids[row]] - log_z;
  const int n = min(a.num_top_logprobs, V);
  float prev_v = INFINITY;
  int prev_id = -1;
  for (int j = 0; j < a.num_top_logprobs; ++j) {
    const int64_t out = int64_t(row) * a.num_top_logprobs + j;
    if (j >= n) {
      if (threadIdx.x == 0) {
        a.top_ids[out] = -1;
        a.top_logprobs[out] = -INFINITY;
      }
      continue;
    }
    float v;
    const int id = block_argmax(V, [&](int i) { return raw[i] - log_z; }, prev_v, prev_id, &v, fscratch, iscratch);
    if (threadIdx.x == 0) {
      a.top_ids[out] = id;
      a.top_logprobs[out] = v;
    }
    prev_v = v;
    prev_id = id;
  }
}

// One block per row: that row's masked ids become -inf (each id once per row, so no two
// threads of a row write the same element; rows own disjoint logits).
__global__ void mask_logits_kernel(LogitMaskArgs a) {
  const int row = blockIdx.x;
  float* x = a.logits + int64_t(row) * a.vocab_size;
  for (int i = a.mask_offsets[row] + threadIdx.x; i < a.mask_offsets[row + 1]; i += blockDim.x) {
    const int id = a.mask_token_ids[i];
    if (id >= 0 && id < a.vocab_size) x[id] = -INFINITY;
  }
}

__global__ void segment_offsets_kernel(int32_t* offsets, int rows, int vocab) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i <= rows; i += gridDim.x * blockDim.x) offsets[i] = i * vocab;
}

}  // namespace

void mask_logits(const LogitMaskArgs& a, void* stream) {
  const char* op = "mask_logits";
  require(a.num_rows >= 0 && a.vocab_size > 0, op, "num_rows must be >= 0 and vocab_size > 0");
  if (a.num_rows == 0) return;
  require(a.logits && a.mask_offsets && a.mask_token_ids, op, "logits, mask_offsets and mask_token_ids must be set");
  auto st = static_cast<cudaStream_t>(stream);
  mask_logits_kernel<<<a.num_rows, 128, 0, st>>>(a);
  after_launch(op, st);
}

void sample(const SampleArgs& a, void* stream) {
  const char* op = "sample";
  require(a.num_rows >= 0 && a.vocab_size > 0, op, "num_rows must be >= 0 and vocab_size > 0");
  if (a.num_rows == 0) return;
  require(a.logits && a.params && a.sampled_ids, op, "logits, params and sampled_ids must be set");
  require(!a.penalty_offsets || (a.penalty_token_ids && a.penalty_output_counts), op,
          "penalty_token_ids and penalty_output_counts must be set with penalty_offsets");
  require(a.num_top_logprobs >= 0 && (a.num_top_logprobs == 0 || (a.top_ids && a.top_logprobs)), op,
          "top_ids and top_logprobs must be set when num_top_logprobs > 0");
  const int64_t items = int64_t(a.num_rows) * a.vocab_size;
  require(items < (int64_t(1) << 31), op, "num_rows * vocab_size exceeds 2^31");
  auto st = static_cast<cudaStream_t>(stream);
  auto align256 = [](size_t b) { return (b + 255) & ~size_t(255); };

  if (a.all_greedy) {
    // Every row takes its (penalised) argmax in prepare_kernel: only the working copy of the
    // logits and the greedy flags are needed; no sort, no select.
    const size_t row_bytes = align256(size_t(items) * 4);
    unsigned char* base = nullptr;
    check(cudaMallocAsync(reinterpret_cast<void**>(&base), row_bytes + align256(size_t(a.num_rows)), st),
          "sample: greedy scratch allocation");
    RowScratch s{};
    s.probs = reinterpret_cast<float*>(base);
    s.greedy = base + row_bytes;
    prepare_kernel<<<a.num_rows, kThreads, 0, st>>>(a, s);
    after_launch("sample: greedy", st);
    if (a.sampled_logprobs) {
      logprobs_kernel<<<a.num_rows, kThreads, 0, st>>>(a);
      after_launch("sample: logprobs", st);
    }
    check(cudaFreeAsync(base, st), "sample: scratch release");
    return;
  }

  // Scratch: probabilities, ids, their sorted copies, segment offsets, greedy flags, CUB temp.
  size_t cub_bytes = 0;
  check(cub::DeviceSegmentedRadixSort::SortPairsDescending(nullptr, cub_bytes, static_cast<const float*>(nullptr),
                                                           static_cast<float*>(nullptr),
                                                           static_cast<const int32_t*>(nullptr),
                                                           static_cast<int32_t*>(nullptr), int(items), a.num_rows,
                                                           static_cast<const int32_t*>(nullptr),
                                                           static_cast<const int32_t*>(nullptr) + 1, 0, 32, st),
        "sample: sort workspace size");
  const size_t row_bytes = align256(size_t(items) * 4);
  const size_t total = 4 * row_bytes + align256(size_t(a.num_rows + 1) * 4) + align256(size_t(a.num_rows)) + cub_bytes;
  unsigned char* base = nullptr;
  check(cudaMallocAsync(reinterpret_cast<void**>(&base), total, st), "sample: scratch allocation");
  RowScratch s;
  s.probs = reinterpret_cast<float*>(base);
  s.ids = reinterpret_cast<int32_t*>(base + row_bytes);
  s.sorted_p = reinterpret_cast<float*>(base + 2 * row_bytes);
  s.sorted_ids = reinterpret_cast<int32_t*>(base + 3 * row_bytes);
  s.offsets = reinterpret_cast<int32_t*>(base + 4 * row_bytes);
  s.greedy = base + 4 * row_bytes + align256(size_t(a.num_rows + 1) * 4);
  void* cub_temp = s.greedy + align256(size_t(a.num_rows));

  segment_offsets_kernel<<<blocks_for(a.num_rows + 1, 256), 256, 0, st>>>(s.offsets, a.num_rows, a.vocab_size);
  prepare_kernel<<<a.num_rows, kThreads, 0, st>>>(a, s);
  after_launch("sample: prepare", st);
  check(cub::DeviceSegmentedRadixSort::SortPairsDescending(cub_temp, cub_bytes, s.probs, s.sorted_p, s.ids,
                                                           s.sorted_ids, int(items), a.num_rows, s.offsets,
                                                           s.offsets + 1, 0, 32, st),
        "sample: segmented sort");
  select_kernel<<<a.num_rows, kThreads, 0, st>>>(a, s);
  after_launch("sample: select", st);
  if (a.sampled_logprobs) {
    logprobs_kernel<<<a.num_rows, kThreads, 0, st>>>(a);
    after_launch("sample: logprobs", st);
  }
  check(cudaFreeAsync(base, st), "sample: scratch release");
}

}  // namespace sy::cuda
