#include "engine/io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

namespace sy {
namespace {

[[noreturn]] void throw_os_error(const std::filesystem::path& path, const char* what, int err) {
  throw std::runtime_error(path.string() + ": " + what + ": " + std::strerror(err));
}

// Closes the descriptor on every exit path of open_read_only; the mapping outlives it.
struct FdGuard {
  int fd;
  ~FdGuard() { ::close(fd); }
};

}  // namespace

MappedFile MappedFile::open_read_only(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_os_error(path, "cannot open", errno);
  FdGuard guard{fd};

  struct stat st {};
  if (::fstat(fd, &st) != 0) throw_os_error(path, "cannot stat", errno);
  if (!S_ISREG(st.st_mode)) throw std::runtime_error(path.string() + ": not a regular file");

  MappedFile file;
  file.path_ = path;
  file.size_ = static_cast<size_t>(st.st_size);
  if (file.size_ == 0) return file;

  void* p = ::mmap(nullptr, file.size_, PROT_READ, MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED) throw_os_error(path, "cannot mmap", errno);
  // Advice only: a failure changes nothing about correctness, so it is ignored.
  ::madvise(p, file.size_, MADV_WILLNEED);
  file.data_ = static_cast<const uint8_t*>(p);
  return file;
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      path_(std::move(other.path_)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    unmap();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    path_ = std::move(other.path_);
  }
  return *this;
}

MappedFile::~MappedFile() { unmap(); }

void MappedFile::unmap() noexcept {
  if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
  data_ = nullptr;
  size_ = 0;
}

}  // namespace sy
