// switchyard-cli as a user runs it: --prompt tokenizes with the model's tokenizer and gives the
// same continuation as --tokens with those ids; errors go to stderr with exit code 1.
#include <sys/wait.h>

#include <cstdio>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/tokenizer/tokenizer.h"

namespace {

const std::string kCli = std::string(SY_BIN_DIR) + "/switchyard-cli";
const std::string kModel = std::string(SY_TEST_DATA_DIR) + "/models/qwen3moe-bf16";

struct Result {
  int code;
  std::string out;
};

Result run(const std::string& args) {
  std::string cmd = kCli + " " + args + " 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TEST(Cli, PromptGivesTheSameContinuationAsItsTokenIds) {
  auto tok = sy::Tokenizer::from_model_dir(kModel);
  std::vector<int32_t> ids = tok->encode("The quick brown fox");
  std::string csv;
  for (int32_t id : ids) csv += (csv.empty() ? "" : ",") + std::to_string(id);

  Result by_text = run("generate --model " + kModel + " --prompt 'The quick brown fox' --max-new-tokens 6 --ignore-eos");
  Result by_ids = run("generate --model " + kModel + " --tokens " + csv + " --max-new-tokens 6 --ignore-eos");
  ASSERT_EQ(by_text.code, 0);
  ASSERT_EQ(by_ids.code, 0);
  auto a = nlohmann::json::parse(by_text.out), b = nlohmann::json::parse(by_ids.out);
  EXPECT_EQ(a["prompt_tokens"].get<std::vector<int32_t>>(), ids);
  EXPECT_EQ(a["tokens"], b["tokens"]);
  EXPECT_EQ(a["tokens"].size(), 6u);
  EXPECT_EQ(a["text"].get<std::string>(), tok->decode(a["tokens"].get<std::vector<int32_t>>(), true));
}

TEST(Cli, LogitsHaveOneVocabRowPerPosition) {
  Result r = run("logits --model " + kModel + " --tokens 5,6,7");
  ASSERT_EQ(r.code, 0);
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["logits"].size(), 3u);
  EXPECT_EQ(j["logits"][0].size(), 320u);
}

TEST(Cli, BadInputExitsWithOne) {
  EXPECT_EQ(run("generate --model " + kModel + " --tokens 1,x").code, 1);
  EXPECT_EQ(run("generate --model " + kModel + " --tokens 99999").code, 1);  // outside the vocabulary
  EXPECT_EQ(run("info --model /nonexistent").code, 1);
  EXPECT_EQ(run("frobnicate --model " + kModel).code, 1);
  EXPECT_EQ(run("generate --model " + kModel + " --tokens 1 --prompt hi").code, 1);
}

}  // namespace
