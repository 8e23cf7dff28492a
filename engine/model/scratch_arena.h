// ScratchArena: per-step temporary buffers on a backend. Buffers are requested by name with a
// byte size; each keeps its largest size so steady-state steps allocate nothing.
#pragma once

#include <map>
#include <string>

#include "engine/backend/backend.h"

namespace sy {

class ScratchArena {
 public:
  explicit ScratchArena(Backend& be) : be_(be) {}
  // A buffer of at least `bytes` bytes, reused across calls with the same name. Contents are
  // not preserved when it grows.
  void* get(const std::string& name, size_t bytes) {
    DeviceBuffer& b = buffers_[name];
    if (b.bytes() < bytes) b = DeviceBuffer(&be_, bytes);
    return b.get();
  }
  template <typename T>
  T* get(const std::string& name, size_t count) {
    return static_cast<T*>(get(name, count * sizeof(T)));
  }
  size_t total_bytes() const {
    size_t n = 0;
    for (const auto& [k, b] : buffers_) n += b.bytes();
    return n;
  }

 private:
  Backend& be_;
  std::map<std::string, DeviceBuffer> buffers_;
};

}  // namespace sy
