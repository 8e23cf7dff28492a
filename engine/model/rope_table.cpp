#include "engine/model/rope_table.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace sy {
namespace {

double yarn_mscale(double scale, double mscale) { return scale <= 1 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0; }

}  // namespace

RopeTable make_rope_table(const ModelConfig& c) {
  const RopeConfig& r = c.rope;
  const int dim = c.rotary_dim();
  const int half = dim / 2;
  RopeTable t;
  t.inv_freq.resize(half);
  // pos_freqs[i] = theta ** (2i / dim) in fp32 (torch: float tensor exponent, float result).
  std::vector<float> pos_freqs(half);
  for (int i = 0; i < half; ++i)
    pos_freqs[i] = std::pow(r.theta, static_cast<float>(2 * i) / static_cast<float>(dim));

  if (r.type == "default" || r.type == "linear") {
    for (int i = 0; i < half; ++i) t.inv_freq[i] = 1.0f / pos_freqs[i];
    if (r.type == "linear")
      for (float& f : t.inv_freq) f /= r.factor;
    return t;
  }
  if (r.type != "yarn") throw std::runtime_error("rope scaling type '" + r.type + "' is not supported");

  // YaRN: blend interpolated (1/(factor*pos_freq)) and extrapolated (1/pos_freq) frequencies
  // with a linear ramp between the correction dims of beta_fast and beta_slow rotations.
  double factor = r.factor;
  int original = r.original_max_position > 0 ? r.original_max_position : c.max_position_embeddings;
  if (r.attention_factor) {
    t.attention_factor = *r.attention_factor;
  } else if (r.mscale != 0 && r.mscale_all_dim != 0) {
    t.attention_factor = static_cast<float>(yarn_mscale(factor, r.mscale) / yarn_mscale(factor, r.mscale_all_dim));
  } else {
    t.attention_factor = static_cast<float>(yarn_mscale(factor, 1.0));
  }
  auto correction_dim = [&](double rotations) {
    return (dim * std::log(original / (rotations * 2 * M_PI))) / (2 * std::log(static_cast<double>(r.theta)));
  };
  double low = correction_dim(r.beta_fast), high = correction_dim(r.beta_slow);
  if (r.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, static_cast<double>(dim - 1));
  if (low == high) high += 0.001;
  for (int i = 0; i < half; ++i) {
    float ramp = std::clamp((static_cast<float>(i) - static_cast<float>(low)) / static_cast<float>(high - low), 0.0f, 1.0f);
    float extrapolation_factor = 1.0f - ramp;
    float inv_extra = 1.0f / pos_freqs[i];
    float inv_inter = 1.0f / (static_cast<float>(factor) * pos_freqs[i]);
    t.inv_freq[i] = inv_inter * (1.0f - extrapolation_factor) + inv_extra * extrapolation_factor;
  }
  return t;
}

}  // namespace sy
