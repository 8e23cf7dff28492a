// Rotary position embeddings applied in place to q and k.
// cos/sin = cos|sin(pos * inv_freq[i]) * attention_factor, computed in fp32 and rounded to dtype
// (as transformers does), then q' = q·cos + rotate(q)·sin with each product rounded to dtype.
//   rotate-half (default): pairs (i, i + rotary_dim/2)
//   interleaved (DeepSeek rope_interleave): pairs (2i, 2i+1)
// Only the first rotary_dim elements of each head rotate (partial rotary); the rest pass through.
#pragma once

#include "kernels/dtype.h"

namespace sy {

struct RopeArgs {
  void* q = nullptr;              // [num_tokens, num_q_heads, head_dim] dtype, token stride q_stride
  void* k = nullptr;              // [num_tokens, num_kv_heads, head_dim] dtype, token stride k_stride (may be null)
  const int32_t* positions = nullptr;  // [num_tokens]
  const float* inv_freq = nullptr;     // [rotary_dim / 2] fp32 (scaling such as yarn already applied)
  DType dtype = DType::kF32;
  int64_t num_tokens = 0;
  int num_q_heads = 0, num_kv_heads = 0;
  int head_dim = 0, rotary_dim = 0;
  int64_t q_stride = 0, k_stride = 0;  // 0 means heads * head_dim
  float attention_factor = 1.0f;
  bool interleaved = false;
};

namespace cpu {
void rope(const RopeArgs& a);
}
namespace cuda {
void rope(const RopeArgs& a, void* stream);
}

}  // namespace sy
