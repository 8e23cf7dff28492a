#include "engine/io/safetensors_writer.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace sy {
namespace {

[[noreturn]] void fail_tensor(const std::filesystem::path& path, const std::string& tensor,
                              const std::string& what) {
  throw std::runtime_error(path.string() + ": tensor '" + tensor + "': " + what);
}

// Bytes the shape needs; also checks the dims, so a bad TensorToWrite never reaches the file.
size_t expected_bytes(const std::filesystem::path& path, const TensorToWrite& t) {
  size_t bytes = dtype_size(t.dtype);
  for (int64_t dim : t.shape) {
    if (dim < 0) fail_tensor(path, t.name, "negative dim " + std::to_string(dim));
    if (__builtin_mul_overflow(bytes, size_t(dim), &bytes))
      fail_tensor(path, t.name, "shape overflows");
  }
  return bytes;
}

}  // namespace

void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<const TensorToWrite*> sorted;
  sorted.reserve(tensors.size());
  for (const TensorToWrite& t : tensors) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(),
            [](const TensorToWrite* a, const TensorToWrite* b) { return a->name < b->name; });

  // nlohmann::json orders object keys, so the header lists tensors by name like the data.
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  size_t offset = 0;
  for (size_t i = 0; i < sorted.size(); ++i) {
    const TensorToWrite& t = *sorted[i];
    if (t.name == "__metadata__") fail_tensor(path, t.name, "name is reserved for metadata");
    if (i > 0 && sorted[i - 1]->name == t.name) fail_tensor(path, t.name, "written twice");
    const size_t bytes = expected_bytes(path, t);
    if (t.nbytes != bytes) {
      fail_tensor(path, t.name,
                  "nbytes " + std::to_string(t.nbytes) + " but " +
                      std::string(dtype_name(t.dtype)) + " shape needs " + std::to_string(bytes));
    }
    if (bytes > 0 && t.data == nullptr) fail_tensor(path, t.name, "data is null");
    header[t.name] = {{"dtype", std::string(dtype_name(t.dtype))},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }

  std::string header_text = header.dump();
  // 8 length bytes + header a multiple of 8: the data buffer, hence every tensor whose offset is
  // a multiple of its element size, is aligned in a page-aligned mapping.
  header_text.append((8 - header_text.size() % 8) % 8, ' ');

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error(path.string() + ": cannot open for writing");
  uint8_t length_bytes[8];
  for (int i = 0; i < 8; ++i) length_bytes[i] = uint8_t(uint64_t(header_text.size()) >> (8 * i));
  out.write(reinterpret_cast<const char*>(length_bytes), sizeof(length_bytes));
  out.write(header_text.data(), std::streamsize(header_text.size()));
  for (const TensorToWrite* t : sorted) {
    if (t->nbytes > 0) out.write(static_cast<const char*>(t->data), std::streamsize(t->nbytes));
  }
  out.close();
  if (!out) throw std::runtime_error(path.string() + ": write failed");
}

}  // namespace sy
