#!/usr/bin/env bash
# Builds the real tokenizers (Mixtral, Mistral v3, Qwen, o200k/GPT-OSS) and HF goldens into
# tests/data/tokenizers/.cache (or $SY_TOKENIZER_CACHE) with tools/make_tokenizer_data.py.
# Run by ctest as the FIXTURES_SETUP test `tokenizer_data_setup`; a no-op when the cache matches
# the script, the fixture tokenizers and the installed `tokenizers` version.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
cache="${SY_TOKENIZER_CACHE:-$here/.cache}"
mkdir -p "$cache"

# The converters need tiktoken (tiktoken ranks) and sentencepiece + protobuf (SentencePiece models).
if ! python3 -c "import tiktoken, sentencepiece, google.protobuf, tokenizers, transformers" 2>/dev/null; then
  python3 -m pip install -q --disable-pip-version-check tiktoken sentencepiece protobuf 2>/dev/null ||
    python3 -m pip install -q --disable-pip-version-check --break-system-packages tiktoken sentencepiece protobuf
fi

exec 9>"$cache.lock"
flock 9
want="$( (cat "$repo/tools/make_tokenizer_data.py" "$repo"/tests/data/models/*/tokenizer.json 2>/dev/null;
          python3 -c "import tokenizers, transformers; print(tokenizers.__version__, transformers.__version__)") |
        sha256sum | cut -d' ' -f1)"
if [ -f "$cache/stamp" ] && [ "$(cat "$cache/stamp")" = "$want" ]; then
  echo "tokenizer data up to date in $cache"
  exit 0
fi
rm -f "$cache/stamp"
python3 "$repo/tools/make_tokenizer_data.py" --out "$cache"
echo "$want" > "$cache/stamp"
