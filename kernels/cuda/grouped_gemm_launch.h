// Internal interface between the grouped GEMM dispatcher (grouped_gemm.cu) and its paths
// (grouped_gemm_simt.cu, _decode.cu, _sm80.cu, _sm90.cu). Each path states which arguments
// it supports and launches on a stream; the dispatcher validates the common arguments first.
#pragma once

#include <cuda_runtime.h>

#include "kernels/moe/grouped_gemm.h"

namespace sy::cuda {

// y[rows, n] (row stride ldy) = x[rows, k] (row stride ldx) · w[e]ᵀ (+ bias[e]) over the
// segments of expert_offsets, or over the single segment [0, total_rows) with expert 0 when
// expert_offsets is null (sy::cuda::linear uses that form for dtype combinations cuBLAS lacks).
void launch_grouped_gemm_simt(const GroupedGemmArgs& a, int64_t ldx, int64_t ldy, cudaStream_t stream);

bool grouped_gemm_decode_supported(const GroupedGemmArgs& a);
void launch_grouped_gemm_decode(const GroupedGemmArgs& a, cudaStream_t stream);

bool grouped_gemm_sm80_supported(const GroupedGemmArgs& a);
void launch_grouped_gemm_sm80(const GroupedGemmArgs& a, cudaStream_t stream);

bool grouped_gemm_sm90_supported(const GroupedGemmArgs& a);
void launch_grouped_gemm_sm90(const GroupedGemmArgs& a, cudaStream_t stream);

}  // namespace sy::cuda
