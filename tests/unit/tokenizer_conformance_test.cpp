// Conformance with Hugging Face `tokenizers` on real tokenizers (Mixtral, Mistral v3 Metaspace,
// Qwen, o200k/GPT-OSS), on variants of them exercising the other components, and on the fixture
// models' tokenizers. Goldens are written by
// tools/make_tokenizer_data.py into tests/data/tokenizers/.cache (or $SY_TOKENIZER_CACHE); ctest
// runs tests/data/tokenizers/setup.sh first. Missing data is a failure, never a skip.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/tokenizer/detokenizer.h"
#include "engine/tokenizer/tokenizer.h"

namespace sy {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

fs::path cache_dir() {
  if (const char* env = std::getenv("SY_TOKENIZER_CACHE")) return env;
  return fs::path(SY_TEST_DATA_DIR) / "tokenizers" / ".cache";
}

std::vector<json> read_jsonl(const fs::path& file) {
  std::ifstream in(file);
  std::vector<json> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) lines.push_back(json::parse(line));
  }
  return lines;
}

std::string ids_str(const std::vector<int32_t>& ids) { return json(ids).dump(); }

// Streams `ids` one at a time and returns the concatenated deltas; checks each delta is whole
// characters (valid UTF-8).
std::string stream_decode(const std::shared_ptr<const Tokenizer>& tok, const std::vector<int32_t>& ids, bool skip) {
  IncrementalDetokenizer detok(tok, skip);
  std::string out;
  for (int32_t id : ids) out += detok.push(id).text;
  out += detok.finish();
  return out;
}

bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    const size_t len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += len;
  }
  return true;
}

// Cuts `s` at a character boundary at or before byte `pos`.
size_t char_boundary(const std::string& s, size_t pos) {
  while (pos > 0 && pos < s.size() && (static_cast<unsigned char>(s[pos]) & 0xC0) == 0x80) --pos;
  return pos;
}

constexpr int kMaxReported = 8;

void check_tokenizer_dir(const fs::path& dir) {
  SCOPED_TRACE(dir.string());
  ASSERT_TRUE(fs::exists(dir / "tokenizer.json"))
      << dir << " is missing: run tests/data/tokenizers/setup.sh (ctest runs it as a fixture)";
  const auto goldens = read_jsonl(dir / "goldens.jsonl");
  const auto decode_goldens = read_jsonl(dir / "decode_goldens.jsonl");
  ASSERT_GT(goldens.size(), 10000u);
  ASSERT_GT(decode_goldens.size(), 100u);
  auto tok = Tokenizer::from_file(dir / "tokenizer.json");

  int failures = 0;
  auto report = [&](const std::string& what) {
    if (++failures <= kMaxReported) ADD_FAILURE() << what;
  };
  int stop_checks = 0;
  for (size_t n = 0; n < goldens.size(); ++n) {
    const json& g = goldens[n];
    const std::string text = g["text"];
    const auto want = g["ids"].get<std::vector<int32_t>>();
    const auto got = tok->encode(text, true);
    if (got != want) report("line " + std::to_string(n) + " encode " + json(text).dump() + "\n  want " + ids_str(want) + "\n  got  " + ids_str(got));
    const auto got_no_special = tok->encode(text, false);
    if (got_no_special != g["ids_no_special"].get<std::vector<int32_t>>()) {
      report("line " + std::to_string(n) + " encode(add_special_tokens=false) " + json(text).dump() + "\n  want " +
             g["ids_no_special"].dump() + "\n  got  " + ids_str(got_no_special));
    }
    const auto got_plain = tok->encode_plain(text, true);
    if (got_plain != g["ids_plain"].get<std::vector<int32_t>>()) {
      report("line " + std::to_string(n) + " encode_plain " + json(text).dump() + "\n  want " + g["ids_plain"].dump() +
             "\n  got  " + ids_str(got_plain));
    }
    for (bool skip : {false, true}) {
      const std::string want_text = g[skip ? "decoded_skip" : "decoded"];
      const std::string decoded = tok->decode(want, skip);
      if (decoded != want_text) report("line " + std::to_string(n) + " decode skip=" + std::to_string(skip) + " of " + ids_str(want) + "\n  want " + json(want_text).dump() + "\n  got  " + json(decoded).dump());
      const std::string streamed = stream_decode(tok, want, skip);
      if (streamed != want_text) report("line " + std::to_string(n) + " streaming decode skip=" + std::to_string(skip) + " of " + ids_str(want) + "\n  want " + json(want_text).dump() + "\n  got  " + json(streamed).dump());
    }
    // A stop string from the middle of the text, usually spanning token boundaries.
    const std::string full = g["decoded_skip"];
    if (full.size() >= 8 && stop_checks < 2000) {
      ++stop_checks;
      const size_t begin = char_boundary(full, full.size() / 2);
      const size_t end = char_boundary(full, std::min(full.size(), begin + 5));
      const std::string stop = full.substr(begin, end - begin);
      if (stop.empty()) continue;
      IncrementalDetokenizer detok(tok, true, {stop, "\x01never"});
      std::string out;
      bool stopped = false;
      for (int32_t id : want) {
        auto d = detok.push(id);
        if (!valid_utf8(d.text)) report("line " + std::to_string(n) + " delta is not valid UTF-8");
        out += d.text;
        if (d.stopped) {
          stopped = true;
          if (d.matched_stop != stop) report("line " + std::to_string(n) + " matched_stop " + json(d.matched_stop).dump());
        }
      }
      if (!stopped) out += detok.finish();
      const std::string expected = full.substr(0, full.find(stop));
      // A stop inside text still held at the end (e.g. an open byte-fallback run) is applied by
      // finish(), which cuts there without a `stopped` delta.
      if (out != expected) {
        report("line " + std::to_string(n) + " stop " + json(stop).dump() + " stopped=" + std::to_string(stopped) +
               "\n  want " + json(expected).dump() + "\n  got  " + json(out).dump());
      }
    }
  }
  for (size_t n = 0; n < decode_goldens.size(); ++n) {
    const json& g = decode_goldens[n];
    const auto ids = g["ids"].get<std::vector<int32_t>>();
    for (bool skip : {false, true}) {
      const std::string want_text = g[skip ? "decoded_skip" : "decoded"];
      const std::string decoded = tok->decode(ids, skip);
      if (decoded != want_text) report("decode line " + std::to_string(n) + " skip=" + std::to_string(skip) + " of " + ids_str(ids) + "\n  want " + json(want_text).dump() + "\n  got  " + json(decoded).dump());
      const std::string streamed = stream_decode(tok, ids, skip);
      if (streamed != want_text) report("decode line " + std::to_string(n) + " streaming skip=" + std::to_string(skip) + " of " + ids_str(ids) + "\n  want " + json(want_text).dump() + "\n  got  " + json(streamed).dump());
    }
  }
  EXPECT_EQ(failures, 0) << failures << " mismatches in " << dir;
}

TEST(TokenizerConformance, Mixtral) { check_tokenizer_dir(cache_dir() / "mixtral"); }
TEST(TokenizerConformance, MistralV3Metaspace) { check_tokenizer_dir(cache_dir() / "mistral-v3"); }
TEST(TokenizerConformance, Qwen) { check_tokenizer_dir(cache_dir() / "qwen"); }
TEST(TokenizerConformance, O200kHarmony) { check_tokenizer_dir(cache_dir() / "o200k-harmony"); }

// Real vocabularies with the other pipeline components (see tools/make_tokenizer_data.py).
TEST(TokenizerConformance, VariantByteLevel) { check_tokenizer_dir(cache_dir() / "variant-byte-level"); }
TEST(TokenizerConformance, VariantMetaspace) { check_tokenizer_dir(cache_dir() / "variant-metaspace"); }
TEST(TokenizerConformance, VariantTrainedAffixes) { check_tokenizer_dir(cache_dir() / "variant-trained"); }

TEST(TokenizerConformance, FixtureModels) {
  int found = 0;
  if (fs::exists(cache_dir())) {
    for (const auto& entry : fs::directory_iterator(cache_dir())) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("fixture-", 0) == 0 && name.find(".partial") == std::string::npos) {
        ++found;
        check_tokenizer_dir(entry.path());
      }
    }
  }
  EXPECT_GE(found, 2) << "expected goldens for the fixture models' tokenizers in " << cache_dir();
}

}  // namespace
}  // namespace sy
