// sy::cuda::grouped_gemm: validates the arguments and picks a path (grouped_gemm_paths.h).
// Position: runner -> MoE block -> moe_permute -> here (gate_up, then down) -> moe_combine.
//
// Selection, for bf16/f16 activations and weights of the same dtype with 16-byte aligned rows:
//   very few rows (total_rows <= 32 and <= 2 * num_experts): kDecode, which streams each active
//     expert's weights once at memory bandwidth;
//   otherwise kWgmmaSm90 on compute capability 9.x (when the build holds sm_90a code), else
//     kMmaSm80 on 8.x and newer.
// Everything else (f32, mixed dtypes, unaligned k) takes kSimt.
#include <cuda_runtime.h>

#include <string>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/float_types.cuh"
#include "kernels/cuda/grouped_gemm_launch.h"
#include "kernels/cuda/grouped_gemm_paths.h"

namespace sy::cuda {
namespace {

void validate(const GroupedGemmArgs& a) {
  const char* op = "grouped_gemm";
  require(a.num_experts > 0, op, "num_experts must be > 0");
  require(a.n > 0 && a.k > 0, op, "n and k must be > 0 (n " + std::to_string(a.n) + ", k " + std::to_string(a.k) + ")");
  require(a.total_rows >= 0 && a.total_rows < (int64_t(1) << 31), op, "total_rows must be in [0, 2^31)");
  if (a.total_rows == 0) return;
  require(a.x && a.w && a.y && a.expert_offsets, op, "x, w, y and expert_offsets must be set");
}

// Very few rows: the weights dominate the bytes, so stream them (see grouped_gemm_decode.cu).
// Measured on an H100 (docs/perf/gpu.md, bench_grouped_gemm --path decode vs wgmma_sm90): the
// GEMV path wins up to ~2 rows per expert and 32 rows in all (Mixtral 8 tokens x top-2, Qwen3
// 4 tokens x top-8); beyond that the tensor-core tiles win, by 1.2-2.5x at 16-256 tokens of
// Qwen3/DeepSeek shapes, where an old bound of 8 rows per expert kept the GEMV path.
bool decode_shaped(const GroupedGemmArgs& a) {
  return a.total_rows <= 32 && a.total_rows <= 2 * int64_t(a.num_experts);
}

}  // namespace

const char* grouped_gemm_path_name(GroupedGemmPath path) {
  switch (path) {
    case GroupedGemmPath::kAuto: return "auto";
    case GroupedGemmPath::kSimt: return "simt";
    case GroupedGemmPath::kDecode: return "decode";
    case GroupedGemmPath::kMmaSm80: return "mma_sm80";
    case GroupedGemmPath::kWgmmaSm90: return "wgmma_sm90";
  }
  return "?";
}

bool grouped_gemm_path_supported(GroupedGemmPath path, const GroupedGemmArgs& a) {
  switch (path) {
    case GroupedGemmPath::kAuto:
    case GroupedGemmPath::kSimt: return true;
    case GroupedGemmPath::kDecode: return grouped_gemm_decode_supported(a);
    case GroupedGemmPath::kMmaSm80: return grouped_gemm_sm80_supported(a);
    case GroupedGemmPath::kWgmmaSm90: return grouped_gemm_sm90_supported(a);
  }
  return false;
}

GroupedGemmPath grouped_gemm_auto_path(const GroupedGemmArgs& a) {
  if (decode_shaped(a) && grouped_gemm_decode_supported(a)) return GroupedGemmPath::kDecode;
  if (grouped_gemm_sm90_supported(a)) return GroupedGemmPath::kWgmmaSm90;
  if (grouped_gemm_sm80_supported(a)) return GroupedGemmPath::kMmaSm80;
  if (grouped_gemm_decode_supported(a)) return GroupedGemmPath::kDecode;
  return GroupedGemmPath::kSimt;
}

void grouped_gemm_with_path(const GroupedGemmArgs& a, GroupedGemmPath path, void* stream) {
  validate(a);
  if (a.total_rows == 0) return;
  if (path == GroupedGemmPath::kAuto) path = grouped_gemm_auto_path(a);
  require(grouped_gemm_path_supported(path, a), "grouped_gemm",
          std::string("path ") + grouped_gemm_path_name(path) + " does not support these arguments on this device (act " +
              std::string(dtype_name(a.act_dtype)) + ", w " + std::string(dtype_name(a.w_dtype)) +
              ", k " + std::to_string(a.k) + ")");
  auto s = static_cast<cudaStream_t>(stream);
  switch (path) {
    case GroupedGemmPath::kDecode: launch_grouped_gemm_decode(a, s); break;
    case GroupedGemmPath::kMmaSm80: launch_grouped_gemm_sm80(a, s); break;
    case GroupedGemmPath::kWgmmaSm90: launch_grouped_gemm_sm90(a, s); break;
    default: launch_grouped_gemm_simt(a, a.k, a.n, s); break;
  }
}

void grouped_gemm(const GroupedGemmArgs& a, void* stream) {
  grouped_gemm_with_path(a, GroupedGemmPath::kAuto, stream);
}

}  // namespace sy::cuda
