// Reference router (kernels/moe/router.h): per-token expert scores -> top-k ids and weights.
// One token per iteration; selection is a partial sort on (score desc, expert id asc), which
// gives torch.topk's descending order with ties resolved to the lower expert id.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "kernels/cpu/ref.h"
#include "kernels/cpu/ref_util.h"

namespace sy::cpu::ref {
namespace {

// Moves the k best candidates (by key, ties to the lower id) to the front of ids, in order.
void top_k(std::vector<int32_t>& ids, const std::vector<float>& key, int k) {
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), [&](int32_t x, int32_t y) {
    const float kx = key[size_t(x)], ky = key[size_t(y)];
    return kx > ky || (kx == ky && x < y);
  });
}

// In place: v = softmax(v) in fp32 with max subtraction.
void softmax(float* v, int n) {
  const float mx = *std::max_element(v, v + n);
  float sum = 0.0f;
  for (int i = 0; i < n; ++i) sum += (v[i] = std::exp(v[i] - mx));
  for (int i = 0; i < n; ++i) v[i] /= sum;
}

}  // namespace

void route(const RouterArgs& a) {
  using namespace detail;
  const char* op = "route";
  require_float(a.logits_dtype, op, "logits_dtype");
  const int E = a.num_experts;
  require(E > 0 && a.top_k > 0 && a.top_k <= E, op,
          "need 0 < top_k <= num_experts (top_k " + std::to_string(a.top_k) + ", num_experts " +
              std::to_string(E) + ")");
  require(a.num_tokens >= 0, op, "num_tokens must be >= 0");
  const bool grouped = a.scoring == RouterScoring::kSigmoid && a.n_group > 1;
  if (grouped) {
    require(E % a.n_group == 0, op, "num_experts must be divisible by n_group");
    require(a.topk_group >= 1 && a.topk_group <= a.n_group, op, "need 1 <= topk_group <= n_group");
    require(a.top_k <= a.topk_group * (E / a.n_group), op,
            "top_k exceeds the experts in topk_group groups");
  }
  if (a.num_tokens == 0) return;
  require(a.logits && a.topk_ids && a.topk_weights, op, "logits, topk_ids and topk_weights must be set");
  const int k = a.top_k;

#pragma omp parallel if (a.num_tokens * E > (1 << 14))
  {
    std::vector<float> score(static_cast<size_t>(E));   // weights come from here
    std::vector<float> choice(static_cast<size_t>(E));  // selection key
    std::vector<int32_t> ids(static_cast<size_t>(E));
    std::vector<float> group_score(grouped ? size_t(a.n_group) : 0);
    std::vector<int32_t> group_ids(grouped ? size_t(a.n_group) : 0);
    std::vector<float> top2;
#pragma omp for schedule(static)
    for (int64_t t = 0; t < a.num_tokens; ++t) {
      load_row(offset(a.logits, a.logits_dtype, t * E), a.logits_dtype, E, score.data());
      std::iota(ids.begin(), ids.end(), 0);
      int32_t* out_ids = a.topk_ids + t * k;
      float* out_w = a.topk_weights + t * k;

      if (a.scoring == RouterScoring::kSoftmaxTopk) {
        // GPT-OSS: top-k of the raw logits, softmax over the chosen k (already summing to 1,
        // so `renormalize` does not apply).
        top_k(ids, score, k);
        for (int j = 0; j < k; ++j) out_w[j] = score[size_t(ids[size_t(j)])];
        softmax(out_w, k);
      } else {
        if (a.scoring == RouterScoring::kSoftmax) {
          softmax(score.data(), E);
          choice = score;
        } else {
          for (int e = 0; e < E; ++e) {
            score[size_t(e)] = sigmoid(score[size_t(e)]);
            choice[size_t(e)] = score[size_t(e)] + (a.correction_bias ? a.correction_bias[e] : 0.0f);
          }
        }
        int candidates = E;
        if (grouped) {
          // Keep the topk_group groups with the largest sum of their two best biased scores,
          // then choose only among those groups' experts (dropped experts are excluded, as in
          // vLLM's -inf mask, not zero-filled: a zero could outrank negative biased scores).
          const int group_size = E / a.n_group;
          for (int g = 0; g < a.n_group; ++g) {
            top2.assign(choice.begin() + g * group_size, choice.begin() + (g + 1) * group_size);
            const int n2 = std::min(2, group_size);
            std::partial_sort(top2.begin(), top2.begin() + n2, top2.end(), std::greater<float>());
            group_score[size_t(g)] = n2 == 2 ? top2[0] + top2[1] : top2[0];
          }
          std::iota(group_ids.begin(), group_ids.end(), 0);
          top_k(group_ids, group_score, a.topk_group);
          std::sort(group_ids.begin(), group_ids.begin() + a.topk_group);
          candidates = 0;
          for (int gi = 0; gi < a.topk_group; ++gi)
            for (int e = group_ids[size_t(gi)] * group_size; e < (group_ids[size_t(gi)] + 1) * group_size; ++e)
              ids[size_t(candidates++)] = e;
          ids.resize(size_t(candidates));
        }
        top_k(ids, choice, k);
        ids.resize(size_t(E));  // restore capacity for the next token (iota refills it)
        float sum = 0.0f;
        for (int j = 0; j < k; ++j) sum += (out_w[j] = score[size_t(ids[size_t(j)])]);
        if (a.renormalize) {
          const float denom = a.scoring == RouterScoring::kSigmoid ? sum + 1e-20f : sum;
          for (int j = 0; j < k; ++j) out_w[j] /= denom;
        }
      }
      for (int j = 0; j < k; ++j) {
        out_ids[j] = ids[size_t(j)];
        out_w[j] *= a.routed_scaling_factor;
      }
    }
  }
}

}  // namespace sy::cpu::ref
