#include "engine/io/safetensors.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>
#include <utility>

namespace sy {
namespace {

using nlohmann::json;

// The Python library's own limit (safetensors MAX_HEADER_SIZE); a larger N is a corrupt file,
// not a real header, and must not make us parse 100 MB of garbage.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr size_t kHeaderLengthBytes = 8;
constexpr const char* kIndexFileName = "model.safetensors.index.json";
constexpr const char* kSingleFileName = "model.safetensors";
constexpr const char* kSupportedDtypes = "F32, F16, BF16";

// Every dtype name the safetensors format defines (as of the Python library 0.8). A name here
// that is not F32/F16/BF16 is a real format we do not load yet; any other name is a corrupt or
// foreign file. The two get different messages.
constexpr std::array<std::string_view, 22> kKnownDtypeNames = {
    "BOOL",        "U8",          "I8",      "I16", "U16",     "I32",    "U32",     "I64",
    "U64",         "F16",         "BF16",    "F32", "F64",     "C64",    "F8_E5M2", "F8_E4M3",
    "F8_E4M3FNUZ", "F8_E5M2FNUZ", "F8_E8M0", "F4",  "F6_E2M3", "F6_E3M2"};

[[noreturn]] void fail(const std::filesystem::path& file, const std::string& what) {
  throw std::runtime_error(file.string() + ": " + what);
}

[[noreturn]] void fail_tensor(const std::filesystem::path& file, const std::string& tensor,
                              const std::string& what) {
  throw std::runtime_error(file.string() + ": tensor '" + tensor + "': " + what);
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << ']';
  return out.str();
}

DType parse_dtype(const std::filesystem::path& file, const std::string& tensor,
                  const std::string& name) {
  if (name == "F32") return DType::kF32;
  if (name == "F16") return DType::kF16;
  if (name == "BF16") return DType::kBF16;
  const bool known =
      std::find(kKnownDtypeNames.begin(), kKnownDtypeNames.end(), name) != kKnownDtypeNames.end();
  fail_tensor(file, tensor,
              std::string(known ? "unsupported" : "unknown") + " dtype '" + name +
                  "' (supported: " + kSupportedDtypes + ")");
}

std::vector<int64_t> parse_shape(const std::filesystem::path& file, const std::string& tensor,
                                 const json& value) {
  if (!value.is_array()) fail_tensor(file, tensor, "'shape' must be an array of integers");
  std::vector<int64_t> shape;
  shape.reserve(value.size());
  for (const json& dim : value) {
    // JSON integers only: 2.0 and true are not dimensions (the Python library agrees).
    if (!dim.is_number_integer())
      fail_tensor(file, tensor, "shape has a non-integer dim " + dim.dump());
    if (dim.is_number_unsigned()) {
      const uint64_t d = dim.get<uint64_t>();
      if (d > uint64_t(INT64_MAX))
        fail_tensor(file, tensor, "shape dim " + dim.dump() + " is too large");
      shape.push_back(int64_t(d));
    } else {
      const int64_t d = dim.get<int64_t>();
      if (d < 0) fail_tensor(file, tensor, "shape has a negative dim " + dim.dump());
      shape.push_back(d);
    }
  }
  return shape;
}

std::pair<uint64_t, uint64_t> parse_offsets(const std::filesystem::path& file,
                                            const std::string& tensor, const json& value) {
  if (!value.is_array() || value.size() != 2 || !value[0].is_number_unsigned() ||
      !value[1].is_number_unsigned()) {
    fail_tensor(
        file, tensor,
        "'data_offsets' must be [begin, end] with non-negative integers, got " + value.dump());
  }
  return {value[0].get<uint64_t>(), value[1].get<uint64_t>()};
}

const json& require_field(const std::filesystem::path& file, const std::string& tensor,
                          const json& entry, const char* field) {
  auto it = entry.find(field);
  if (it == entry.end()) fail_tensor(file, tensor, std::string("missing '") + field + "'");
  return *it;
}

// Byte count of a tensor; the shape comes from an untrusted file, so products are checked.
uint64_t tensor_bytes(const std::filesystem::path& file, const std::string& tensor,
                      const std::vector<int64_t>& shape, DType dtype) {
  uint64_t bytes = dtype_size(dtype);
  for (int64_t dim : shape) {
    if (__builtin_mul_overflow(bytes, uint64_t(dim), &bytes)) {
      fail_tensor(file, tensor, "shape " + shape_string(shape) + " overflows a 64-bit byte count");
    }
  }
  return bytes;
}

std::map<std::string, std::string> parse_metadata(const std::filesystem::path& file,
                                                  const json& value) {
  if (!value.is_object()) fail(file, "'__metadata__' must be an object of strings");
  std::map<std::string, std::string> metadata;
  for (const auto& [key, item] : value.items()) {
    if (!item.is_string()) {
      fail(file, "'__metadata__' value of '" + key + "' must be a string, got " + item.dump());
    }
    metadata.emplace(key, item.get<std::string>());
  }
  return metadata;
}

struct Span {
  uint64_t begin;
  uint64_t end;
  const std::string* tensor;
};

// The Python library (0.8, checked with files crafted to test it) requires the spans to tile
// the data buffer exactly: sorted by offset, each begins where the previous ended, the first at
// 0, the last at the buffer's end. Gaps and trailing bytes are rejected like overlaps, so a file
// we accept is one every other safetensors reader accepts.
void check_spans_tile_buffer(const std::filesystem::path& file, std::vector<Span> spans,
                             uint64_t data_bytes) {
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return std::tie(a.begin, a.end) < std::tie(b.begin, b.end);
  });
  uint64_t expected_begin = 0;
  const std::string* previous = nullptr;
  for (const Span& span : spans) {
    if (span.begin < expected_begin) {
      fail_tensor(file, *span.tensor,
                  "data_offsets [" + std::to_string(span.begin) + ", " + std::to_string(span.end) +
                      ") overlap tensor '" + *previous + "', which ends at " +
                      std::to_string(expected_begin));
    }
    if (span.begin > expected_begin) {
      fail_tensor(file, *span.tensor,
                  "data_offsets begin at " + std::to_string(span.begin) + ", leaving a gap after " +
                      std::to_string(expected_begin) + " (safetensors data is packed)");
    }
    expected_begin = span.end;
    previous = span.tensor;
  }
  if (expected_begin != data_bytes) {
    fail(file, "data buffer is " + std::to_string(data_bytes) + " bytes but tensors cover only " +
                   std::to_string(expected_begin));
  }
}

json parse_json_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot open");
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    fail(path, std::string("not valid JSON: ") + e.what());
  }
}

}  // namespace

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t dim : shape) n *= dim;
  return n;
}

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
  SafetensorsFile file;
  file.path_ = path;
  file.mapping_ = MappedFile::open_read_only(path);
  const uint8_t* bytes = file.mapping_.data();
  const uint64_t file_bytes = file.mapping_.size();

  if (file_bytes < kHeaderLengthBytes) {
    fail(path, "file is " + std::to_string(file_bytes) +
                   " bytes, too short for the 8-byte header length");
  }
  uint64_t header_bytes = 0;  // u64 little-endian, assembled bytewise so host order is irrelevant
  for (size_t i = 0; i < kHeaderLengthBytes; ++i) header_bytes |= uint64_t(bytes[i]) << (8 * i);
  if (header_bytes > kMaxHeaderBytes) {
    fail(path, "header length " + std::to_string(header_bytes) + " exceeds the " +
                   std::to_string(kMaxHeaderBytes) + "-byte limit (corrupt file?)");
  }
  if (header_bytes > file_bytes - kHeaderLengthBytes) {
    fail(path, "header length " + std::to_string(header_bytes) + " runs past the end of the " +
                   std::to_string(file_bytes) + "-byte file (truncated?)");
  }
  const uint8_t* header_begin = bytes + kHeaderLengthBytes;
  const uint8_t* data_begin = header_begin + header_bytes;
  const uint64_t data_bytes = file_bytes - kHeaderLengthBytes - header_bytes;

  // nlohmann's lexer takes a NUL byte for the end of input, which would accept NUL padding or
  // garbage after it; raw NULs are never valid JSON, and the Python library rejects them.
  if (std::memchr(header_begin, 0, header_bytes) != nullptr) {
    fail(path, "header is not valid JSON: it contains a NUL byte");
  }
  json header;
  try {
    // Trailing spaces (the alignment padding) are whitespace to the parser.
    header = json::parse(header_begin, data_begin);
  } catch (const json::exception& e) {
    fail(path, std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object())
    fail(path, "header must be a JSON object, got " + std::string(header.type_name()));

  std::vector<Span> spans;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      file.metadata_ = parse_metadata(path, entry);
      continue;
    }
    if (!entry.is_object()) fail_tensor(path, name, "entry must be a JSON object");
    const json& dtype_value = require_field(path, name, entry, "dtype");
    if (!dtype_value.is_string()) fail_tensor(path, name, "'dtype' must be a string");

    TensorInfo info;
    info.name = name;
    info.file = path.string();
    info.dtype = parse_dtype(path, name, dtype_value.get<std::string>());
    info.shape = parse_shape(path, name, require_field(path, name, entry, "shape"));
    const auto [begin, end] =
        parse_offsets(path, name, require_field(path, name, entry, "data_offsets"));
    if (begin > end) {
      fail_tensor(
          path, name,
          "data_offsets begin " + std::to_string(begin) + " is after end " + std::to_string(end));
    }
    if (end > data_bytes) {
      fail_tensor(path, name,
                  "data_offsets end " + std::to_string(end) + " is past the end of the " +
                      std::to_string(data_bytes) + "-byte data buffer");
    }
    const uint64_t expected = tensor_bytes(path, name, info.shape, info.dtype);
    if (end - begin != expected) {
      fail_tensor(path, name,
                  "data_offsets span " + std::to_string(end - begin) + " bytes but " +
                      std::string(dtype_name(info.dtype)) + " " + shape_string(info.shape) +
                      " needs " + std::to_string(expected));
    }
    info.data = data_begin + begin;
    info.nbytes = size_t(expected);
    auto [it, inserted] = file.tensors_.emplace(name, std::move(info));
    spans.push_back(Span{begin, end, &it->first});
  }
  check_spans_tile_buffer(path, std::move(spans), data_bytes);
  return file;
}

Checkpoint Checkpoint::open(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir)) fail(dir, "not a directory");
  Checkpoint ckpt;
  ckpt.dir_ = dir;

  const fs::path index_path = dir / kIndexFileName;
  if (fs::exists(index_path)) {
    const json index = parse_json_file(index_path);
    if (!index.is_object()) fail(index_path, "must be a JSON object");
    auto weight_map = index.find("weight_map");
    if (weight_map == index.end()) fail(index_path, "missing 'weight_map'");
    if (!weight_map->is_object()) fail(index_path, "'weight_map' must be an object");

    // Open each shard once, in name order, checking that it exists before parsing any.
    std::map<std::string, size_t> shard_slot;  // shard file name -> index in files_
    for (const auto& [tensor, shard] : weight_map->items()) {
      if (!shard.is_string()) {
        fail(index_path, "weight_map entry for tensor '" + tensor + "' must be a file name string");
      }
      const std::string shard_name = shard.get<std::string>();
      if (!fs::is_regular_file(dir / shard_name)) {
        fail(index_path, "tensor '" + tensor + "' is mapped to shard '" + shard_name + "', but " +
                             (dir / shard_name).string() + " does not exist");
      }
      shard_slot.emplace(shard_name, 0);
    }
    for (auto& [shard_name, slot] : shard_slot) {
      slot = ckpt.files_.size();
      ckpt.files_.push_back(SafetensorsFile::open(dir / shard_name));
    }
    // The index is authoritative: a shard's tensors that the index does not list are not part
    // of the checkpoint (transformers resolves names through the weight_map too).
    for (const auto& [tensor, shard] : weight_map->items()) {
      const SafetensorsFile& file = ckpt.files_[shard_slot.at(shard.get<std::string>())];
      auto it = file.tensors().find(tensor);
      if (it == file.tensors().end()) {
        fail(index_path, "tensor '" + tensor + "' is mapped to " + file.path().string() +
                             ", which does not contain it");
      }
      ckpt.tensors_.emplace(tensor, it->second);
    }
    return ckpt;
  }

  std::vector<fs::path> paths;
  if (fs::exists(dir / kSingleFileName)) {
    paths.push_back(dir / kSingleFileName);
  } else {
    for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
      if (entry.is_regular_file() && entry.path().extension() == ".safetensors") {
        paths.push_back(entry.path());
      }
    }
    std::sort(paths.begin(), paths.end());
  }
  if (paths.empty()) {
    fail(dir,
         std::string("no ") + kIndexFileName + ", " + kSingleFileName + " or *.safetensors file");
  }
  for (const fs::path& path : paths) {
    ckpt.files_.push_back(SafetensorsFile::open(path));
    for (const auto& [name, info] : ckpt.files_.back().tensors()) {
      auto [it, inserted] = ckpt.tensors_.emplace(name, info);
      if (!inserted) {
        fail(dir, "tensor '" + name + "' is in both " + it->second.file + " and " + path.string());
      }
    }
  }
  return ckpt;
}

const TensorInfo* Checkpoint::find(std::string_view name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

const TensorInfo& Checkpoint::get(std::string_view name) const {
  const TensorInfo* info = find(name);
  if (info == nullptr) fail(dir_, "tensor '" + std::string(name) + "' not found");
  return *info;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> names;
  names.reserve(tensors_.size());
  for (const auto& [name, info] : tensors_) names.push_back(name);
  return names;
}

size_t Checkpoint::total_bytes() const {
  size_t total = 0;
  for (const auto& [name, info] : tensors_) total += info.nbytes;
  return total;
}

}  // namespace sy
