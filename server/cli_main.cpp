// switchyard-cli: load a Hugging Face MoE checkpoint and compute logits, greedy continuations
// or facts about it, without the server. Exact interface (other tools depend on it):
//   switchyard-cli logits   --model DIR --tokens 1,2,3            -> {"logits": [[...], ...]}
//   switchyard-cli generate --model DIR --tokens 1,2,3 --max-new-tokens N -> {"tokens": [...]}
//   switchyard-cli info     --model DIR                           -> architecture, sizes, params
// --weight-dtype as-loaded|int8 chooses how matmul weights are held (int8: CPU only, see
// engine/model/weights.h); info then reports the bytes the weights take in that form.
// --prompt TEXT may replace --tokens: the text is tokenized with the model's tokenizer.json
// (special tokens and BOS as the tokenizer adds them), and generate also prints the text.
// Errors go to stderr with exit code 1.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/backend/backend.h"
#include "engine/io/safetensors.h"
#include "engine/model/config.h"
#include "engine/model/memory_plan_model.h"
#include "engine/model/model.h"
#include "engine/model/model_runner.h"
#include "engine/model/single_sequence.h"
#include "engine/model/weights.h"
#include "engine/tokenizer/tokenizer.h"

namespace {

const char* kUsage =
    "usage: switchyard-cli <command> --model DIR [options]\n"
    "commands:\n"
    "  logits    print {\"logits\": [[vocab floats] per input position]}\n"
    "  generate  print {\"tokens\": [...]}, the greedy continuation (new tokens only)\n"
    "  info      print architecture, layers, experts, top-k, parameter counts, bytes by dtype\n"
    "options:\n"
    "  --model DIR            Hugging Face checkpoint directory (config.json + *.safetensors)\n"
    "  --tokens 1,2,3         input token ids\n"
    "  --prompt TEXT          input text, tokenized with the model's tokenizer (instead of --tokens)\n"
    "  --max-new-tokens N     tokens to generate (generate; default 16)\n"
    "  --ignore-eos           do not stop at the model's end-of-sequence tokens (generate)\n"
    "  --device cpu|cuda[:N]  backend (default cpu)\n"
    "  --weight-dtype as-loaded|int8  matmul weights as in the checkpoint, or int8 per output channel\n"
    "                         (CPU only; router, norms and embedding stay as loaded) (default as-loaded)\n";

struct Args {
  std::string command;
  std::string model;
  std::string tokens;
  std::optional<std::string> prompt;
  int max_new_tokens = 16;
  bool ignore_eos = false;
  std::string device = "cpu";
  sy::WeightFormat weight_format = sy::WeightFormat::kAsLoaded;
};

[[noreturn]] void usage_error(const std::string& msg) {
  throw std::invalid_argument(msg + "\n" + kUsage);
}

Args parse_args(int argc, char** argv) {
  Args a;
  if (argc < 2) usage_error("missing command");
  a.command = argv[1];
  if (a.command == "--help" || a.command == "-h") {
    std::fputs(kUsage, stdout);
    std::exit(0);
  }
  for (int i = 2; i < argc; ++i) {
    std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error("flag " + flag + " needs a value");
      return argv[++i];
    };
    if (flag == "--model") a.model = value();
    else if (flag == "--tokens") a.tokens = value();
    else if (flag == "--prompt") a.prompt = value();
    else if (flag == "--max-new-tokens") {
      std::string v = value();
      try {
        size_t pos = 0;
        a.max_new_tokens = std::stoi(v, &pos);
        if (pos != v.size() || a.max_new_tokens < 0) throw std::invalid_argument("");
      } catch (const std::exception&) {
        usage_error("--max-new-tokens must be a non-negative integer, got '" + v + "'");
      }
    } else if (flag == "--ignore-eos") a.ignore_eos = true;
    else if (flag == "--device") a.device = value();
    else if (flag == "--weight-dtype") {
      std::string v = value();
      try {
        a.weight_format = sy::parse_weight_format(v);
      } catch (const std::invalid_argument& e) {
        usage_error(e.what());
      }
    }
    else usage_error("unknown flag " + flag);
  }
  if (a.command != "logits" && a.command != "generate" && a.command != "info")
    usage_error("unknown command '" + a.command + "'");
  if (a.model.empty()) usage_error("--model is required");
  if (a.prompt && !a.tokens.empty()) usage_error("give either --tokens or --prompt, not both");
  return a;
}

std::vector<int32_t> parse_tokens(const std::string& s) {
  std::vector<int32_t> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    std::string item = s.substr(start, end - start);
    try {
      size_t pos = 0;
      long v = std::stol(item, &pos);
      if (pos != item.size() || v < 0 || v > INT32_MAX) throw std::invalid_argument("");
      out.push_back(static_cast<int32_t>(v));
    } catch (const std::exception&) {
      throw std::invalid_argument("--tokens: '" + item + "' is not a token id (expected e.g. --tokens 1,2,3)");
    }
    start = end + 1;
  }
  return out;
}

nlohmann::json info_json(const std::string& dir, sy::WeightFormat format) {
  sy::ModelConfig c = sy::ModelConfig::from_model_dir(dir);
  sy::Checkpoint ckpt = sy::Checkpoint::open(dir);
  sy::WeightStats s = sy::weight_stats(c, ckpt);
  nlohmann::json bytes = nlohmann::json::object();
  int64_t checkpoint_bytes = 0;
  for (const auto& [dtype, n] : s.bytes_by_dtype) bytes[dtype] = n, checkpoint_bytes += n;
  // As held after loading: the checkpoint's bytes, or (int8) what the memory planner counts,
  // which equals what load_weights allocates (tests/unit/int8_weights_test.cpp).
  int64_t held_bytes = checkpoint_bytes;
  if (format != sy::WeightFormat::kAsLoaded) {
    const sy::TensorInfo* embed = ckpt.find("model.embed_tokens.weight");
    const sy::MemoryPlanModel m = sy::memory_plan_model(c, embed ? embed->dtype : c.dtype, {}, format);
    held_bytes = sy::count_weight_params(m) * m.weight_bytes;
  }
  return {{"architecture", sy::architecture_name(c.arch)},
          {"layers", c.num_layers},
          {"moe_layers", c.num_moe_layers()},
          {"hidden_size", c.hidden_size},
          {"vocab_size", c.vocab_size},
          {"attention_heads", c.num_heads},
          {"kv_heads", c.num_kv_heads},
          {"head_dim", c.head_dim},
          {"experts", c.num_experts},
          {"top_k", c.top_k},
          {"expert_intermediate_size", c.moe_intermediate_size},
          {"shared_expert_intermediate_size", c.shared_expert_intermediate_size},
          {"total_params", s.total_params},
          {"active_params", s.active_params},
          {"bytes_by_dtype", bytes},
          {"weight_dtype", sy::weight_format_name(format)},
          {"weight_bytes", held_bytes},
          {"max_position_embeddings", c.max_position_embeddings}};
}

int run(const Args& a) {
  if (a.command == "info") {
    std::cout << info_json(a.model, a.weight_format).dump(2) << "\n";
    return 0;
  }
  std::shared_ptr<const sy::Tokenizer> tokenizer;
  std::vector<int32_t> tokens;
  if (a.prompt) {
    tokenizer = sy::Tokenizer::from_model_dir(a.model);
    tokens = tokenizer->encode(*a.prompt);
    if (tokens.empty()) usage_error("--prompt tokenizes to no tokens");
  } else {
    if (a.tokens.empty()) usage_error("--tokens or --prompt is required");
    tokens = parse_tokens(a.tokens);
  }
  auto backend = sy::make_backend(a.device);
  auto model = sy::load_model(a.model, *backend, {}, {}, a.weight_format);
  const int max_new = a.command == "generate" ? a.max_new_tokens : 0;
  const int needed = static_cast<int>(tokens.size()) + max_new;
  if (needed > model->config.max_position_embeddings)
    throw std::invalid_argument("prompt plus new tokens (" + std::to_string(needed) +
                                ") exceed the model's context length of " +
                                std::to_string(model->config.max_position_embeddings));
  sy::ModelRunner runner(model, sy::single_sequence_kv(needed));

  if (a.command == "logits") {
    sy::SingleSequence seq(runner);
    std::vector<float> logits = seq.append(tokens, /*all_positions=*/true);
    const int V = runner.vocab_size();
    // Hand-written output: nlohmann's float printing is slower and prints more digits than needed.
    std::string out = "{\"logits\": [";
    char buf[32];
    for (size_t r = 0; r < tokens.size(); ++r) {
      out += r ? ", [" : "[";
      for (int v = 0; v < V; ++v) {
        std::snprintf(buf, sizeof buf, v ? ", %.9g" : "%.9g", logits[r * V + v]);
        out += buf;
      }
      out += "]";
    }
    out += "]}\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
  }
  std::vector<int> stop = a.ignore_eos ? std::vector<int>{} : model->config.eos_token_ids;
  std::vector<int32_t> generated = sy::greedy_generate(runner, tokens, max_new, stop);
  nlohmann::json out = {{"tokens", generated}};
  if (tokenizer) {
    out["prompt_tokens"] = tokens;
    out["text"] = tokenizer->decode(generated, /*skip_special_tokens=*/true);
  }
  // Invalid UTF-8 (a continuation cut mid-character) is replaced, not an exception.
  std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse_args(argc, argv));
  } catch (const std::exception& e) {
    std::cerr << "switchyard-cli: error: " << e.what() << "\n";
    return 1;
  }
}
