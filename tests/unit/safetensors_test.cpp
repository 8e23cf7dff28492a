// Safetensors reader and writer: round trips through the writer, checkpoint directory layouts
// (index, single file, several shards), and one test per kind of corrupt file, each checking that
// the error names the file and, where one is at fault, the tensor.
#include "engine/io/safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "engine/io/safetensors_writer.h"

namespace sy {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// The message of the std::runtime_error `action` throws; a test failure if it throws nothing.
std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a std::runtime_error";
  return {};
}

// A file laid out by hand: u64 LE header length, the header text verbatim, `data_bytes` bytes.
void write_raw(const fs::path& path, const std::string& header, size_t data_bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.put(char(uint8_t(n >> (8 * i))));
  out << header;
  out << std::string(data_bytes, '\x01');
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_index(const fs::path& dir, const std::string& weight_map_json) {
  write_bytes(dir / "model.safetensors.index.json",
              R"({"metadata": {"total_size": 0}, "weight_map": )" + weight_map_json + "}");
}

// One F32 tensor of `numel` elements valued start, start+1, ...
struct F32Tensor {
  std::string name;
  std::vector<float> values;
  TensorToWrite to_write() const {
    return {name, DType::kF32, {int64_t(values.size())}, values.data(), values.size() * 4};
  }
};
F32Tensor f32_tensor(std::string name, int numel, float start) {
  F32Tensor t{std::move(name), {}};
  for (int i = 0; i < numel; ++i) t.values.push_back(start + float(i));
  return t;
}

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("sy_safetensors_test_" + std::to_string(::getpid()) + "_" +
                                        std::to_string(counter++) + "_" + info->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Opening `path` fails; returns the message after checking that it names the file.
  std::string open_error(const fs::path& path) {
    std::string message = error_of([&] { SafetensorsFile::open(path); });
    EXPECT_THAT(message, HasSubstr(path.string()));
    return message;
  }

  fs::path dir_;
};

// ---------------------------------------------------------------- round trips

TEST_F(SafetensorsTest, RoundTripKeepsDtypeShapeBytesAndMetadata) {
  const std::vector<float> f32 = {1.5f, -2.0f, 3.25f, 0.0f, 1e-3f, -7.0f};  // [2, 3]
  std::vector<uint16_t> f16, bf16;
  for (float v : {0.5f, -1.0f, 2.0f, 65504.0f}) f16.push_back(f32_to_f16(v));  // [4]
  for (float v : {3.0f, -0.25f, 1e30f}) bf16.push_back(f32_to_bf16(v));        // [3, 1]
  const float scalar = 42.0f;                                                  // []
  const fs::path path = dir_ / "round_trip.safetensors";
  write_safetensors(path,
                    {{"w_f32", DType::kF32, {2, 3}, f32.data(), f32.size() * 4},
                     {"w_f16", DType::kF16, {4}, f16.data(), f16.size() * 2},
                     {"w_bf16", DType::kBF16, {3, 1}, bf16.data(), bf16.size() * 2},
                     {"scalar", DType::kF32, {}, &scalar, 4},
                     {"empty", DType::kBF16, {0, 5}, nullptr, 0}},
                    {{"format", "pt"}, {"note", "written by the test"}});

  const SafetensorsFile file = SafetensorsFile::open(path);
  EXPECT_EQ(file.path(), path);
  EXPECT_THAT(
      file.metadata(),
      ElementsAre(std::pair<const std::string, std::string>("format", "pt"),
                  std::pair<const std::string, std::string>("note", "written by the test")));
  ASSERT_EQ(file.tensors().size(), 5u);

  const TensorInfo& a = file.tensors().at("w_f32");
  EXPECT_EQ(a.name, "w_f32");
  EXPECT_EQ(a.dtype, DType::kF32);
  EXPECT_THAT(a.shape, ElementsAre(2, 3));
  EXPECT_EQ(a.numel(), 6);
  EXPECT_EQ(a.nbytes, 24u);
  EXPECT_EQ(a.file, path.string());
  EXPECT_EQ(std::memcmp(a.data, f32.data(), 24), 0);

  const TensorInfo& h = file.tensors().at("w_f16");
  EXPECT_EQ(h.dtype, DType::kF16);
  EXPECT_THAT(h.shape, ElementsAre(4));
  ASSERT_EQ(h.nbytes, 8u);
  EXPECT_EQ(std::memcmp(h.data, f16.data(), 8), 0);
  EXPECT_EQ(load_f(h.data, DType::kF16, 3), 65504.0f);

  const TensorInfo& b = file.tensors().at("w_bf16");
  EXPECT_EQ(b.dtype, DType::kBF16);
  EXPECT_THAT(b.shape, ElementsAre(3, 1));
  ASSERT_EQ(b.nbytes, 6u);
  EXPECT_EQ(std::memcmp(b.data, bf16.data(), 6), 0);
  EXPECT_EQ(load_f(b.data, DType::kBF16, 1), -0.25f);

  const TensorInfo& s = file.tensors().at("scalar");
  EXPECT_TRUE(s.shape.empty());
  EXPECT_EQ(s.numel(), 1);
  ASSERT_EQ(s.nbytes, 4u);
  EXPECT_EQ(load_f(s.data, DType::kF32, 0), 42.0f);

  const TensorInfo& e = file.tensors().at("empty");
  EXPECT_THAT(e.shape, ElementsAre(0, 5));
  EXPECT_EQ(e.numel(), 0);
  EXPECT_EQ(e.nbytes, 0u);
}

TEST_F(SafetensorsTest, WriterPadsHeaderToEightBytesAndPacksDataInNameOrder) {
  const F32Tensor b = f32_tensor("b", 3, 10.0f), a = f32_tensor("a", 2, 0.0f);
  const fs::path path = dir_ / "layout.safetensors";
  write_safetensors(path, {b.to_write(), a.to_write()});

  const std::string bytes = read_bytes(path);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(uint8_t(bytes[i])) << (8 * i);
  EXPECT_EQ((8 + n) % 8, 0u);
  EXPECT_EQ(bytes.size(), 8 + n + 5 * 4);  // packed: no gap, no trailing bytes
  // "a" is first in the data buffer although it was passed second.
  float first;
  std::memcpy(&first, bytes.data() + 8 + n, 4);
  EXPECT_EQ(first, 0.0f);
  const SafetensorsFile file = SafetensorsFile::open(path);
  EXPECT_EQ(static_cast<const uint8_t*>(file.tensors().at("a").data) + 8,
            static_cast<const uint8_t*>(file.tensors().at("b").data));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(file.tensors().at("a").data) % 8, 0u);
}

TEST_F(SafetensorsTest, WriterRejectsByteCountThatDoesNotMatchShape) {
  const std::vector<float> values(3);
  const fs::path path = dir_ / "bad.safetensors";
  EXPECT_THAT(error_of([&] {
                write_safetensors(path, {{"w", DType::kF32, {2, 2}, values.data(), 12}});
              }),
              AllOf(HasSubstr(path.string()), HasSubstr("'w'"), HasSubstr("needs 16")));
}

TEST_F(SafetensorsTest, ReaderAcceptsUnpaddedHeaderAndZeroSizeTensorBesideAnother) {
  // The Python library writes these too: no padding, a zero-size tensor sharing offset 0.
  const fs::path path = dir_ / "unpadded.safetensors";
  write_raw(path,
            R"({"z":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},)"
            R"("x":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})",
            4);
  const SafetensorsFile file = SafetensorsFile::open(path);
  EXPECT_EQ(file.tensors().at("z").nbytes, 0u);
  EXPECT_EQ(file.tensors().at("x").nbytes, 4u);
  EXPECT_TRUE(file.metadata().empty());
}

// ---------------------------------------------------------------- checkpoint directories

TEST_F(SafetensorsTest, ShardedCheckpointFollowsIndex) {
  const F32Tensor e = f32_tensor("model.embed", 4, 0.0f), n = f32_tensor("model.norm", 2, 5.0f),
                  h = f32_tensor("lm_head", 6, 9.0f), x = f32_tensor("unlisted", 1, 0.0f);
  write_safetensors(dir_ / "model-00001-of-00002.safetensors", {e.to_write(), n.to_write()});
  write_safetensors(dir_ / "model-00002-of-00002.safetensors", {h.to_write(), x.to_write()});
  write_index(dir_, R"({"model.embed": "model-00001-of-00002.safetensors",
                        "model.norm": "model-00001-of-00002.safetensors",
                        "lm_head": "model-00002-of-00002.safetensors"})");

  const Checkpoint ckpt = Checkpoint::open(dir_);
  EXPECT_EQ(ckpt.dir(), dir_);
  EXPECT_THAT(ckpt.names(), ElementsAre("lm_head", "model.embed", "model.norm"));
  EXPECT_EQ(ckpt.files().size(), 2u);
  EXPECT_EQ(ckpt.total_bytes(), (4 + 2 + 6) * 4u);
  EXPECT_TRUE(ckpt.contains("model.norm"));
  // The index is authoritative: a shard's tensor it does not list is not in the checkpoint.
  EXPECT_FALSE(ckpt.contains("unlisted"));
  EXPECT_EQ(ckpt.find("unlisted"), nullptr);
  const TensorInfo& head = ckpt.get("lm_head");
  EXPECT_THAT(head.file, HasSubstr("model-00002-of-00002.safetensors"));
  EXPECT_EQ(load_f(head.data, DType::kF32, 5), 14.0f);
  EXPECT_EQ(load_f(ckpt.get("model.norm").data, DType::kF32, 1), 6.0f);
}

TEST_F(SafetensorsTest, CheckpointStaysValidAfterMove) {
  const F32Tensor w = f32_tensor("w", 3, 1.0f);
  write_safetensors(dir_ / "model.safetensors", {w.to_write()});
  Checkpoint first = Checkpoint::open(dir_);
  const void* data = first.get("w").data;
  const Checkpoint moved = std::move(first);
  EXPECT_EQ(moved.get("w").data, data);
  EXPECT_EQ(load_f(moved.get("w").data, DType::kF32, 2), 3.0f);
}

TEST_F(SafetensorsTest, SeveralShardsWithoutIndexAreMerged) {
  const F32Tensor a = f32_tensor("a", 2, 0.0f), b = f32_tensor("b", 3, 0.0f),
                  c = f32_tensor("c", 1, 7.0f);
  write_safetensors(dir_ / "part-1.safetensors", {a.to_write(), b.to_write()});
  write_safetensors(dir_ / "part-2.safetensors", {c.to_write()});
  write_bytes(dir_ / "config.json", "{}");  // other files in the directory are ignored

  const Checkpoint ckpt = Checkpoint::open(dir_);
  EXPECT_THAT(ckpt.names(), ElementsAre("a", "b", "c"));
  EXPECT_EQ(ckpt.total_bytes(), 24u);
  EXPECT_THAT(ckpt.get("c").file, HasSubstr("part-2.safetensors"));
}

TEST_F(SafetensorsTest, ModelSafetensorsIsPreferredOverOtherFiles) {
  const F32Tensor a = f32_tensor("a", 2, 0.0f), stale = f32_tensor("stale", 1, 0.0f);
  write_safetensors(dir_ / "model.safetensors", {a.to_write()});
  write_safetensors(dir_ / "other.safetensors", {stale.to_write()});
  EXPECT_THAT(Checkpoint::open(dir_).names(), ElementsAre("a"));
}

TEST_F(SafetensorsTest, TensorInTwoShardsWithoutIndexIsAnError) {
  const F32Tensor a = f32_tensor("dup", 2, 0.0f);
  write_safetensors(dir_ / "x.safetensors", {a.to_write()});
  write_safetensors(dir_ / "y.safetensors", {a.to_write()});
  EXPECT_THAT(error_of([&] { Checkpoint::open(dir_); }),
              AllOf(HasSubstr("'dup'"), HasSubstr("x.safetensors"), HasSubstr("y.safetensors")));
}

TEST_F(SafetensorsTest, DirectoryWithoutSafetensorsIsAnErrorNamingIt) {
  write_bytes(dir_ / "config.json", "{}");
  EXPECT_THAT(error_of([&] { Checkpoint::open(dir_); }),
              AllOf(HasSubstr(dir_.string()), HasSubstr("no model.safetensors")));
  EXPECT_THAT(error_of([&] { Checkpoint::open(dir_ / "absent"); }),
              AllOf(HasSubstr((dir_ / "absent").string()), HasSubstr("not a directory")));
}

TEST_F(SafetensorsTest, GetOfAbsentTensorNamesDirAndTensor) {
  const F32Tensor a = f32_tensor("a", 1, 0.0f);
  write_safetensors(dir_ / "model.safetensors", {a.to_write()});
  const Checkpoint ckpt = Checkpoint::open(dir_);
  EXPECT_EQ(ckpt.find("missing"), nullptr);
  EXPECT_EQ(error_of([&] { ckpt.get("missing"); }), dir_.string() + ": tensor 'missing' not found");
}

TEST_F(SafetensorsTest, IndexReferencingMissingShardNamesIndexAndShard) {
  const F32Tensor a = f32_tensor("a", 1, 0.0f);
  write_safetensors(dir_ / "model-00001-of-00002.safetensors", {a.to_write()});
  write_index(dir_, R"({"a": "model-00001-of-00002.safetensors",
                        "b": "model-00002-of-00002.safetensors"})");
  EXPECT_THAT(error_of([&] { Checkpoint::open(dir_); }),
              AllOf(HasSubstr("model.safetensors.index.json"), HasSubstr("'b'"),
                    HasSubstr("model-00002-of-00002.safetensors"), HasSubstr("does not exist")));
}

TEST_F(SafetensorsTest, IndexedTensorMissingFromItsShardIsAnError) {
  const F32Tensor a = f32_tensor("a", 1, 0.0f), b = f32_tensor("b", 1, 0.0f);
  write_safetensors(dir_ / "s1.safetensors", {a.to_write()});
  write_safetensors(dir_ / "s2.safetensors", {b.to_write()});
  write_index(dir_, R"({"a": "s1.safetensors", "b": "s1.safetensors"})");  // b is in s2
  EXPECT_THAT(error_of([&] { Checkpoint::open(dir_); }),
              AllOf(HasSubstr("model.safetensors.index.json"), HasSubstr("'b'"),
                    HasSubstr("s1.safetensors"), HasSubstr("does not contain")));
}

TEST_F(SafetensorsTest, IndexThatIsNotJsonOrHasNoWeightMapIsAnError) {
  const fs::path index = dir_ / "model.safetensors.index.json";
  write_bytes(index, "{\"weight_map\": {");
  EXPECT_THAT(error_of([&] { Checkpoint::open(dir_); }),
              AllOf(HasSubstr(index.string()), HasSubstr("not valid JSON")));
  write_bytes(index, R"({"metadata": {"total_size": 4}})");
  EXPECT_THAT(error_of([&] { Checkpoint::open(dir_); }),
              AllOf(HasSubstr(index.string()), HasSubstr("missing 'weight_map'")));
  write_bytes(index, R"({"weight_map": ["a"]})");
  EXPECT_THAT(error_of([&] { Checkpoint::open(dir_); }),
              AllOf(HasSubstr(index.string()), HasSubstr("'weight_map' must be an object")));
  write_bytes(index, R"({"weight_map": {"a": 3}})");
  EXPECT_THAT(error_of([&] { Checkpoint::open(dir_); }),
              AllOf(HasSubstr(index.string()), HasSubstr("'a'")));
}

TEST_F(SafetensorsTest, CorruptShardErrorNamesTheShard) {
  write_bytes(dir_ / "model.safetensors", "abc");
  EXPECT_THAT(error_of([&] { Checkpoint::open(dir_); }),
              HasSubstr((dir_ / "model.safetensors").string()));
}

// ---------------------------------------------------------------- corrupt files

TEST_F(SafetensorsTest, FileShorterThanHeaderLength) {
  const fs::path path = dir_ / "short.safetensors";
  write_bytes(path, std::string("\x02\x00\x00", 3));
  EXPECT_THAT(open_error(path), HasSubstr("too short"));
  write_bytes(path, "");
  EXPECT_THAT(open_error(path), HasSubstr("too short"));
}

TEST_F(SafetensorsTest, HeaderLengthLargerThanFile) {
  const fs::path path = dir_ / "long_header.safetensors";
  const std::string header = R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  write_raw(path, header, 4);
  std::string bytes = read_bytes(path);
  bytes.resize(8 + header.size() / 2);  // truncated in the middle of the header
  write_bytes(path, bytes);
  EXPECT_THAT(open_error(path), HasSubstr("runs past the end"));
}

TEST_F(SafetensorsTest, AbsurdHeaderLength) {
  const fs::path path = dir_ / "absurd.safetensors";
  std::string bytes(8, '\0');
  const uint64_t n = 200'000'000;
  for (int i = 0; i < 8; ++i) bytes[i] = char(uint8_t(n >> (8 * i)));
  write_bytes(path, bytes + "{}");
  EXPECT_THAT(open_error(path), AllOf(HasSubstr("200000000"), HasSubstr("limit")));
}

TEST_F(SafetensorsTest, HeaderThatIsNotJson) {
  const fs::path path = dir_ / "bad_json.safetensors";
  write_raw(path, R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]})", 4);  // missing }
  EXPECT_THAT(open_error(path), HasSubstr("not valid JSON"));
  // NUL padding is not whitespace (the Python library rejects it too).
  write_raw(path,
            std::string(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})") +
                std::string(3, '\0'),
            4);
  EXPECT_THAT(open_error(path), HasSubstr("not valid JSON"));
}

TEST_F(SafetensorsTest, HeaderThatIsNotAnObject) {
  const fs::path path = dir_ / "array.safetensors";
  write_raw(path, "[1, 2]", 0);
  EXPECT_THAT(open_error(path), HasSubstr("must be a JSON object"));
}

TEST_F(SafetensorsTest, EntryThatIsNotAnObject) {
  const fs::path path = dir_ / "entry.safetensors";
  write_raw(path, R"({"w": [0, 4]})", 4);
  EXPECT_THAT(open_error(path), AllOf(HasSubstr("'w'"), HasSubstr("must be a JSON object")));
}

TEST_F(SafetensorsTest, MissingOrWrongTypedFields) {
  const fs::path path = dir_ / "fields.safetensors";
  struct Case {
    std::string entry;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {R"({"shape":[1],"data_offsets":[0,4]})", "missing 'dtype'"},
      {R"({"dtype":"F32","data_offsets":[0,4]})", "missing 'shape'"},
      {R"({"dtype":"F32","shape":[1]})", "missing 'data_offsets'"},
      {R"({"dtype":7,"shape":[1],"data_offsets":[0,4]})", "'dtype' must be a string"},
      {R"({"dtype":"F32","shape":"1","data_offsets":[0,4]})", "'shape' must be an array"},
      {R"({"dtype":"F32","shape":[1],"data_offsets":[0]})", "'data_offsets' must be [begin, end]"},
      {R"({"dtype":"F32","shape":[1],"data_offsets":[0,"4"]})", "'data_offsets' must be"},
      {R"({"dtype":"F32","shape":[1],"data_offsets":[-4,4]})", "'data_offsets' must be"},
  };
  for (const Case& c : cases) {
    write_raw(path, R"({"w":)" + c.entry + "}", 4);
    EXPECT_THAT(open_error(path), AllOf(HasSubstr("'w'"), HasSubstr(c.expected))) << c.entry;
  }
}

TEST_F(SafetensorsTest, NegativeDim) {
  const fs::path path = dir_ / "neg.safetensors";
  write_raw(path, R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4);
  EXPECT_THAT(open_error(path), AllOf(HasSubstr("'w'"), HasSubstr("negative dim -1")));
}

TEST_F(SafetensorsTest, NonIntegerDim) {
  const fs::path path = dir_ / "float_dim.safetensors";
  write_raw(path, R"({"w":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}})", 4);
  EXPECT_THAT(open_error(path), AllOf(HasSubstr("'w'"), HasSubstr("non-integer dim")));
  write_raw(path, R"({"w":{"dtype":"F32","shape":[true],"data_offsets":[0,4]}})", 4);
  EXPECT_THAT(open_error(path), AllOf(HasSubstr("'w'"), HasSubstr("non-integer dim")));
}

TEST_F(SafetensorsTest, BeginAfterEnd) {
  const fs::path path = dir_ / "reversed.safetensors";
  write_raw(path, R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", 4);
  EXPECT_THAT(open_error(path), AllOf(HasSubstr("'w'"), HasSubstr("begin 4 is after end 0")));
}

TEST_F(SafetensorsTest, OffsetPastEndOfData) {
  const fs::path path = dir_ / "past_end.safetensors";
  write_raw(path, R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4);
  EXPECT_THAT(
      open_error(path),
      AllOf(HasSubstr("'w'"), HasSubstr("end 8 is past the end of the 4-byte data buffer")));
}

TEST_F(SafetensorsTest, OverlappingSpans) {
  const fs::path path = dir_ / "overlap.safetensors";
  write_raw(path,
            R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
            R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
            12);
  EXPECT_THAT(open_error(path), AllOf(HasSubstr("'b'"), HasSubstr("overlap tensor 'a'")));
}

TEST_F(SafetensorsTest, GapBetweenSpansIsRejectedLikeThePythonLibrary) {
  const fs::path path = dir_ / "gap.safetensors";
  write_raw(path,
            R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
            R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
            12);
  EXPECT_THAT(open_error(path), AllOf(HasSubstr("'b'"), HasSubstr("gap")));
  write_raw(path, R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8);
  EXPECT_THAT(open_error(path), AllOf(HasSubstr("'a'"), HasSubstr("gap")));
}

TEST_F(SafetensorsTest, TrailingBytesAfterLastTensor) {
  const fs::path path = dir_ / "trailing.safetensors";
  write_raw(path, R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 8);
  EXPECT_THAT(open_error(path), AllOf(HasSubstr("8 bytes"), HasSubstr("cover only 4")));
}

TEST_F(SafetensorsTest, ByteSpanThatDoesNotMatchShape) {
  const fs::path path = dir_ / "span.safetensors";
  write_raw(path, R"({"w":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,8]}})", 8);
  EXPECT_THAT(open_error(path), AllOf(HasSubstr("'w'"), HasSubstr("span 8 bytes"),
                                      HasSubstr("BF16 [2, 3] needs 12")));
}

TEST_F(SafetensorsTest, ShapeWhoseByteCountOverflows) {
  const fs::path path = dir_ / "overflow.safetensors";
  write_raw(path, R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})",
            4);
  EXPECT_THAT(open_error(path), AllOf(HasSubstr("'w'"), HasSubstr("overflows")));
}

TEST_F(SafetensorsTest, KnownButUnsupportedDtype) {
  const fs::path path = dir_ / "fp8.safetensors";
  write_raw(path, R"({"w":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}})", 4);
  EXPECT_THAT(open_error(path), AllOf(HasSubstr("'w'"), HasSubstr("unsupported dtype 'F8_E4M3'"),
                                      HasSubstr("F32, F16, BF16")));
}

TEST_F(SafetensorsTest, UnknownDtype) {
  const fs::path path = dir_ / "xyz.safetensors";
  write_raw(path, R"({"w":{"dtype":"XYZ","shape":[4],"data_offsets":[0,4]}})", 4);
  EXPECT_THAT(open_error(path), AllOf(HasSubstr("'w'"), HasSubstr("unknown dtype 'XYZ'"),
                                      HasSubstr("F32, F16, BF16")));
}

TEST_F(SafetensorsTest, MetadataMustMapStringsToStrings) {
  const fs::path path = dir_ / "metadata.safetensors";
  write_raw(path,
            R"({"__metadata__":{"format":"pt","step":1},)"
            R"("w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
            4);
  EXPECT_THAT(open_error(path), AllOf(HasSubstr("__metadata__"), HasSubstr("'step'")));
  write_raw(path, R"({"__metadata__":["pt"]})", 0);
  EXPECT_THAT(open_error(path), HasSubstr("'__metadata__' must be an object"));
}

TEST_F(SafetensorsTest, ErrorForFileThatDoesNotExistNamesIt) {
  EXPECT_THAT(open_error(dir_ / "absent.safetensors"), HasSubstr("cannot open"));
}

}  // namespace
}  // namespace sy
