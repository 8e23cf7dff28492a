// Encode throughput of sy::Tokenizer, single thread, on a corpus of documents (the production
// symbol, not a copy). tools/bench_tokenizer.py builds the corpus, runs this and HF `tokenizers`
// on the same documents and prints the ratio.
//
//   bench_tokenizer --tokenizer DIR/tokenizer.json --corpus FILE [--seconds S]
// FILE holds documents separated by the byte 0x1E. Prints one JSON line:
//   {"bytes": ..., "docs": ..., "tokens": ..., "ids_fnv1a": ..., "seconds": ..., "mb_per_s": ...}
// ids_fnv1a hashes the ids of one pass (FNV-1a 64 over each id as a little-endian uint32), so
// the driver can check they equal HF's.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/tokenizer/tokenizer.h"

namespace {

std::vector<std::string> read_documents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string all = buffer.str();
  std::vector<std::string> docs;
  size_t start = 0;
  while (start <= all.size()) {
    size_t end = all.find('\x1e', start);
    if (end == std::string::npos) end = all.size();
    if (end > start) docs.push_back(all.substr(start, end - start));
    start = end + 1;
  }
  return docs;
}

}  // namespace

int main(int argc, char** argv) {
  std::string tokenizer_path, corpus_path;
  double min_seconds = 3.0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--tokenizer")) tokenizer_path = argv[i + 1];
    else if (!std::strcmp(argv[i], "--corpus")) corpus_path = argv[i + 1];
    else if (!std::strcmp(argv[i], "--seconds")) min_seconds = std::stod(argv[i + 1]);
  }
  if (tokenizer_path.empty() || corpus_path.empty()) {
    std::fprintf(stderr, "usage: %s --tokenizer tokenizer.json --corpus FILE [--seconds S]\n", argv[0]);
    return 2;
  }
  try {
    const auto tok = sy::Tokenizer::from_file(tokenizer_path);
    const auto docs = read_documents(corpus_path);
    size_t bytes_per_pass = 0;
    for (const auto& d : docs) bytes_per_pass += d.size();

    // One untimed pass warms the word cache, as the HF side's warm-up pass does.
    size_t tokens = 0;
    uint64_t hash = 0xcbf29ce484222325ull;
    for (const auto& d : docs) {
      for (int32_t id : tok->encode(d, false)) {
        const auto v = static_cast<uint32_t>(id);
        for (int b = 0; b < 4; ++b) hash = (hash ^ ((v >> (8 * b)) & 0xFF)) * 0x100000001b3ull;
        ++tokens;
      }
    }
    const size_t tokens_per_pass = tokens;

    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    size_t passes = 0;
    double seconds = 0;
    do {
      for (const auto& d : docs) tokens += tok->encode(d, false).size();
      ++passes;
      seconds = std::chrono::duration<double>(clock::now() - start).count();
    } while (seconds < min_seconds);
    const double bytes = static_cast<double>(bytes_per_pass) * static_cast<double>(passes);
    std::printf("{\"bytes\": %zu, \"docs\": %zu, \"passes\": %zu, \"tokens\": %zu, \"ids_fnv1a\": \"%016llx\", "
                "\"seconds\": %.4f, \"mb_per_s\": %.3f}\n",
                bytes_per_pass, docs.size(), passes, tokens_per_pass, static_cast<unsigned long long>(hash), seconds,
                bytes / seconds / 1e6);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_tokenizer: %s\n", e.what());
    return 1;
  }
  return 0;
}
