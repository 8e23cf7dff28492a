// Gated activations between the two expert GEMMs.
//   kSiluMul: gate_up row = [gate(inter) | up(inter)] (gate rows first, as the fused HF layout);
//             out = round(round(silu(gate)) * up)   (transformers rounds silu's output in bf16)
//   kGptOssClamped: gate_up row interleaved [g0,u0,g1,u1,...];
//             g = min(g, limit); u = clamp(u, -limit, limit);
//             out = (u + 1) * g * sigmoid(alpha * g)
#pragma once

#include "kernels/dtype.h"

namespace sy {

enum class GluKind : uint8_t { kSiluMul, kGptOssClamped };

struct GluArgs {
  const void* gate_up = nullptr;  // [rows, 2 * inter] dtype
  void* out = nullptr;            // [rows, inter] dtype
  DType dtype = DType::kF32;
  int64_t rows = 0, inter = 0;
  GluKind kind = GluKind::kSiluMul;
  float alpha = 1.702f, limit = 7.0f;
};

namespace cpu {
void glu(const GluArgs& a);
}
namespace cuda {
void glu(const GluArgs& a, void* stream);
}

}  // namespace sy
