#!/usr/bin/env python3
"""`lora serve` driven by the official `openai` Python package, unmodified:

    python3 Tests/web/openai_client_test.py --base-url http://127.0.0.1:PORT/v1 --adapter NAME [--api-key K]

Model list, a chat completion with usage, greedy reproducibility, a streamed one, the adapter by
name (chat and plain completion), seeded reproducibility, and errors mapped to the client's
exception types (404 NotFoundError, 400 BadRequestError, and with --api-key a wrong key's 401
AuthenticationError). Prints one line per check; exits non-zero on the first failure.
"""
import argparse
import sys

import openai
from openai import OpenAI


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)
    print("ok:", message, flush=True)


def expect_error(kind, status, call, message):
    try:
        call()
    except kind as e:
        check(e.status_code == status, f"{message}: {kind.__name__} ({e.status_code})")
        return e
    except openai.APIStatusError as e:
        raise Failure(f"{message}: expected {kind.__name__}, got {type(e).__name__} ({e.status_code}): {e}")
    raise Failure(f"{message}: expected {kind.__name__}, the request succeeded")


def run(a):
    client = OpenAI(base_url=a.base_url, api_key=a.api_key or "unused", max_retries=0, timeout=120)

    models = client.models.list().data
    ids = [m.id for m in models]
    check(len(ids) >= 2 and a.adapter in ids[1:], f"models: base {ids[0]!r} and adapter {a.adapter!r} in {ids}")
    base = ids[0]

    question = [{"role": "user", "content": "What is a DDoS attack and how do you defend against it?"}]
    reply = client.chat.completions.create(model=base, messages=question, max_tokens=24, temperature=0)
    text = reply.choices[0].message.content
    check(reply.object == "chat.completion" and reply.choices[0].message.role == "assistant",
          "chat completion object with an assistant message")
    check(bool(text and text.strip()), f"chat completion text: {text[:70]!r}")
    u = reply.usage
    check(u is not None and u.prompt_tokens > 0 and 0 < u.completion_tokens <= 24
          and u.total_tokens == u.prompt_tokens + u.completion_tokens,
          f"usage: {u.prompt_tokens} prompt + {u.completion_tokens} completion = {u.total_tokens} total")
    check(reply.choices[0].finish_reason in ("stop", "length"), f"finish_reason {reply.choices[0].finish_reason!r}")

    again = client.chat.completions.create(model=base, messages=question, max_tokens=24, temperature=0)
    check(again.choices[0].message.content == text, "temperature 0 gives the same text twice")

    stream = client.chat.completions.create(model=base, messages=question, max_tokens=24, temperature=0, stream=True)
    pieces, finish, roles = [], None, []
    for chunk in stream:
        if chunk.choices:
            delta = chunk.choices[0].delta
            roles += [delta.role] if delta.role else []
            if delta.content:
                pieces.append(delta.content)
            finish = chunk.choices[0].finish_reason or finish
    streamed = "".join(pieces)
    check(len(pieces) >= 3 and streamed.strip(), f"stream: {len(pieces)} content chunks, text {streamed[:50]!r}")
    check(roles[:1] == ["assistant"], "the first chunk carries role 'assistant'")
    check(streamed == text, "the streamed text equals the non-streamed greedy text")
    check(finish in ("stop", "length"), f"the stream ends with finish_reason {finish!r}")

    adapted = client.chat.completions.create(model=a.adapter, messages=question, max_tokens=24, temperature=0)
    check(adapted.model == a.adapter, f"the reply names the adapter: model {adapted.model!r}")
    check(adapted.choices[0].message.content != text,
          f"adapter {a.adapter!r} answers differently: {adapted.choices[0].message.content[:70]!r}")

    completion = client.completions.create(model=a.adapter, prompt="The capital of France is", max_tokens=8,
                                           temperature=0)
    check(completion.model == a.adapter and bool(completion.choices[0].text),
          f"completion on {a.adapter!r}: {completion.choices[0].text!r}")
    cu = completion.usage
    check(cu is not None and cu.total_tokens == cu.prompt_tokens + cu.completion_tokens,
          "completion usage adds up")

    seeded = [client.chat.completions.create(model=base, messages=question, max_tokens=16, temperature=1.0,
                                             seed=7).choices[0].message.content for _ in range(2)]
    check(seeded[0] == seeded[1], "the same seed gives the same sample")

    expect_error(openai.NotFoundError, 404,
                 lambda: client.chat.completions.create(model="no-such-adapter", messages=question, max_tokens=4),
                 "an unknown model")
    e = expect_error(openai.BadRequestError, 400,
                     lambda: client.chat.completions.create(model=base, messages=question, max_tokens=-1),
                     "max_tokens -1")
    check("max_tokens" in str(e), f"the 400 names the field: {e.message}")
    if a.api_key:
        wrong = OpenAI(base_url=a.base_url, api_key=a.api_key + "-wrong", max_retries=0)
        expect_error(openai.AuthenticationError, 401, lambda: wrong.models.list(), "a wrong API key")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base-url", required=True, help="e.g. http://127.0.0.1:8080/v1")
    ap.add_argument("--adapter", required=True, help="an adapter the server serves")
    ap.add_argument("--api-key", help="the server's --api-key, if it has one")
    a = ap.parse_args()
    print(f"openai {openai.__version__} against {a.base_url}", flush=True)
    try:
        run(a)
    except Failure as e:
        print("FAIL:", e, flush=True)
        return 1
    except openai.APIError as e:
        print(f"FAIL: unexpected {type(e).__name__}: {e}", flush=True)
        return 1
    print("openai client test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
