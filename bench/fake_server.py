"""A fast fake OpenAI/Groq-shaped server for benchmarks (run in its own process).

    python bench/fake_server.py PORT [CPU]

Answers ``POST /openai/v1/chat/completions`` and ``POST /v1/chat/completions`` with a fixed
completion, or a 20-token SSE stream when the body asks for ``stream``. Pinned to CPU when
given, so that client CPU is measured alone.
"""

from __future__ import annotations

import json
import os
import sys

from aiohttp import web

COMPLETION = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1730000000,
        "model": "llama-3.1-8b-instant",
        "system_fingerprint": "fp_bench",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "Hello from the bench server."},
            }
        ],
        "usage": {
            "prompt_tokens": 18,
            "completion_tokens": 6,
            "total_tokens": 24,
            "queue_time": 0.01,
            "prompt_time": 0.001,
            "completion_time": 0.003,
            "total_time": 0.004,
        },
        "x_groq": {"id": "req_bench"},
    }
).encode()


def _chunk(delta: dict[str, object], finish: str | None = None, **extra: object) -> bytes:
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1730000000,
        "model": "llama-3.1-8b-instant",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


STREAM = b"".join(
    [_chunk({"role": "assistant", "content": ""}, x_groq={"id": "req_bench"})]
    + [_chunk({"content": f" tok{i}"}) for i in range(20)]
    + [
        _chunk(
            {},
            "stop",
            x_groq={
                "id": "req_bench",
                "usage": {
                    "prompt_tokens": 18,
                    "completion_tokens": 20,
                    "total_tokens": 38,
                    "queue_time": 0.01,
                    "prompt_time": 0.001,
                    "completion_time": 0.01,
                    "total_time": 0.011,
                },
            },
        ),
        b"data: [DONE]\n\n",
    ]
)

HEADERS = {
    "x-ratelimit-limit-requests": "14400",
    "x-ratelimit-remaining-requests": "14370",
    "x-ratelimit-reset-requests": "2m59.56s",
    "x-ratelimit-limit-tokens": "18000",
    "x-ratelimit-remaining-tokens": "17997",
    "x-ratelimit-reset-tokens": "7.66s",
}


async def chat(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    if body.get("stream"):
        response = web.StreamResponse(headers={"content-type": "text/event-stream", **HEADERS})
        await response.prepare(request)
        await response.write(STREAM)
        await response.write_eof()
        return response
    return web.Response(body=COMPLETION, content_type="application/json", headers=HEADERS)


def main() -> None:
    port = int(sys.argv[1])
    if len(sys.argv) > 2:
        os.sched_setaffinity(0, {int(sys.argv[2])})
    app = web.Application()
    app.router.add_post("/openai/v1/chat/completions", chat)
    app.router.add_post("/v1/chat/completions", chat)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
