#!/usr/bin/env bash
# Benchmarks (not tests): SwiftLoRA's GEMM beside numpy/OpenBLAS on the same shapes, measured
# in the same run, and prefill/decode speed on the SmolLM2 Q4_1 GGUF. Prints JSON lines.
#   scripts/bench.sh            (2 threads; results go into BENCHMARKS.md by hand)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-models.sh >/dev/null
swift build -c release >/dev/null
shared="${SWIFTLORA_SHARED:-../shared}"
# numpy with OpenBLAS's own kernel choice: unset the overrides this machine sets for old builds.
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 "$shared/bench/gemm_numpy.py"
.build/release/lora bench gemm --threads 2
.build/release/lora bench gemm --threads 2 --format Q4_1
.build/release/lora bench generate --model models/SmolLM2-135M-Instruct.Q4_1.gguf --threads 2
