#!/usr/bin/env python3
"""`lora serve` driven by the official `openai` Python package, unmodified:

    python3 Tests/web/openai_client_test.py --base-url http://127.0.0.1:PORT/v1 --adapter NAME

Model list, a chat completion with usage, a streamed one, a completion on the adapter by name,
seeded and greedy reproducibility, and errors mapped to the client's exception types.
"""
import argparse, sys
import openai
from openai import OpenAI


def check(condition, message):
    if not condition:
        print("FAIL:", message)
        sys.exit(1)
    print("ok:", message)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--adapter", required=True)
    ap.add_argument("--api-key", default="unused")
    a = ap.parse_args()
    client = OpenAI(base_url=a.base_url, api_key=a.api_key, max_retries=0)

    models = [m.id for m in client.models.list().data]
    base = models[0]
    check(a.adapter in models and len(models) >= 2, f"models: {models}")

    question = [{"role": "user", "content": "What is a DDoS attack and how do you defend against it?"}]
    reply = client.chat.completions.create(model=base, messages=question, max_tokens=24, temperature=0)
    text = reply.choices[0].message.content
    check(bool(text), f"chat completion: {text!r}")
    u = reply.usage
    check(u.completion_tokens > 0 and u.prompt_tokens > 0 and u.total_tokens == u.prompt_tokens + u.completion_tokens,
          f"usage {u.prompt_tokens} + {u.completion_tokens} = {u.total_tokens}")
    check(reply.choices[0].finish_reason in ("stop", "length"), f"finish_reason {reply.choices[0].finish_reason}")

    again = client.chat.completions.create(model=base, messages=question, max_tokens=24, temperature=0)
    check(again.choices[0].message.content == text, "temperature 0 gives the same text twice")

    stream = client.chat.completions.create(model=base, messages=question, max_tokens=24, temperature=0, stream=True)
    pieces, finish = [], None
    for chunk in stream:
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
    check(len(pieces) > 3 and "".join(pieces) == text, f"streamed {len(pieces)} chunks adding up to the same text")
    check(finish in ("stop", "length"), f"stream ends with finish_reason {finish}")

    adapted = client.chat.completions.create(model=a.adapter, messages=question, max_tokens=24, temperature=0)
    check(adapted.model == a.adapter and adapted.choices[0].message.content != text,
          f"adapter '{a.adapter}' answers differently: {adapted.choices[0].message.content!r}")

    completion = client.completions.create(model=a.adapter, prompt="The capital of France is", max_tokens=8,
                                           temperature=0)
    check(bool(completion.choices[0].text), f"completion: {completion.choices[0].text!r}")

    seeded = [client.chat.completions.create(model=base, messages=question, max_tokens=16, temperature=1.0,
                                             seed=7).choices[0].message.content for _ in range(2)]
    check(seeded[0] == seeded[1], "the same seed gives the same sample")

    try:
        client.chat.completions.create(model="no-such-adapter", messages=question)
        check(False, "an unknown model is refused")
    except openai.NotFoundError as e:
        check(e.status_code == 404, "an unknown model is a NotFoundError (404)")
    try:
        client.chat.completions.create(model=base, messages=question, max_tokens=-1)
        check(False, "max_tokens -1 is refused")
    except openai.BadRequestError as e:
        check(e.status_code == 400 and "max_tokens" in str(e), "max_tokens -1 is a BadRequestError naming the field")
    print("openai client test passed")


if __name__ == "__main__":
    main()
