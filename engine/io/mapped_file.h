// MappedFile: a whole file mapped read-only into memory. Model loading (config -> checkpoint ->
// weights -> backend memory) reads safetensors tensors straight out of this mapping, so a
// multi-gigabyte checkpoint is paged in by the kernel instead of copied through a buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>

namespace sy {

class MappedFile {
 public:
  // Maps `path` with PROT_READ / MAP_PRIVATE and advises the kernel we will read all of it.
  // Throws std::runtime_error naming the path and the OS error.
  static MappedFile open_read_only(const std::filesystem::path& path);

  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  // Null for an empty file (a zero-length mapping is not allowed by mmap).
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  void unmap() noexcept;

  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::filesystem::path path_;
};

}  // namespace sy
