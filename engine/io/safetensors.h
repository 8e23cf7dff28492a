// Safetensors checkpoint reader. Model loading is: config.json -> Checkpoint (this file) -> weight
// loader (names, shapes, dtypes checked against the model) -> backend memory. Every file is
// memory-mapped and fully validated when opened (header, dtypes, shapes, byte spans), so the
// weight loader can trust each TensorInfo: `data` points at exactly `nbytes` bytes of a
// read-only mapping that lives as long as the SafetensorsFile / Checkpoint that made it.
//
// Format (MODELS.md §1): u64 LE header length N, N bytes of JSON
//   {name: {"dtype", "shape", "data_offsets": [begin, end)}, "__metadata__": {str: str}},
// then the data buffer, which the offsets index. Sharded checkpoints add
// model.safetensors.index.json = {"metadata": {...}, "weight_map": {tensor: file}}.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "engine/io/mapped_file.h"
#include "kernels/dtype.h"

namespace sy {

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;  // [] is a scalar
  // Points into the read-only mapping; row-major, little-endian. Aligned to the element size
  // only if the writer padded the header (ours and the Python library's do), so readers of
  // unaligned data should memcpy rather than cast.
  const void* data = nullptr;
  size_t nbytes = 0;
  std::string file;  // path of the file holding it, for error messages

  int64_t numel() const;
};

// One mapped .safetensors file; movable, not copyable; unmapped on destruction.
class SafetensorsFile {
 public:
  // Maps and validates the whole header. Throws std::runtime_error naming the file (and the
  // tensor, where one is at fault).
  static SafetensorsFile open(const std::filesystem::path& path);

  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  SafetensorsFile() = default;

  MappedFile mapping_;
  std::filesystem::path path_;
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// All safetensors files of a model directory, seen as one name -> tensor table.
class Checkpoint {
 public:
  // dir/model.safetensors.index.json if present (every weight_map file must exist, every listed
  // tensor must be in the file the index names); else dir/model.safetensors; else all
  // dir/*.safetensors (a tensor in two files is an error). No file -> error naming the dir.
  static Checkpoint open(const std::filesystem::path& dir);

  const TensorInfo* find(std::string_view name) const;  // nullptr if absent
  const TensorInfo& get(std::string_view name) const;   // throws "<dir>: tensor '<name>' not found"
  bool contains(std::string_view name) const { return find(name) != nullptr; }
  std::vector<std::string> names() const;  // sorted
  size_t total_bytes() const;              // sum of nbytes over all tensors
  const std::filesystem::path& dir() const { return dir_; }
  // The files opened, in the order they were opened.
  const std::vector<SafetensorsFile>& files() const { return files_; }

 private:
  Checkpoint() = default;

  std::filesystem::path dir_;
  std::vector<SafetensorsFile> files_;  // own the mappings every TensorInfo points into
  std::map<std::string, TensorInfo, std::less<>> tensors_;
};

}  // namespace sy
