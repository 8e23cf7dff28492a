// SIMD router (kernels/moe/router.h): logits -> top-k expert ids and weights, compiled once
// per ISA by router_avx512.cpp and router_avx2.cpp. Routing decisions and weights are
// bit-identical to ref::route: the scores come from the same scalar std::exp and the same
// sequential sums (an expert's probability must not move by an ulp, or a near-tie could pick
// another expert), and the selection is k passes of a vector max followed by the lowest expert
// id holding it — the reference's order (score descending, ties to the lower id).
// Group-limited selection (DeepSeek-V3, n_group > 1) keeps the topk_group groups with the
// largest sum of their two best keys and masks the other groups' experts to -inf first.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/simd_vec.h"
#include "kernels/moe/router.h"

namespace sy::cpu::simd {
namespace {

bool grouped(const RouterArgs& a) { return a.scoring == RouterScoring::kSigmoid && a.n_group > 1; }

bool route_supported(const RouterArgs& a) {
  if (!(is_float_dtype(a.logits_dtype) && a.num_experts > 0 && a.top_k > 0 && a.top_k <= a.num_experts &&
        a.num_tokens > 0 && a.logits && a.topk_ids && a.topk_weights))
    return false;
  return !grouped(a) || (a.num_experts % a.n_group == 0 && a.topk_group >= 1 && a.topk_group <= a.n_group &&
                         a.top_k <= a.topk_group * (a.num_experts / a.n_group));
}

// Writes the k best experts by key (descending, ties to the lower id) to ids, in order.
// key: [pad_lanes(n)] fp32 with -inf after n, overwritten (chosen entries become -inf);
// taken: scratch, so that an expert whose key is -inf is still chosen only once.
void select_top_k(float* key, int n, int k, std::vector<uint8_t>& taken, int32_t* ids) {
  taken.assign(size_t(n), 0);
  for (int j = 0; j < k; ++j) {
    Vec m = vset1(-INFINITY);
    for (int i = 0; i < n; i += kLanes) m = vmax(m, load<DType::kF32>(key, i));
    const Vec best = vset1(vreduce_max(m));
    int32_t chosen = -1;
    for (int i = 0; i < n && chosen < 0; i += kLanes) {
      uint32_t eq = vmask_eq(load<DType::kF32>(key, i), best) & ((1u << std::min(kLanes, n - i)) - 1);
      for (; eq && chosen < 0; eq &= eq - 1)
        if (!taken[size_t(i + __builtin_ctz(eq))]) chosen = i + __builtin_ctz(eq);
    }
    if (chosen < 0)  // only NaN keys remain: take the lowest untaken id
      for (int e = 0; e < n && chosen < 0; ++e)
        if (!taken[size_t(e)]) chosen = e;
    taken[size_t(chosen)] = 1;
    key[chosen] = -INFINITY;
    ids[j] = chosen;
  }
}

// DeepSeek-V3 group limit: keeps the topk_group groups whose two best keys sum highest (ties to
// the lower group id) and sets every other expert's key to -inf, so the following selection
// only sees the kept groups' experts. group_key: [pad_lanes(n_group)] scratch, -inf padding.
void mask_to_best_groups(float* key, int n, int n_group, int topk_group, float* group_key, std::vector<uint8_t>& taken,
                         std::vector<int32_t>& groups) {
  const int group_size = n / n_group;
  for (int g = 0; g < n_group; ++g) {
    float best = -INFINITY, second = -INFINITY;  // as partial_sort with std::greater: [best, second]
    for (int e = g * group_size; e < (g + 1) * group_size; ++e) {
      if (key[e] > best) {
        second = best;
        best = key[e];
      } else if (key[e] > second) {
        second = key[e];
      }
    }
    group_key[g] = group_size >= 2 ? best + second : best;
  }
  groups.resize(size_t(topk_group));
  select_top_k(group_key, n_group, topk_group, taken, groups.data());
  std::vector<uint8_t>& kept = taken;  // select_top_k marked exactly the kept groups
  for (int g = 0; g < n_group; ++g)
    if (!kept[size_t(g)]) std::fill(key + g * group_size, key + (g + 1) * group_size, -INFINITY);
}

// In place: v = softmax(v) in fp32, as ref::route's (max, sequential sum of std::exp, divide).
void softmax_exact(float* v, int n) {
  float mx = v[0];
  for (int i = 1; i < n; ++i) mx = std::max(mx, v[i]);  // value of the first maximum, as max_element
  float sum = 0.0f;
  for (int i = 0; i < n; ++i) sum += (v[i] = std::exp(v[i] - mx));
  const Vec denom = vset1(sum);
  for_each_vector(n, [&](int64_t i, int lanes) {
    store_n<DType::kF32>(v, i, vdiv(load_n<DType::kF32>(v, i, lanes), denom), lanes);
  });
}

template <DType T>
void route_tokens(const RouterArgs& a) {
  const int E = a.num_experts, k = a.top_k;
#pragma omp parallel if (a.num_tokens * E > (1 << 14) && omp_get_max_threads() > 1)
  {
    std::vector<float> score(static_cast<size_t>(E));                         // [E] fp32 scores
    std::vector<float> key(static_cast<size_t>(pad_lanes(E)), -INFINITY);  // [E] selection key, -inf padding
    std::vector<uint8_t> taken;
    std::vector<float> group_key(static_cast<size_t>(pad_lanes(a.n_group)), -INFINITY);  // [n_group]
    std::vector<int32_t> groups;
#pragma omp for schedule(static)
    for (int64_t t = 0; t < a.num_tokens; ++t) {
      widen_row<T>(static_cast<const char*>(a.logits) + size_t(t * E) * dtype_size(T), E, score.data(), E);
      int32_t* ids = a.topk_ids + t * k;
      float* w = a.topk_weights + t * k;
      if (a.scoring == RouterScoring::kSoftmaxTopk) {
        // GPT-OSS: top-k of the raw logits, softmax over the chosen k.
        std::copy_n(score.data(), E, key.data());
        select_top_k(key.data(), E, k, taken, ids);
        for (int j = 0; j < k; ++j) w[j] = score[size_t(ids[j])];
        softmax_exact(w, k);
      } else {
        if (a.scoring == RouterScoring::kSoftmax) {
          softmax_exact(score.data(), E);
          std::copy_n(score.data(), E, key.data());
        } else {
          for (int e = 0; e < E; ++e) {
            score[size_t(e)] = 1.0f / (1.0f + std::exp(-score[size_t(e)]));
            key[size_t(e)] = score[size_t(e)] + (a.correction_bias ? a.correction_bias[e] : 0.0f);
          }
        }
        if (grouped(a)) mask_to_best_groups(key.data(), E, a.n_group, a.topk_group, group_key.data(), taken, groups);
        select_top_k(key.data(), E, k, taken, ids);
        float sum = 0.0f;
        for (int j = 0; j < k; ++j) sum += (w[j] = score[size_t(ids[j])]);
        if (a.renormalize) {
          const float denom = a.scoring == RouterScoring::kSigmoid ? sum + 1e-20f : sum;
          for (int j = 0; j < k; ++j) w[j] /= denom;
        }
      }
      for (int j = 0; j < k; ++j) w[j] *= a.routed_scaling_factor;
    }
  }
}

bool route(const RouterArgs& a) {
  if (!route_supported(a)) return false;
  with_dtype(a.logits_dtype, [&]<DType T>() { route_tokens<T>(a); });
  return true;
}

}  // namespace
}  // namespace sy::cpu::simd
