// Cache of per-device properties (see device_info.h).
#include <array>
#include <mutex>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_info.h"

namespace sy::cuda {

const DeviceInfo& current_device_info() {
  constexpr int kMaxDevices = 64;
  static std::array<DeviceInfo, kMaxDevices> cache;
  static std::array<std::once_flag, kMaxDevices> once;
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  if (device < 0 || device >= kMaxDevices) throw std::runtime_error("CUDA device index out of range");
  std::call_once(once[size_t(device)], [device] {
    cudaDeviceProp prop{};
    check(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
    DeviceInfo& info = cache[size_t(device)];
    info.device = device;
    info.cc_major = prop.major;
    info.cc_minor = prop.minor;
    info.sm_count = prop.multiProcessorCount;
    info.max_smem_per_block_optin = prop.sharedMemPerBlockOptin;
  });
  return cache[size_t(device)];
}

}  // namespace sy::cuda
