#include "server/server_options.h"

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <stdexcept>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/model/weights.h"

namespace sy::server {
namespace {

// One flag: its name, help line and how to store a value into the options.
struct Flag {
  const char* name;
  const char* value_name;
  const char* help;
  std::function<void(ServerOptions&, const std::string&)> set;
};

int to_int(const std::string& flag, const std::string& v, int min) {
  size_t pos = 0;
  long long x = 0;
  try {
    x = std::stoll(v, &pos);
  } catch (const std::exception&) {
    pos = 0;
  }
  if (pos == 0 || pos != v.size()) throw std::invalid_argument("--" + flag + ": '" + v + "' is not an integer");
  if (x < min || x > 1'000'000'000) throw std::invalid_argument("--" + flag + ": must be >= " + std::to_string(min) + ", got " + v);
  return static_cast<int>(x);
}

double to_double(const std::string& flag, const std::string& v) {
  size_t pos = 0;
  double x = 0;
  try {
    x = std::stod(v, &pos);
  } catch (const std::exception&) {
    pos = 0;
  }
  if (pos == 0 || pos != v.size() || !(x >= 0)) throw std::invalid_argument("--" + flag + ": '" + v + "' is not a number >= 0");
  return x;
}

Flag int_flag(const char* name, int ServerOptions::*field, int min, const char* help) {
  return {name, "N", help, [=](ServerOptions& o, const std::string& v) { o.*field = to_int(name, v, min); }};
}
Flag string_flag(const char* name, std::string ServerOptions::*field, const char* value_name, const char* help) {
  return {name, value_name, help, [=](ServerOptions& o, const std::string& v) { o.*field = v; }};
}
Flag seconds_flag(const char* name, double ServerOptions::*field, const char* help) {
  return {name, "SEC", help, [=](ServerOptions& o, const std::string& v) { o.*field = to_double(name, v); }};
}

Flag fraction_flag(const char* name, double ServerOptions::*field, const char* help) {
  return {name, "F", help, [=](ServerOptions& o, const std::string& v) {
            const double x = to_double(name, v);
            if (!(x > 0.0 && x <= 1.0)) throw std::invalid_argument(std::string("--") + name + ": '" + v + "' is not in (0, 1]");
            o.*field = x;
          }};
}

const std::vector<Flag>& flags() {
  static const std::vector<Flag> all = {
      string_flag("model", &ServerOptions::model, "DIR", "model directory (config.json, *.safetensors, tokenizer.json); default: the bundled tiny model"),
      string_flag("served-model-name", &ServerOptions::served_model_name, "NAME", "model id clients use; default: the model directory's name"),
      string_flag("device", &ServerOptions::device, "DEV", "cpu, cuda or cuda:N; default: cuda when a GPU is present, else cpu"),
      {"weight-dtype", "DTYPE", "as-loaded (the checkpoint's dtype) or int8 (CPU only: attention, expert and lm_head weights quantised per output channel at load; router, norms and embedding as loaded) (default as-loaded)",
       [](ServerOptions& o, const std::string& v) {
         parse_weight_format(v);  // throws naming --weight-dtype
         o.weight_dtype = v;
       }},
      string_flag("host", &ServerOptions::host, "ADDR", "gRPC listen address (default 0.0.0.0)"),
      int_flag("port", &ServerOptions::port, 0, "gRPC port (default 50051; 0 picks a free port, printed at start)"),
      int_flag("admin-port", &ServerOptions::admin_port, 0, "HTTP port for /metrics, /health, /ready (default 9090; 0: off)"),
      int_flag("block-size", &ServerOptions::block_size, 1, "KV-cache block size in tokens (default 16)"),
      int_flag("num-kv-blocks", &ServerOptions::num_kv_blocks, 0, "KV-cache blocks (per rank with --expert-parallel: each rank holds its sequences' KV); 0: on a GPU, what the memory plan leaves (--kv-cache-share); on CPU, enough for max-num-seqs full-length sequences (default 0)"),
      fraction_flag("kv-cache-share", &ServerOptions::kv_cache_share, "GPU: share of the memory left after weights, activations and workspace that the KV cache takes (default 0.9)"),
      int_flag("max-num-seqs", &ServerOptions::max_num_seqs, 1, "sequences holding KV at once (default 64)"),
      int_flag("max-num-batched-tokens", &ServerOptions::max_num_batched_tokens, 1, "tokens per engine step, prefill chunks + decodes (default 2048)"),
      int_flag("max-model-len", &ServerOptions::max_model_len, 0, "prompt + output tokens per sequence; 0: the model's context (default 0)"),
      int_flag("max-queued-requests", &ServerOptions::max_queued_requests, 1, "waiting requests before RESOURCE_EXHAUSTED (default 256)"),
      int_flag("max-n", &ServerOptions::max_n, 1, "largest n (sequences per request) accepted (default 16)"),
      int_flag("max-logprobs", &ServerOptions::max_logprobs, 0, "largest logprobs (top-N) accepted (default 20)"),
      int_flag("max-stop-strings", &ServerOptions::max_stop_strings, 0, "stop strings per request (default 16)"),
      int_flag("max-stop-string-bytes", &ServerOptions::max_stop_string_bytes, 1, "bytes per stop string (default 256)"),
      seconds_flag("drain-timeout-s", &ServerOptions::drain_timeout_s, "on SIGTERM, how long running requests may finish (default 30)"),
      seconds_flag("routing-window-s", &ServerOptions::routing_window_s, "span of the recent-window routing statistics (default 60)"),
      string_flag("log-level", &ServerOptions::log_level, "LEVEL", "trace, debug, info, warn, error (default info)"),
      int_flag("expert-parallel", &ServerOptions::expert_parallel, 1, "spread the experts over N ranks; run under mpirun -np N (default 1: off)"),
      string_flag("expert-placement", &ServerOptions::expert_placement, "POLICY", "expert -> rank map: contiguous or round-robin (default contiguous)"),
      seconds_flag("collective-timeout-s", &ServerOptions::collective_timeout_s, "expert parallelism: a rank not answering a collective this long is dead or hung; every rank exits (default 20)"),
      int_flag("eplb-interval-steps", &ServerOptions::eplb_interval_steps, 0, "expert parallelism: every N engine steps, re-place the experts from the routing of those steps (EPLB); 0: never (default 0)"),
      int_flag("eplb-redundant-experts", &ServerOptions::eplb_redundant_experts, 0, "expert parallelism: extra expert slots per MoE layer that EPLB gives to replicas of hot experts (default 0)"),
  };
  return all;
}

const Flag* find_flag(const std::string& name) {
  for (const Flag& f : flags())
    if (name == f.name) return &f;
  return nullptr;
}

void apply_config_file(const std::string& path, ServerOptions& o) {
  std::ifstream in(path);
  if (!in) throw std::invalid_argument("--config: cannot read '" + path + "'");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in, nullptr, true, /*ignore_comments=*/true);
  } catch (const std::exception& e) {
    throw std::invalid_argument(path + ": invalid JSON: " + e.what());
  }
  if (!j.is_object()) throw std::invalid_argument(path + ": expected a JSON object of flag names to values");
  for (const auto& [key, value] : j.items()) {
    if (key.rfind("//", 0) == 0) continue;  // comment keys
    std::string name = key;
    for (char& c : name) if (c == '_') c = '-';
    const Flag* f = find_flag(name);
    if (!f || name == "config") throw std::invalid_argument(path + ": unknown key '" + key + "'");
    const std::string text = value.is_string() ? value.get<std::string>() : value.dump();
    try {
      f->set(o, text);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(path + ": " + e.what());
    }
  }
}

// Flags that depend on each other (the model-dependent limits are checked once it is loaded).
void check_combinations(const ServerOptions& o) {
  if (o.expert_parallel <= 1) {
    if (o.eplb_interval_steps > 0)
      throw std::invalid_argument("--eplb-interval-steps needs --expert-parallel > 1 (rebalancing moves experts between ranks)");
    if (o.eplb_redundant_experts > 0)
      throw std::invalid_argument("--eplb-redundant-experts needs --expert-parallel > 1 (replicas live on other ranks)");
  }
  if (o.eplb_redundant_experts > 0 && o.eplb_interval_steps == 0)
    throw std::invalid_argument("--eplb-redundant-experts needs --eplb-interval-steps > 0 (replicas are chosen from live routing stats)");
}

}  // namespace

std::string server_help_text() {
  std::string s =
      "usage: switchyard-server [flags]\n"
      "Serves a Mixture-of-Experts model over gRPC (switchyard.v1.Inference, grpc.health.v1.Health,\n"
      "server reflection) with continuous batching and a paged KV cache.\n\n"
      "  --config FILE                 JSON object setting any flag below (e.g. configs/default.json;\n"
      "                                keys starting with // are comments); flags on the command line win\n";
  for (const Flag& f : flags()) {
    std::string left = std::string("  --") + f.name + " " + f.value_name;
    if (left.size() < 32) left.resize(32, ' ');
    else left += "\n" + std::string(32, ' ');
    s += left + f.help + "\n";
  }
  s += "  --help                        this text\n";
  return s;
}

ParsedArgs parse_server_args(int argc, char** argv) {
  ParsedArgs out;
  std::vector<std::pair<std::string, std::string>> given;
  std::string config;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      out.help = true;
      return out;
    }
    if (arg.rfind("--", 0) != 0) throw std::invalid_argument("unexpected argument '" + arg + "' (flags start with --)");
    std::string name = arg.substr(2), value;
    const size_t eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else {
      if (i + 1 >= argc) throw std::invalid_argument("--" + name + " needs a value");
      value = argv[++i];
    }
    if (name == "config") config = value;
    else if (!find_flag(name)) throw std::invalid_argument("unknown flag --" + name + " (see --help)");
    else given.emplace_back(name, value);
  }
  if (!config.empty()) apply_config_file(config, out.options);
  for (const auto& [name, value] : given) find_flag(name)->set(out.options, value);
  check_combinations(out.options);
  return out;
}

std::string default_model_dir(const char* argv0) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path exe = fs::canonical("/proc/self/exe", ec);
  const fs::path base = ec ? fs::path(argv0).parent_path() : exe.parent_path();
  const fs::path installed = base / ".." / "share" / "switchyard" / "models" / "qwen3moe-bf16";
  if (fs::exists(installed / "config.json")) return fs::weakly_canonical(installed).string();
  return SY_BUNDLED_MODEL_DIR;
}

}  // namespace sy::server
