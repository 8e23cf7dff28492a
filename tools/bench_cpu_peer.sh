#!/usr/bin/env bash
# Peer for tools/bench_cpu: llama.cpp built from a local checkout of its public source, on the
# same generated checkpoint (tools/make_bench_model.py) converted by llama.cpp's own
# convert_hf_to_gguf.py at the same precision, measured by llama-bench.
#
#   tools/bench_cpu_peer.sh LLAMA_CPP_DIR CHECKPOINT_DIR [OUT_DIR]
#
# Fetches nothing: LLAMA_CPP_DIR must already hold llama.cpp's source (kept outside this
# repository, never committed). Builds llama-bench (-j2) for AVX-512 with BF16 and VNNI but
# without AMX: GGML_NATIVE=ON turns on AMX int8 tiles, which die with "Illegal instruction" in
# guests that do not grant the process AMX tile state (q8_0 then cannot run). Writes
# bf16 and q8_0 GGUFs to OUT_DIR (default: CHECKPOINT_DIR.gguf), then runs llama-bench for
# prefill (512 tokens) and decode (batch 1) on 2 threads, the shapes tools/bench_cpu measures.
#
# The generated checkpoint carries the tiny test tokenizer, whose pre-tokenizer hash the
# converter does not know; the tokenizer plays no part in llama-bench (it feeds token ids), so
# the converter is told to treat it as Qwen2's.
set -euo pipefail
llama=${1:?usage: $0 LLAMA_CPP_DIR CHECKPOINT_DIR [OUT_DIR]}
ckpt=${2:?usage: $0 LLAMA_CPP_DIR CHECKPOINT_DIR [OUT_DIR]}
out=${3:-${ckpt%/}.gguf}
threads=${THREADS:-2}
mkdir -p "$out"

build="$llama/build-avx512"
if [[ ! -x "$build/bin/llama-bench" ]]; then
  cmake -S "$llama" -B "$build" -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON \
    -DGGML_F16C=ON -DGGML_AVX512=ON -DGGML_AVX512_BF16=ON -DGGML_AVX512_VNNI=ON \
    -DGGML_AVX512_VBMI=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF \
    -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
    -DCMAKE_BUILD_TYPE=Release
  cmake --build "$build" --target llama-bench -j2
fi

convert() {  # convert OUTTYPE
  local f="$out/model-$1.gguf"
  [[ -f "$f" ]] && return
  PYTHONPATH="$llama/gguf-py:$llama" python3 - "$ckpt" "$f" "$1" <<'PY'
import sys
import convert_hf_to_gguf as c
import conversion.base as base
base.TextModel.get_vocab_base_pre = lambda self, tokenizer: "qwen2"
sys.argv = ["convert_hf_to_gguf.py", sys.argv[1], "--outfile", sys.argv[2], "--outtype", sys.argv[3]]
c.main()
PY
}
convert bf16
convert q8_0

echo "# load: $(uptime)"
for t in bf16 q8_0; do
  "$build/bin/llama-bench" -m "$out/model-$t.gguf" -t "$threads" -p 512 -n 32 -r 3 --poll 0,50 -o md
done
echo "# load: $(uptime)"
