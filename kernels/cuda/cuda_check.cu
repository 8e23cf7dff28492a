#include "kernels/cuda/cuda_check.h"

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace sy::cuda {

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("CUDA error in ") + what + ": " + cudaGetErrorName(err) + " (" +
                             cudaGetErrorString(err) + ")");
}

void after_launch(const char* op, cudaStream_t stream) {
  check(cudaGetLastError(), op);
  static const bool sync_debug = [] {
    const char* v = std::getenv("SWITCHYARD_CUDA_SYNC_DEBUG");
    return v && v[0] == '1';
  }();
  if (!sync_debug) return;
  // A stream being recorded into a graph cannot be synchronised (the capture would be
  // invalidated): launches inside a capture are checked when the graph runs.
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  check(cudaStreamIsCapturing(stream, &capture), op);
  if (capture == cudaStreamCaptureStatusNone) check(cudaStreamSynchronize(stream), op);
}

}  // namespace sy::cuda
