// Tokenizer on small hand-built tokenizer.json files whose ids can be worked out by hand:
// a byte-level BPE (Qwen/GPT-2 style) and a SentencePiece-style BPE with byte fallback
// (Mixtral style). The real tokenizers are checked against HF in tokenizer_conformance_test.cpp.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/tokenizer/detokenizer.h"
#include "engine/tokenizer/regex.h"
#include "engine/tokenizer/tokenizer.h"

namespace sy {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// GPT-2's byte -> character table, written out independently of the engine's.
std::string byte_char(int b) {
  static std::vector<std::string> table = [] {
    std::vector<std::string> t(256);
    int extra = 0x100;
    for (int i = 0; i < 256; ++i) {
      const bool printable = (i >= '!' && i <= '~') || (i >= 0xA1 && i <= 0xAC) || (i >= 0xAE && i <= 0xFF);
      const int cp = printable ? i : extra++;
      std::string s;
      if (cp < 0x80) {
        s.push_back(static_cast<char>(cp));
      } else {
        s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      }
      t[i] = s;
    }
    return t;
  }();
  return table[b];
}

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("sy_tokenizer_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::filesystem::path write(const std::string& name, const json& j) const {
    const auto file = path_ / name;
    std::ofstream(file) << j.dump();
    return file;
  }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

// Byte-level BPE: ids 0..255 are the bytes; merges build "hello", " world" and "ll".
json byte_level_json() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_char(b)] = b;
  const std::vector<std::pair<std::string, std::string>> merges = {
      {"l", "l"}, {"h", "e"}, {"he", "ll"}, {"hell", "o"}, {"Ġ", "w"}, {"o", "r"}, {"Ġw", "or"}, {"Ġwor", "l"}, {"Ġworl", "d"}};
  json merge_list = json::array();
  int next_id = 256;
  for (const auto& [a, b] : merges) {
    merge_list.push_back(json::array({a, b}));
    vocab[a + b] = next_id++;  // ll=256 he=257 hell=258 hello=259 Ġw=260 or=261 Ġwor=262 Ġworl=263 Ġworld=264
  }
  return json{
      {"version", "1.0"},
      {"added_tokens", json::array({
           {{"id", 265}, {"content", "<|im_start|>"}, {"special", true}, {"normalized", false}},
           {{"id", 266}, {"content", "<|im_end|>"}, {"special", true}, {"normalized", false}},
           {{"id", 267}, {"content", "<think>"}, {"special", false}, {"normalized", false}},
       })},
      {"normalizer", {{"type", "NFC"}}},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         json::array({{{"type", "Split"},
                       {"pattern", {{"Regex", R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}}},
                       {"behavior", "Isolated"},
                       {"invert", false}},
                      {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}})}}},
      {"post_processor", {{"type", "ByteLevel"}, {"trim_offsets", false}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merge_list}, {"ignore_merges", false}}},
  };
}

// SentencePiece-style BPE (legacy Llama/Mixtral layout): Prepend+Replace normalizer, byte
// fallback, <s> added by the template, Replace/ByteFallback/Fuse/Strip decoder.
json metaspace_json() {
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    vocab[name] = 3 + b;
  }
  int next_id = 259;
  for (const char* piece : {"\u2581", "H", "e", "l", "o", "w", "r", "d"}) vocab[piece] = next_id++;  // 259..266
  json merges = json::array();
  for (auto [a, b] : std::vector<std::pair<std::string, std::string>>{
           {"l", "l"}, {"e", "ll"}, {"ell", "o"}, {"H", "ello"}, {"\u2581", "Hello"}, {"\u2581", "w"}}) {
    merges.push_back(a + " " + b);  // the older "a b" string form
    vocab[a + b] = next_id++;       // ll=267 ell=268 ello=269 Hello=270 ▁Hello=271 ▁w=272
  }
  return json{
      {"added_tokens", json::array({{{"id", 0}, {"content", "<unk>"}, {"special", true}},
                                    {{"id", 1}, {"content", "<s>"}, {"special", true}},
                                    {{"id", 2}, {"content", "</s>"}, {"special", true}}})},
      {"normalizer", {{"type", "Sequence"},
                      {"normalizers", json::array({{{"type", "Prepend"}, {"prepend", "\u2581"}},
                                                   {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}}})}}},
      {"pre_tokenizer", nullptr},
      {"post_processor", {{"type", "TemplateProcessing"},
                          {"single", json::array({{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                                                  {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
                          {"pair", json::array()},
                          {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}}},
      {"decoder", {{"type", "Sequence"},
                   {"decoders", json::array({{{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}}, {"content", " "}},
                                             {{"type", "ByteFallback"}},
                                             {{"type", "Fuse"}},
                                             {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}})}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}, {"unk_token", "<unk>"},
                 {"fuse_unk", true}, {"byte_fallback", true}}},
  };
}

std::string stream(const std::shared_ptr<const Tokenizer>& tok, const std::vector<int32_t>& ids, bool skip,
                   std::vector<std::string>* deltas = nullptr) {
  IncrementalDetokenizer detok(tok, skip);
  std::string out;
  for (int32_t id : ids) {
    const auto d = detok.push(id);
    if (deltas) deltas->push_back(d.text);
    out += d.text;
  }
  out += detok.finish();
  return out;
}

TEST(TokenizerByteLevel, EncodesWithMergesAndAddedTokens) {
  TempDir dir;
  auto tok = Tokenizer::from_file(dir.write("tokenizer.json", byte_level_json()));
  EXPECT_EQ(tok->vocab_size(), 268);
  EXPECT_THAT(tok->encode("hello world"), ElementsAre(259, 264));
  // "hellos": no merge for "hello"+"s", so hello stays whole; "!" is byte 33.
  EXPECT_THAT(tok->encode("hellos!"), ElementsAre(259, 's', '!'));
  EXPECT_THAT(tok->encode("<|im_start|>hello<|im_end|>"), ElementsAre(265, 259, 266));
  // encode_plain does not recognise special tokens but still recognises normal added ones.
  const auto plain = tok->encode_plain("<|im_end|><think>");
  EXPECT_THAT(plain, ::testing::Not(::testing::Contains(266)));
  EXPECT_EQ(plain.back(), 267);
  EXPECT_EQ(tok->decode(plain), "<|im_end|><think>");
  EXPECT_EQ(tok->token_to_id("<|im_end|>"), 266);
  EXPECT_EQ(tok->id_to_token(264), "\u0120world");
  EXPECT_TRUE(tok->is_special(266));
  EXPECT_FALSE(tok->is_special(267));
  EXPECT_FALSE(tok->bos_id().has_value());
}

TEST(TokenizerByteLevel, DecodeAndStreamReproduceText) {
  TempDir dir;
  auto tok = Tokenizer::from_file(dir.write("tokenizer.json", byte_level_json()));
  // Already NFC (the normalizer would compose a combining accent and decode could not restore it).
  const std::string text = "<|im_start|>hello world ñ 😀👍🏽 é \n\n  12345<|im_end|>";
  const auto ids = tok->encode(text);
  EXPECT_EQ(tok->decode(ids), text);
  std::vector<std::string> deltas;
  EXPECT_EQ(stream(tok, ids, false, &deltas), text);
  for (const auto& d : deltas) {
    // Every delta is whole characters: it never ends in a lead or continuation of a split char.
    EXPECT_EQ(tok->decode(tok->encode(d, false)), d);
  }
  EXPECT_EQ(tok->decode(ids, true), "hello world ñ 😀👍🏽 é \n\n  12345");
  EXPECT_EQ(stream(tok, ids, true), tok->decode(ids, true));
  // A lone continuation byte decodes to U+FFFD, as Rust's from_utf8_lossy does.
  const std::vector<int32_t> broken = {'a', 0xF0, 0x9F, 'b', 0x80};
  EXPECT_EQ(tok->decode(broken), "a\uFFFDb\uFFFD");
  EXPECT_EQ(stream(tok, broken, false), tok->decode(broken));
}

TEST(TokenizerByteLevel, InvalidUtf8InputIsEncodedAsReplacementCharacters) {
  TempDir dir;
  auto tok = Tokenizer::from_file(dir.write("tokenizer.json", byte_level_json()));
  EXPECT_EQ(tok->encode("a\xff\xc3" "b"), tok->encode("a\uFFFD\uFFFDb"));
}

TEST(TokenizerByteLevel, ConcurrentEncodesAgree) {
  TempDir dir;
  auto tok = Tokenizer::from_file(dir.write("tokenizer.json", byte_level_json()));
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i) texts.push_back("hello world " + std::to_string(i * 7919) + " ñ😀 hellohello " + std::string(i % 13, ' '));
  std::vector<std::vector<int32_t>> expected;
  for (const auto& t : texts) expected.push_back(tok->encode(t));
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round) {
        for (size_t i = 0; i < texts.size(); ++i) {
          const size_t k = (i + static_cast<size_t>(t) * 37) % texts.size();
          if (tok->encode(texts[k]) != expected[k]) ++mismatches;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(TokenizerByteLevel, NfcNormalizesBeforeSplitting) {
  TempDir dir;
  auto tok = Tokenizer::from_file(dir.write("tokenizer.json", byte_level_json()));
  // e + combining acute composes to é (C3 A9) under NFC.
  EXPECT_THAT(tok->encode("e\u0301"), ElementsAre(0xC3, 0xA9));
}

TEST(TokenizerMetaspace, PrependReplaceByteFallbackAndTemplate) {
  TempDir dir;
  auto tok = Tokenizer::from_file(dir.write("tokenizer.json", metaspace_json()));
  // "▁Hello▁world": ▁Hello and ▁w merge, o r l d stay; byte fallback for 😀 (F0 9F 98 80).
  EXPECT_THAT(tok->encode("Hello world"), ElementsAre(1, 271, 272, 263, 265, 262, 266));
  EXPECT_THAT(tok->encode("Hello world", false), ElementsAre(271, 272, 263, 265, 262, 266));
  EXPECT_THAT(tok->encode("H😀", false), ElementsAre(259, 260, 3 + 0xF0, 3 + 0x9F, 3 + 0x98, 3 + 0x80));
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->bos_token(), "<s>");
  const auto ids = tok->encode("Hello 😀 world");
  EXPECT_EQ(tok->decode(ids, true), "Hello 😀 world");
  EXPECT_EQ(tok->decode(ids, false), "<s> Hello 😀 world");
  std::vector<std::string> deltas;
  EXPECT_EQ(stream(tok, ids, true, &deltas), "Hello 😀 world");
  // The four byte tokens of 😀 come out together (with the token that ends the run), never
  // half a character.
  EXPECT_THAT(deltas, ::testing::Contains(HasSubstr("😀")));
  for (const auto& d : deltas) EXPECT_EQ(d.find("\xF0") == std::string::npos, d.find("😀") == std::string::npos) << d;
  EXPECT_EQ(stream(tok, ids, false), "<s> Hello 😀 world");
}

TEST(TokenizerMetaspace, InvalidByteRunIsOneReplacementPerByte) {
  TempDir dir;
  auto tok = Tokenizer::from_file(dir.write("tokenizer.json", metaspace_json()));
  // é (C3 A9) then a stray FF: HF replaces the whole run, byte by byte.
  const std::vector<int32_t> ids = {271, 3 + 0xC3, 3 + 0xA9, 3 + 0xFF, 272};
  EXPECT_EQ(tok->decode(ids), "Hello\uFFFD\uFFFD\uFFFD w");
  EXPECT_EQ(stream(tok, ids, false), tok->decode(ids));
}

TEST(Detokenizer, StopStringAcrossTokens) {
  TempDir dir;
  auto tok = Tokenizer::from_file(dir.write("tokenizer.json", byte_level_json()));
  IncrementalDetokenizer detok(tok, true, {"lo wor", "zzz"});
  std::string out;
  bool stopped = false;
  std::string matched;
  for (int32_t id : tok->encode("hel", false)) out += detok.push(id).text;
  for (int32_t id : tok->encode("lo world", false)) {
    auto d = detok.push(id);
    out += d.text;
    if (d.stopped) {
      stopped = true;
      matched = d.matched_stop;
    }
  }
  EXPECT_TRUE(stopped);
  EXPECT_EQ(matched, "lo wor");
  EXPECT_EQ(out, "hel");
  EXPECT_TRUE(detok.push('x').text.empty());
  EXPECT_EQ(detok.finish(), "");
}

TEST(Detokenizer, HeldPrefixIsReleasedWhenItDoesNotMatch) {
  TempDir dir;
  auto tok = Tokenizer::from_file(dir.write("tokenizer.json", byte_level_json()));
  IncrementalDetokenizer detok(tok, false, {"END"});
  EXPECT_EQ(detok.push('a').text, "a");
  EXPECT_EQ(detok.push('E').text, "");   // could start "END"
  EXPECT_EQ(detok.push('N').text, "");
  EXPECT_EQ(detok.push('x').text, "ENx");
  EXPECT_EQ(detok.push('E').text, "");
  EXPECT_EQ(detok.finish(), "E");
}

// Matches of `pattern` in `text` as strings.
std::vector<std::string> matches(const std::string& pattern, const std::string& text) {
  tok::Regex regex(pattern);
  std::vector<std::pair<size_t, size_t>> ranges;
  regex.find_all(text, ranges);
  std::vector<std::string> out;
  for (const auto& [b, e] : ranges) out.push_back(text.substr(b, e - b));
  return out;
}

TEST(TokenizerRegex, MatchesOnigurumaClasses) {
  // U+180E is White_Space in PCRE2's \s but not in Oniguruma's.
  EXPECT_THAT(matches(R"(\s+)", "a \u180e\u0085b"), ElementsAre(" ", "\u0085"));
  EXPECT_THAT(matches(R"(\S+)", "\u180e x"), ElementsAre("\u180e", "x"));
  // U+1C89 (Unicode 16 Cyrillic letter) is a letter for HF even though PCRE2 10.42 predates it.
  EXPECT_THAT(matches(R"(\p{L}+)", "1\u1c89\u1c8a2"), ElementsAre("\u1c89\u1c8a"));
  EXPECT_THAT(matches(R"([^\s\p{L}\p{N}]+)", "x\u1c89!?"), ElementsAre("!?"));
  // \d: decimal digits of every script, not other numbers.
  EXPECT_THAT(matches(R"(\d+)", "7\u00b2\u0663"), ElementsAre("7", "\u0663"));
  // Quoted literals and classes are left alone.
  EXPECT_THAT(matches(R"(\Q\s[\E)", "a\\s[b"), ElementsAre("\\s["));
  EXPECT_EQ(tok::translate_oniguruma_pattern(R"([\]\s])"), std::string("[\\]") + "\\x{9}-\\x{d}\\x{20}\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}-\\x{2029}\\x{202f}\\x{205f}\\x{3000}]");
}

TEST(TokenizerErrors, NameTheJsonPath) {
  TempDir dir;
  json bad_merge = byte_level_json();
  bad_merge["model"]["merges"][1] = 7;
  try {
    Tokenizer::from_file(dir.write("tokenizer.json", bad_merge));
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("tokenizer.json: model.merges[1]: expected a string or a pair"));
  }
  json unsupported = byte_level_json();
  unsupported["normalizer"] = {{"type", "Precompiled"}, {"precompiled_charsmap", "AAAA"}};
  try {
    Tokenizer::from_file(dir.write("tokenizer.json", unsupported));
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("normalizer.type: unsupported normalizer type \"Precompiled\""));
  }
  json nested = byte_level_json();
  nested["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Sideways";
  try {
    Tokenizer::from_file(dir.write("tokenizer.json", nested));
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("pre_tokenizer.pretokenizers[0].behavior: unknown split behavior"));
  }
  EXPECT_THROW(Tokenizer::from_model_dir(dir.write("x", json::object()).parent_path() / "missing"), std::runtime_error);
}

TEST(TokenizerConfig, BosEosFromTokenizerConfig) {
  TempDir dir;
  json j = byte_level_json();
  dir.write("tokenizer_config.json", {{"bos_token", "<|im_start|>"}, {"eos_token", {{"content", "<|im_end|>"}}},
                                      {"add_bos_token", true}});
  auto tok = Tokenizer::from_file(dir.write("tokenizer.json", j));
  EXPECT_EQ(tok->bos_id(), 265);
  EXPECT_EQ(tok->eos_id(), 266);
  EXPECT_EQ(tok->eos_token(), "<|im_end|>");
  EXPECT_THAT(tok->encode("hello"), ElementsAre(265, 259));
  EXPECT_THAT(tok->encode("hello", false), ElementsAre(259));
}

}  // namespace
}  // namespace sy
