#!/usr/bin/env bash
# Serving benchmark (not a test): starts `lora serve` on SmolLM2 with four adapters and drives it
# with scripts/serve_load.py: 16 concurrent clients (a) all on one adapter, (b) spread over four
# adapters, (c) on the base only; then a soak of 1,000 requests at 32 concurrent over all of them.
#   scripts/bench-serve.sh [REQUESTS=64] [MAX_TOKENS=64]
# The four adapters are copies of ../shared/fixtures/smollm2/peft-adapter-qv loaded under four
# names: four separate adapter weight sets as far as the server is concerned.
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS="${1:-64}"
MAX_TOKENS="${2:-64}"
MODEL=models/SmolLM2-135M-Instruct.Q4_1.gguf
scripts/fetch-models.sh >/dev/null
swift build -c release --product lora >/dev/null
TMP=$(mktemp -d)
trap 'kill $PID 2>/dev/null || true; rm -rf "$TMP"' EXIT
ADAPTERS=()
for i in 1 2 3 4; do
    cp -r ../shared/fixtures/smollm2/peft-adapter-qv "$TMP/a$i"
    ADAPTERS+=(--adapter "a$i=$TMP/a$i")
done
PORT=18080
.build/release/lora serve --model "$MODEL" --port $PORT --max-concurrent 32 --max-queue 256 \
    "${ADAPTERS[@]}" 2>"$TMP/serve.log" &
PID=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:$PORT/health >/dev/null && break; sleep 0.2; done
BASE=$(curl -sf http://127.0.0.1:$PORT/v1/models | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')
LOAD="python3 scripts/serve_load.py --url http://127.0.0.1:$PORT --pid $PID --max-tokens $MAX_TOKENS"
$LOAD --clients 16 --requests 16 --models a1 --label warmup >/dev/null
$LOAD --clients 16 --requests "$REQUESTS" --models a1 --label "one adapter"
$LOAD --clients 16 --requests "$REQUESTS" --models a1,a2,a3,a4 --label "four adapters"
$LOAD --clients 16 --requests "$REQUESTS" --models "$BASE" --label "base only"
$LOAD --clients 32 --requests 1000 --max-tokens 16 --models "a1,a2,a3,a4,$BASE" --label "soak"
