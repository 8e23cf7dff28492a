// Error handling for CUDA calls: one helper, not a macro pasted after every launch.
// sy::cuda::check(cudaGetLastError(), "rms_norm") throws std::runtime_error naming the op.
// With SWITCHYARD_CUDA_SYNC_DEBUG=1 in the environment, after_launch() also synchronises so an
// asynchronous fault is reported at the launch that caused it (except inside a graph capture,
// where synchronising is not allowed).
#pragma once

#include <cuda_runtime.h>

namespace sy::cuda {

void check(cudaError_t err, const char* what);
// Call after every kernel launch.
void after_launch(const char* op, cudaStream_t stream);

}  // namespace sy::cuda
