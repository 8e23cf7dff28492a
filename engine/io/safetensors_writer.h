// Safetensors writer: the inverse of SafetensorsFile, for tests that generate random
// checkpoints and for tools that save weights. Not on the serving path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "kernels/dtype.h"

namespace sy {

struct TensorToWrite {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;  // [] is a scalar
  const void* data = nullptr;  // row-major, little-endian; may be null when nbytes == 0
  size_t nbytes = 0;           // must equal numel x dtype_size(dtype)
};

// Writes a file the Python `safetensors` library reads: tensors in name order, packed without
// gaps; header padded with spaces so the data buffer starts 8-byte aligned. Throws
// std::runtime_error naming the path (and tensor) on a bad tensor or an I/O error.
void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace sy
