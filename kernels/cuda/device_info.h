// Properties of the current CUDA device that kernel launchers consult on every call (compute
// capability for path selection, SM count for grid sizing). Read once per device and cached,
// because cudaGetDeviceProperties costs milliseconds.
#pragma once

#include <cstddef>

namespace sy::cuda {

struct DeviceInfo {
  int device = 0;
  int cc_major = 0, cc_minor = 0;
  int sm_count = 0;
  size_t max_smem_per_block_optin = 0;  // bytes a block may request after cudaFuncSetAttribute
};

// The current device's properties (cudaGetDevice); throws if no device is usable.
const DeviceInfo& current_device_info();

}  // namespace sy::cuda
