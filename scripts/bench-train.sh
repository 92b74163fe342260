#!/usr/bin/env bash
# Training throughput (not a test): SwiftLoRA's `lora bench train` beside PyTorch + PEFT
# (../shared/bench/peft_train_bench.py, float32 and bf16 autocast), measured in the same run, for
# r = 8 on q,k,v,o and on all-linear, with the base in float32 and in Q4_1. Prints JSON lines.
#   scripts/bench-train.sh            (STEPS=4 timed steps each; results go into BENCHMARKS.md by hand)
#   BF16=0 scripts/bench-train.sh     skips PyTorch's bf16 autocast (very slow on CPUs without AVX-512 BF16)
#   BF16_STEPS=1 scripts/bench-train.sh   times PyTorch's bf16 autocast on 1 step only
# SwiftLoRA runs each base in float32 and with --bf16.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-models.sh >/dev/null
swift build -c release >/dev/null
shared="${SWIFTLORA_SHARED:-../shared}"
PY=$("$shared/bench/setup-python-peers.sh" | tail -1)
q4=models/SmolLM2-135M-Instruct.Q4_1.gguf
f32=models/SmolLM2-135M-Instruct-f32
[ -f "$f32/config.json" ] || "$PY" scripts/dequantize_gguf.py "$q4" "$f32" >/dev/null
steps="${STEPS:-4}"
for targets in q_proj,k_proj,v_proj,o_proj all-linear; do
  "$PY" "$shared/bench/peft_train_bench.py" --gguf "$q4" --targets "$targets" --steps "$steps" 2>/dev/null
  if [ "${BF16:-1}" != 0 ]; then
    "$PY" "$shared/bench/peft_train_bench.py" --gguf "$q4" --targets "$targets" --steps "${BF16_STEPS:-$steps}" \
      --bf16 2>/dev/null
  fi
  for base in "$f32" "$q4"; do
    .build/release/lora bench train --model "$base" --targets "$targets" --steps "$steps"
    .build/release/lora bench train --model "$base" --targets "$targets" --steps "$steps" --bf16
  done
done
