#!/usr/bin/env python3
"""Load generator for `lora serve` (standard library only).

    scripts/serve_load.py --url http://127.0.0.1:8080 --clients 16 --requests 64 --models a1,a2 [--pid PID]

Each client thread sends chat completions one after another, round-robin over --models, until
--requests have been sent in all. Prints one JSON line: aggregate generated tokens/s (completion
tokens from `usage` over wall time), p50/p99 latency, failures, and the server's peak and current
RSS (from /proc/PID/status) with RSS sampled after warm-up and at the end.
"""
import argparse, http.client, json, statistics, threading, time, urllib.parse


def rss(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--requests", type=int, default=64)
    ap.add_argument("--models", required=True, help="comma list; requests go round-robin over it")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--pid", type=int)
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    models = a.models.split(",")
    url = urllib.parse.urlparse(a.url)
    prompts = ["Explain what a firewall does.", "Write a haiku about autumn.", "What is LoRA fine-tuning?",
               "Give three tips for writing clean code.", "Describe the water cycle."]
    lock = threading.Lock()
    next_index = [0]
    latencies, tokens, failures = [], [0], []
    rss_samples = []

    def client():
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=600)
        while True:
            with lock:
                i = next_index[0]
                if i >= a.requests:
                    break
                next_index[0] += 1
            body = json.dumps({"model": models[i % len(models)], "max_tokens": a.max_tokens, "temperature": 0.7,
                               "seed": i, "messages": [{"role": "user", "content": prompts[i % len(prompts)]}]})
            start = time.perf_counter()
            try:
                conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
                response = conn.getresponse()
                data = response.read()
                elapsed = time.perf_counter() - start
                if response.status != 200:
                    with lock:
                        failures.append(f"{response.status} {data[:200]!r}")
                    continue
                usage = json.loads(data)["usage"]
                with lock:
                    latencies.append(elapsed)
                    tokens[0] += usage["completion_tokens"]
                    if a.pid and len(latencies) % max(1, a.requests // 20) == 0:
                        rss_samples.append(rss(a.pid, "VmRSS"))
            except Exception as e:  # a dropped connection counts as a failure
                with lock:
                    failures.append(repr(e))
                conn.close()
                conn = http.client.HTTPConnection(url.hostname, url.port, timeout=600)

    threads = [threading.Thread(target=client) for _ in range(a.clients)]
    wall = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - wall
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else None
    out = {"label": a.label, "clients": a.clients, "requests": a.requests, "models": len(models),
           "ok": len(latencies), "failed": len(failures), "tokens": tokens[0], "seconds": round(wall, 2),
           "tokens_per_second": round(tokens[0] / wall, 1), "p50_s": round(p(0.5), 3) if latencies else None,
           "p99_s": round(p(0.99), 3) if latencies else None}
    if a.pid:
        out["peak_rss_mib"] = round(rss(a.pid, "VmHWM") or 0, 1)
        out["rss_mib_after_warmup"] = round(rss_samples[1], 1) if len(rss_samples) > 1 else None
        out["rss_mib_end"] = round(rss(a.pid, "VmRSS") or 0, 1)
    if failures:
        out["first_failures"] = failures[:3]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
