// RoPE inverse frequencies and the cos/sin scale for a config (default, linear, yarn), computed
// on the host in fp32 as transformers computes them, then uploaded once. The rope kernel
// (kernels/rope.h) turns them into cos/sin per position.
#pragma once

#include <vector>

#include "engine/model/config.h"

namespace sy {

struct RopeTable {
  std::vector<float> inv_freq;   // [rotary_dim / 2]
  float attention_factor = 1.0f; // cos and sin are multiplied by this (yarn)
};

RopeTable make_rope_table(const ModelConfig& config);

}  // namespace sy
