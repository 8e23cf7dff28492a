#!/usr/bin/env bash
# The CPU benchmark of issue 8 in one command: Switchyard (bf16 and int8), llama.cpp (bf16 and
# q8_0) and transformers, back to back on the same generated checkpoint, so the ratios in
# docs/perf/cpu.md come from one window of machine load.
#
#   tools/bench_cpu_all.sh [BUILD_DIR] [CHECKPOINT_DIR] [LLAMA_CPP_DIR]
#
# Defaults: build, /work/bench-models/qwen3moe-bench-bf16, /work/peers/llama.cpp. Makes the
# checkpoint with tools/make_bench_model.py when it is missing; skips llama.cpp (with a note)
# when LLAMA_CPP_DIR holds no source (it is never fetched or committed by this repository).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
ckpt=${2:-/work/bench-models/qwen3moe-bench-bf16}
llama=${3:-/work/peers/llama.cpp}
# Switchyard runs twice: with the OpenMP wait policy the server runs under (the caller's, by
# default libgomp's spin-then-sleep), then with OMP_WAIT_POLICY=passive, the setting for an
# oversubscribed machine; llama-bench likewise measures --poll 0 and 50 (docs/perf/cpu.md).

[[ -f "$ckpt/config.json" ]] || python3 tools/make_bench_model.py --out "$ckpt"
cmake --build "$build" -j2 --target bench_cpu

echo "## Switchyard"
"$build/bin/bench_cpu" --model "$ckpt" --decode 256 --stream-gib 2 --ab-bursts 32
echo "## Switchyard, OMP_WAIT_POLICY=passive"
OMP_WAIT_POLICY=passive "$build/bin/bench_cpu" --model "$ckpt" --decode 256 --stream-gib 2 --ab-bursts 32
echo "## llama.cpp"
if [[ -f "$llama/CMakeLists.txt" ]]; then
  tools/bench_cpu_peer.sh "$llama" "$ckpt"
else
  echo "skipped: no llama.cpp source in $llama"
fi
echo "## transformers"
python3 tools/bench_cpu_transformers.py --model "$ckpt" --decode 8
