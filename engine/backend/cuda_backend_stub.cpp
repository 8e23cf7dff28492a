// CPU-only builds: the CUDA backend does not exist, and says so (as candle's stub does).
#include <stdexcept>

#include "engine/backend/backend.h"

namespace sy {

std::unique_ptr<Backend> make_cuda_backend(int) {
  throw std::runtime_error("the CUDA backend is not available: Switchyard was not compiled with CUDA support "
                           "(configure with nvcc present and -DSWITCHYARD_CUDA=ON)");
}

int cuda_device_count() { return 0; }

}  // namespace sy
