// Small memory-bound ops around the big GEMMs.
#pragma once

#include "kernels/dtype.h"

namespace sy {

// out[t, :] = table[ids[t], :]
struct EmbeddingArgs {
  const int32_t* ids = nullptr;  // [num_tokens]
  const void* table = nullptr;   // [vocab, dim] table_dtype
  void* out = nullptr;           // [num_tokens, dim] out_dtype
  DType table_dtype = DType::kF32;
  DType out_dtype = DType::kF32;
  int64_t num_tokens = 0, dim = 0;
};

// y = round(a + b), elementwise over n elements (residual adds). y may alias a or b.
struct AddArgs {
  const void* a = nullptr;
  const void* b = nullptr;
  void* y = nullptr;
  DType dtype = DType::kF32;
  int64_t n = 0;
};

// Shared-expert gate (Qwen2-MoE): y[t] = round(y[t] + round(round(sigmoid(gate[t])) * x[t])).
// gate holds one logit per row (already rounded to dtype by the linear that produced it).
struct GatedAddArgs {
  void* y = nullptr;           // [rows, dim] dtype, accumulated into
  const void* x = nullptr;     // [rows, dim] dtype
  const void* gate = nullptr;  // [rows] dtype
  DType dtype = DType::kF32;
  int64_t rows = 0, dim = 0;
};

// Copy-convert n elements between float dtypes (e.g. bf16 logits -> f32 for the sampler).
struct ConvertArgs {
  const void* x = nullptr;
  void* y = nullptr;
  DType x_dtype = DType::kF32;
  DType y_dtype = DType::kF32;
  int64_t n = 0;
};

namespace cpu {
void embedding(const EmbeddingArgs& a);
void add(const AddArgs& a);
void gated_add(const GatedAddArgs& a);
void convert(const ConvertArgs& a);
}  // namespace cpu
namespace cuda {
void embedding(const EmbeddingArgs& a, void* stream);
void add(const AddArgs& a, void* stream);
void gated_add(const GatedAddArgs& a, void* stream);
void convert(const ConvertArgs& a, void* stream);
}  // namespace cuda

}  // namespace sy
