// The grouped GEMM's implementations ("paths") and how one is chosen (kernels/moe/grouped_gemm.h
// declares the op; sy::cuda::grouped_gemm picks a path automatically). Plain C++ so that tests
// and benchmarks (.cpp) can run and compare each path explicitly.
//   kSimt        any dtypes and alignment; fp32 FMA tiles (the portable fallback)
//   kDecode      few rows per expert: memory-bound weight streaming, 16-byte loads, fp32 FMA
//   kMmaSm80     bf16/f16 tensor cores via mma.sync, ldmatrix, multi-stage cp.async (sm_80+)
//   kWgmmaSm90   bf16/f16 WGMMA fed by TMA through an mbarrier pipeline, warp-specialised
//                producer/consumers (sm_90a only)
#pragma once

#include <cstdint>

#include "kernels/moe/grouped_gemm.h"

namespace sy::cuda {

enum class GroupedGemmPath : uint8_t { kAuto, kSimt, kDecode, kMmaSm80, kWgmmaSm90 };

const char* grouped_gemm_path_name(GroupedGemmPath path);

// Whether `path` can run these arguments on the current device (dtypes, alignment, compute
// capability, and for kWgmmaSm90 a build that contains sm_90a code).
bool grouped_gemm_path_supported(GroupedGemmPath path, const GroupedGemmArgs& a);

// The path sy::cuda::grouped_gemm takes for these arguments on the current device.
GroupedGemmPath grouped_gemm_auto_path(const GroupedGemmArgs& a);

// Runs one path; throws std::invalid_argument when it is not supported for these arguments.
void grouped_gemm_with_path(const GroupedGemmArgs& a, GroupedGemmPath path, void* stream);

}  // namespace sy::cuda
