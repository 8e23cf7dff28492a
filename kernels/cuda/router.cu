// CUDA fused router (kernels/moe/router.h): one warp per token does the whole routing step —
// fp32 scores (softmax, or sigmoid + correction bias), DeepSeek's group-limited selection,
// top-k, renormalisation and scaling — with the token's scores in shared memory.
// Position: runner -> MoE block -> linear(router logits) -> here -> moe_align.
// Selection matches the CPU reference: key descending, ties to the lower expert id, ids out in
// descending key order.
#include <algorithm>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/float_types.cuh"
#include "kernels/moe/router.h"

namespace sy::cuda {
namespace {

constexpr int kWarpsPerBlock = 4;
constexpr int kMaxTopK = 32;
constexpr int kMaxGroups = 32;

struct RouteParams {
  const void* logits;
  const float* correction_bias;
  int32_t* topk_ids;
  float* topk_weights;
  int64_t num_tokens;
  int num_experts, top_k, n_group, topk_group;
  RouterScoring scoring;
  bool renormalize;
  float routed_scaling_factor;
};

// True when candidate (v, id) ranks before (best, best_id).
__device__ __forceinline__ bool better(float v, int id, float best, int best_id) {
  return v > best || (v == best && id < best_id);
}

// Warp-wide argmax over key[0, n) restricted to entries with allowed(e); ties to the lower id.
template <typename Allowed>
__device__ int warp_argmax(const float* key, int n, Allowed allowed) {
  const int lane = threadIdx.x % 32;
  float best = -INFINITY;
  int best_id = 0x7fffffff;
  for (int e = lane; e < n; e += 32)
    if (allowed(e) && better(key[e], e, best, best_id)) {
      best = key[e];
      best_id = e;
    }
  for (int off = 16; off > 0; off >>= 1) {
    const float ob = __shfl_xor_sync(0xffffffffu, best, off);
    const int oid = __shfl_xor_sync(0xffffffffu, best_id, off);
    if (better(ob, oid, best, best_id)) {
      best = ob;
      best_id = oid;
    }
  }
  return best_id;
}

template <typename T>
__global__ void route_kernel(RouteParams p) {
  extern __shared__ float smem[];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int E = p.num_experts;
  float* score = smem + warp * 2 * E;  // [E] the weights come from here
  float* key = score + E;              // [E] the selection key
  __shared__ int chosen[kWarpsPerBlock][kMaxTopK];
  __shared__ float group_score[kWarpsPerBlock][kMaxGroups];
  __shared__ unsigned group_chosen[kWarpsPerBlock];

  const int64_t t = int64_t(blockIdx.x) * kWarpsPerBlock + warp;
  if (t >= p.num_tokens) return;  // whole warp leaves together; no block barriers below
  const T* logits = static_cast<const T*>(p.logits) + t * E;
  for (int e = lane; e < E; e += 32) score[e] = to_f32(logits[e]);
  __syncwarp();

  if (p.scoring == RouterScoring::kSoftmax) {
    float mx = -INFINITY;
    for (int e = lane; e < E; e += 32) mx = fmaxf(mx, score[e]);
    mx = warp_max(mx);
    float sum = 0.0f;
    for (int e = lane; e < E; e += 32) sum += (score[e] = expf(score[e] - mx));
    sum = warp_sum(sum);
    for (int e = lane; e < E; e += 32) key[e] = score[e] = score[e] / sum;
  } else if (p.scoring == RouterScoring::kSigmoid) {
    for (int e = lane; e < E; e += 32) {
      score[e] = 1.0f / (1.0f + expf(-score[e]));
      key[e] = score[e] + (p.correction_bias ? p.correction_bias[e] : 0.0f);
    }
  } else {
    for (int e = lane; e < E; e += 32) key[e] = score[e];
  }
  __syncwarp();

  // DeepSeek-V3: keep the topk_group groups whose two best biased scores sum highest.
  const bool grouped = p.scoring == RouterScoring::kSigmoid && p.n_group > 1;
  const int group_size = grouped ? E / p.n_group : E;
  if (grouped) {
    if (lane < p.n_group) {
      float b1 = -INFINITY, b2 = -INFINITY;
      for (int e = lane * group_size; e < (lane + 1) * group_size; ++e) {
        const float v = key[e];
        if (v > b1) { b2 = b1; b1 = v; } else if (v > b2) { b2 = v; }
      }
      group_score[warp][lane] = group_size >= 2 ? b1 + b2 : b1;
    }
    __syncwarp();
    unsigned mask = 0;
    for (int g = 0; g < p.topk_group; ++g) {
      const int best = warp_argmax(group_score[warp], p.n_group, [&](int i) { return !((mask >> i) & 1u); });
      mask |= 1u << best;
    }
    if (lane == 0) group_chosen[warp] = mask;
    __syncwarp();
  }
  const unsigned groups = grouped ? group_chosen[warp] : 0xffffffffu;

  // Top-k by repeated warp argmax; already chosen experts are excluded through `chosen`.
  for (int j = 0; j < p.top_k; ++j) {
    const int best = warp_argmax(key, E, [&](int e) {
      if (grouped && !((groups >> (e / group_size)) & 1u)) return false;
      for (int i = 0; i < j; ++i)
        if (chosen[warp][i] == e) return false;
      return true;
    });
    if (lane == 0) chosen[warp][j] = best;
    __syncwarp();
  }

  if (lane == 0) {
    int32_t* out_ids = p.topk_ids + t * p.top_k;
    float* out_w = p.topk_weights + t * p.top_k;
    float w[kMaxTopK];
    float sum = 0.0f;
    for (int j = 0; j < p.top_k; ++j) sum += (w[j] = score[chosen[warp][j]]);
    if (p.scoring == RouterScoring::kSoftmaxTopk) {
      // GPT-OSS: softmax over the k chosen raw logits (w[0] is their max; read it once, the
      // loop overwrites w[0] first).
      const float mx = w[0];
      sum = 0.0f;
      for (int j = 0; j < p.top_k; ++j) sum += (w[j] = expf(w[j] - mx));
      for (int j = 0; j < p.top_k; ++j) w[j] /= sum;
    } else if (p.renormalize) {
      const float denom = p.scoring == RouterScoring::kSigmoid ? sum + 1e-20f : sum;
      for (int j = 0; j < p.top_k; ++j) w[j] /= denom;
    }
    for (int j = 0; j < p.top_k; ++j) {
      out_ids[j] = chosen[warp][j];
      out_w[j] = w[j] * p.routed_scaling_factor;
    }
  }
}

}  // namespace

void route(const RouterArgs& a, void* stream) {
  const char* op = "route";
  const int E = a.num_experts;
  require(E > 0 && a.top_k > 0 && a.top_k <= E, op,
          "need 0 < top_k <= num_experts (top_k " + std::to_string(a.top_k) + ", num_experts " + std::to_string(E) + ")");
  require(a.top_k <= kMaxTopK, op, "top_k " + std::to_string(a.top_k) + " exceeds " + std::to_string(kMaxTopK));
  require(a.num_tokens >= 0, op, "num_tokens must be >= 0");
  const bool grouped = a.scoring == RouterScoring::kSigmoid && a.n_group > 1;
  if (grouped) {
    require(E % a.n_group == 0, op, "num_experts must be divisible by n_group");
    require(a.n_group <= kMaxGroups, op, "n_group exceeds " + std::to_string(kMaxGroups));
    require(a.topk_group >= 1 && a.topk_group <= a.n_group, op, "need 1 <= topk_group <= n_group");
    require(a.top_k <= a.topk_group * (E / a.n_group), op, "top_k exceeds the experts in topk_group groups");
  }
  if (a.num_tokens == 0) return;
  require(a.logits && a.topk_ids && a.topk_weights, op, "logits, topk_ids and topk_weights must be set");
  RouteParams p{a.logits, a.correction_bias, a.topk_ids, a.topk_weights, a.num_tokens, E, a.top_k,
                a.n_group, a.topk_group, a.scoring, a.renormalize, a.routed_scaling_factor};
  const size_t smem = sizeof(float) * 2 * size_t(E) * kWarpsPerBlock;
  const unsigned blocks = unsigned((a.num_tokens + kWarpsPerBlock - 1) / kWarpsPerBlock);
  auto s = static_cast<cudaStream_t>(stream);
  dispatch_float(a.logits_dtype, op, "logits_dtype", [&](auto tag) {
    using T = decltype(tag);
    if (smem > 48 * 1024)
      check(cudaFuncSetAttribute(route_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)),
            "route: shared memory limit");
    route_kernel<T><<<blocks, 32 * kWarpsPerBlock, smem, s>>>(p);
  });
  after_launch(op, s);
}

}  // namespace sy::cuda
