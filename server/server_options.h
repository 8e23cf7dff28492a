// switchyard-server flags. Every flag can also be set in a JSON config file (--config FILE,
// keys spelled like the flags without the dashes, e.g. {"max-num-seqs": 32}); flags given on
// the command line win. Position: process start -> [options] -> model loading, engine, gRPC.
#pragma once

#include <cstdint>
#include <string>

namespace sy::server {

struct ServerOptions {
  std::string model;               // model directory; empty: the bundled tiny model
  std::string served_model_name;   // id clients use; default: the directory's name
  std::string device;              // cpu | cuda | cuda:N; empty: cuda when present, else cpu
  std::string weight_dtype = "as-loaded";  // as-loaded | int8 (CPU only; engine/model/weights.h)
  std::string host = "0.0.0.0";
  int port = 50051;
  int admin_port = 9090;           // /metrics, /health, /ready; 0: off
  int block_size = 16;
  int num_kv_blocks = 0;           // 0: from the device memory plan, or (CPU) enough for max-num-seqs sequences
  double kv_cache_share = 0.9;     // device backends: share of memory left after weights/activations for KV
  int max_num_seqs = 64;
  int max_num_batched_tokens = 2048;
  int max_model_len = 0;           // 0: the model's context length
  int max_queued_requests = 256;
  int max_n = 16;
  int max_logprobs = 20;
  int max_stop_strings = 16;
  int max_stop_string_bytes = 256;
  double drain_timeout_s = 30;
  double routing_window_s = 60;
  std::string log_level = "info";
  int expert_parallel = 1;         // ranks of an mpirun job sharing the experts; 1: off
  std::string expert_placement = "contiguous";  // contiguous | round-robin
  double collective_timeout_s = 20;  // expert parallelism: a rank silent this long is dead
  int eplb_interval_steps = 0;     // expert parallelism: rebalance the experts every N engine steps; 0: never
  int eplb_redundant_experts = 0;  // expert parallelism: replica slots per MoE layer for hot experts
};

struct ParsedArgs {
  ServerOptions options;
  bool help = false;
};

// Throws std::invalid_argument naming the flag (or config key) and the problem, including
// flags that only make sense together (e.g. --eplb-* without --expert-parallel > 1).
ParsedArgs parse_server_args(int argc, char** argv);
std::string server_help_text();
// The bundled model: <exe>/../share/switchyard/models/qwen3moe-bf16 when installed, else the
// source tree's tests/data/models/qwen3moe-bf16.
std::string default_model_dir(const char* argv0);

}  // namespace sy::server
