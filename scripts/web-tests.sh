#!/usr/bin/env bash
# Real clients against a live `lora serve` on the real model: the official openai Python package
# (Tests/web/openai_client_test.py) and the web page in headless chromium through Selenium
# (Tests/web/browser_test.py). Needs scripts/install-test-deps.sh and a release build.
#   scripts/web-tests.sh [--screenshots DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
SHOTS=""
if [ "${1:-}" = "--screenshots" ]; then SHOTS="$2"; fi
MODEL=models/SmolLM2-135M-Instruct.Q4_1.gguf
swift build -c release --product lora >/dev/null
TMP=$(mktemp -d)
PID=""
trap '[ -n "$PID" ] && kill $PID 2>/dev/null; rm -rf "$TMP"' EXIT
# A training run for the dashboard: a few real steps on the tiny fixture model.
.build/release/lora train --model ../shared/fixtures/tiny-llama --data ../shared/data/instruct/identity.json \
    --out "$TMP/runs/identity" --max-steps 6 --batch-size 2 --logging-steps 1 --progress lines 2>/dev/null
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
.build/release/lora serve --model "$MODEL" --port "$PORT" --adapter qv=../shared/fixtures/smollm2/peft-adapter-qv \
    --runs "$TMP/runs" 2>"$TMP/serve.log" &
PID=$!
for _ in $(seq 150); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.2; done
python3 Tests/web/openai_client_test.py --base-url "http://127.0.0.1:$PORT/v1" --adapter qv
# SmolLM2's end tokens (<|endoftext|>, <|im_start|>, <|im_end|>) are banned in the page's requests.
ARGS=(--url "http://127.0.0.1:$PORT" --adapter qv --expect-run identity --ban-tokens 0,1,2)
if [ -n "$SHOTS" ]; then ARGS+=(--screenshot "$SHOTS/web-chat.png"); fi
python3 Tests/web/browser_test.py "${ARGS[@]}"
grep -q "POST /v1/chat/completions adapter=qv status=200" "$TMP/serve.log"
echo "web tests passed"
