#!/usr/bin/env python3
"""A FAKE `lora serve` for developing the web page and self-checking the client tests.

Development aid only: it runs no model. It answers the same HTTP API as the Swift server
(`GET /health`, `/v1/models`, `POST /v1/chat/completions`, `/v1/completions`, `/v1/runs`,
`/v1/runs/{id}/metrics`, OpenAI error objects, optional API key) with canned replies streamed
word by word, so that Sources/Server/web/index.html, Tests/web/browser_test.py and
Tests/web/openai_client_test.py can be worked on without building Swift. The real tests run
against `lora serve` (scripts/web-tests.sh); nothing in CI uses this file.

    python3 Tests/web/fake_server.py --port 8099 --runs /tmp/runs [--simulate-run live] [--api-key K]

Standard library only. The page is served from Sources/Server/web/index.html, read at each request.
"""
import argparse
import json
import math
import os
import random
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Sources", "Server", "web", "index.html")
MAX_BODY = 1 << 20

REPLIES = {
    None: [
        "Hello! I am a small language model served by SwiftLoRA. A LoRA adapter adds a low-rank "
        "update to a few weight matrices, so one base model can speak in many styles at once.",
        "Sure. Here is a short answer: the base model stays frozen, each adapter is a few megabytes, "
        "and the server picks the adapter named in the request for every sequence of the batch.",
    ],
    "pirate": [
        "Arr, matey! Ye be askin' a fine question. The sea be wide and the wind be strong, "
        "and this old model answers in a pirate's voice, thanks to a wee LoRA adapter.",
        "Yo ho! Hoist the mainsail and listen well: every word I speak comes streamin' one by one "
        "across the seven seas of yer network.",
    ],
    "poet": [
        "Upon a frozen base of weights,\nA little rank-one rhyme awaits;\nIt bends the words, it shapes the tone,\n"
        "And leaves the great model as it was known.",
        "The tokens fall like autumn rain,\nEach one alone, then joined again.",
    ],
}


class APIError(Exception):
    def __init__(self, status, message, param=None, code=None, kind="invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind

    def body(self):
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


def words(text):
    """Splits text into 'tokens' that concatenate back to it: each word with its leading space."""
    out, current = [], ""
    for ch in text:
        if ch in " \n" and current.strip():
            out.append(current)
            current = ""
        current += ch
    if current:
        out.append(current)
    return out


class Handler(BaseHTTPRequestHandler):
    server_version = "SwiftLoRA-fake"
    config = None  # argparse namespace, set in main()

    def log_message(self, fmt, *args):
        if not self.config.quiet:
            super().log_message(fmt, *args)

    # ---- plumbing ----
    def send_json(self, obj, status=200):
        data = json.dumps(obj, sort_keys=True).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_errors(self, fn):
        try:
            c = self.config
            if c.api_key and self.path.startswith("/v1/") and self.headers.get("Authorization") != "Bearer " + c.api_key:
                raise APIError(401, "missing or wrong API key (send 'Authorization: Bearer KEY')", code="invalid_api_key")
            fn()
        except APIError as e:
            self.send_json(e.body(), e.status)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (the page's stop button)

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise APIError(413, f"the request body is over the limit of {MAX_BODY} bytes")
        try:
            body = json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            raise APIError(400, "the body is not valid JSON")
        if not isinstance(body, dict):
            raise APIError(400, "the body should be a JSON object")
        return body

    # ---- routes ----
    def do_GET(self):
        self.handle_errors(self.get)

    def do_POST(self):
        self.handle_errors(self.post)

    def get(self):
        path = self.path.split("?")[0]
        if path == "/":
            with open(PAGE, "rb") as f:
                data = f.read()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif path == "/health":
            self.send_json({"status": "ok"})
        elif path == "/v1/models":
            base = self.config.model_name
            data = [{"id": base, "object": "model", "created": 0, "owned_by": "swiftlora"}]
            data += [{"id": a, "object": "model", "created": 0, "owned_by": "swiftlora", "parent": base}
                     for a in self.config.adapters]
            self.send_json({"object": "list", "data": data})
        elif path == "/v1/runs":
            self.send_json({"object": "list", "data": [{"id": i, "updated": u} for i, u in self.runs()]})
        elif path.startswith("/v1/runs/") and path.endswith("/metrics"):
            run = path[len("/v1/runs/"):-len("/metrics")]
            if run not in dict(self.runs()):
                raise APIError(404, f"no training run '{run}'")
            records = []
            with open(os.path.join(self.config.runs, run, "metrics.jsonl")) as f:
                for line in f:
                    try:
                        records.append(json.loads(line))
                    except ValueError:
                        pass  # a line being written
            self.send_json({"id": run, "records": records})
        else:
            raise APIError(404, f"no route for GET {path}")

    def runs(self):
        root = self.config.runs
        found = []
        if root and os.path.isdir(root):
            for name in os.listdir(root):
                metrics = os.path.join(root, name, "metrics.jsonl")
                if not name.startswith(".") and os.path.isfile(metrics):
                    found.append((name, os.path.getmtime(metrics)))
        return sorted(found, key=lambda r: -r[1])

    def post(self):
        path = self.path.split("?")[0]
        if path not in ("/v1/chat/completions", "/v1/completions"):
            raise APIError(404, f"no route for POST {path}")
        chat = path == "/v1/chat/completions"
        body = self.read_body()
        model = body.get("model") or self.config.model_name
        adapter = None
        if model != self.config.model_name:
            if model not in self.config.adapters:
                raise APIError(404, f"The model '{model}' does not exist", param="model", code="model_not_found")
            adapter = model
        if chat:
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages:
                raise APIError(400, "'messages' is empty" if messages == [] else "missing field 'messages'",
                               param="messages")
            prompt_words = sum(len(str(m.get("content") or "").split()) + 3 for m in messages)
            question = str(messages[-1].get("content") or "")
        else:
            prompt = body.get("prompt")
            if isinstance(prompt, list):
                prompt = "".join(map(str, prompt))
            if not isinstance(prompt, str) or not prompt:
                raise APIError(400, "'prompt' is empty", param="prompt")
            prompt_words, question = len(prompt.split()) or 1, prompt
        max_tokens = body.get("max_tokens", 256)
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise APIError(400, f"'max_tokens' should be at least 1, got {max_tokens}", param="max_tokens")
        temperature = body.get("temperature", 1.0)
        if not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2:
            raise APIError(400, "'temperature' should be between 0 and 2", param="temperature")
        top_p = body.get("top_p", 1.0)
        if not isinstance(top_p, (int, float)) or not 0 < top_p <= 1:
            raise APIError(400, "'top_p' should be in (0, 1]", param="top_p")

        # The "sampling": greedy picks the first canned reply; otherwise a seeded (or random) choice.
        variants = REPLIES.get(adapter, REPLIES[None])  # an adapter without canned text speaks like the base
        if not chat:
            variants = [" Paris, a city of light and bridges." if "France" in question else " ..." + v for v in variants]
        rng = random.Random(body.get("seed"))
        text = variants[0] if temperature == 0 else rng.choice(variants)
        pieces = words(text)
        finish = "stop"
        if len(pieces) > max_tokens:
            pieces, finish = pieces[:max_tokens], "length"
        stops = body.get("stop") or []
        stops = [stops] if isinstance(stops, str) else stops
        joined = "".join(pieces)
        for s in stops:
            if s and s in joined:
                joined, finish = joined[:joined.index(s)], "stop"
                pieces = words(joined)
        usage = {"prompt_tokens": prompt_words, "completion_tokens": len(pieces),
                 "total_tokens": prompt_words + len(pieces)}
        ident = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex
        base = {"id": ident, "object": "chat.completion.chunk" if chat else "text_completion",
                "created": int(time.time()), "model": model, "system_fingerprint": "swiftlora-fake"}

        if not body.get("stream"):
            choice = {"index": 0, "finish_reason": finish, "logprobs": None}
            if chat:
                choice["message"] = {"role": "assistant", "content": joined}
            else:
                choice["text"] = joined
            time.sleep(self.config.delay * len(pieces) / 4)
            self.send_json({**base, "object": "chat.completion" if chat else "text_completion",
                            "choices": [choice], "usage": usage})
            return

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()

        def send(obj):
            self.wfile.write(b"data: " + json.dumps(obj).encode() + b"\n\n")
            self.wfile.flush()

        def chunk(delta, first=False, finish_reason=None):
            choice = {"index": 0, "logprobs": None, "finish_reason": finish_reason}
            if chat:
                d = {"role": "assistant"} if first else {}
                if delta is not None:
                    d["content"] = delta
                choice["delta"] = d
            else:
                choice["text"] = delta or ""
            return {**base, "choices": [choice]}

        send(chunk("", first=True))
        for piece in pieces:
            time.sleep(self.config.delay)
            send(chunk(piece))
        send(chunk(None, finish_reason=finish))
        if (body.get("stream_options") or {}).get("include_usage"):
            send({**base, "choices": [], "usage": usage})
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


def simulate_training(folder, steps, interval):
    """Appends one metrics.jsonl record every `interval` seconds, like a running `lora train`."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "metrics.jsonl")
    open(path, "w").close()
    rng = random.Random(0)
    warmup, peak = max(1, steps // 10), 2e-4
    for step in range(1, steps + 1):
        lr = peak * step / warmup if step <= warmup else peak * (steps - step) / (steps - warmup)
        loss = 0.9 + 1.0 * math.exp(-step / (steps / 4)) + rng.uniform(-0.06, 0.06)
        record = {"step": step, "epoch": round(step / steps * 2, 4), "loss": round(loss, 6), "learning_rate": lr,
                  "grad_norm": round(rng.uniform(0.3, 0.6), 4), "tokens_per_second": round(rng.uniform(100, 120), 1),
                  "elapsed": round(step * 9.3, 2), "peak_rss_mib": 324.8}
        if step % 5 == 0:
            record["eval_loss"] = round(loss + 0.08, 6)
        with open(path, "a") as f:
            f.write(json.dumps(record) + "\n")
        time.sleep(interval)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--model-name", default="SmolLM2-135M-Instruct")
    ap.add_argument("--adapters", default="pirate,poet", help="comma-separated adapter names")
    ap.add_argument("--runs", help="folder whose subfolders hold metrics.jsonl")
    ap.add_argument("--simulate-run", metavar="NAME", help="write a growing run NAME under --runs")
    ap.add_argument("--api-key")
    ap.add_argument("--delay", type=float, default=0.04, help="seconds between streamed words")
    ap.add_argument("--quiet", action="store_true")
    c = ap.parse_args()
    c.adapters = [a for a in c.adapters.split(",") if a]
    if c.simulate_run:
        if not c.runs:
            ap.error("--simulate-run needs --runs")
        threading.Thread(target=simulate_training, args=(os.path.join(c.runs, c.simulate_run), 60, 0.5),
                         daemon=True).start()
    Handler.config = c
    server = ThreadingHTTPServer((c.host, c.port), Handler)
    server.daemon_threads = True
    print(f"fake lora serve on http://{c.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
