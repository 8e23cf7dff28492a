// PackedUpload: host arrays staged side by side (16-byte aligned) and copied to a backend in one
// transfer. On a device backend every host-to-device copy waits for the stream, so a step's
// small index arrays (batch layout, sampling inputs) go up together instead of one by one.
// Position: runner -> [here] -> Backend::copy_from_host.
#pragma once

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "engine/backend/backend.h"
#include "engine/model/scratch_arena.h"

namespace sy {

class PackedUpload {
 public:
  // Appends `v`; returns its byte offset in the packed buffer.
  template <typename T>
  size_t add(const std::vector<T>& v) {
    const size_t offset = (bytes_.size() + kAlign - 1) / kAlign * kAlign;
    bytes_.resize(offset + v.size() * sizeof(T));
    if (!v.empty()) std::memcpy(bytes_.data() + offset, v.data(), v.size() * sizeof(T));
    return offset;
  }
  // Copies everything to `arena`'s buffer `name`; returns its base address in backend memory.
  // The buffer keeps its largest size, so the same layout lands at the same addresses each
  // time (decode graphs rely on that).
  unsigned char* upload(Backend& be, ScratchArena& arena, const std::string& name) const {
    auto* base = arena.get<unsigned char>(name, std::max<size_t>(bytes_.size(), kAlign));
    be.copy_from_host(base, bytes_.data(), bytes_.size());
    return base;
  }

 private:
  static constexpr size_t kAlign = 16;  // covers every element type staged (8-byte fields included)
  std::vector<unsigned char> bytes_;
};

}  // namespace sy
