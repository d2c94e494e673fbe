"""The local engines on the tiny model: time to first token and tokens per second of the
embedded engine (llama.cpp in-process) against upstream llama.cpp's server on loopback, and
what a cancelled non-streamed request costs the next one.

    python -m bench.engines [--requests N] [--tokens T]

Both run the same GGUF (the tiny test model: random weights, so answers are noise and their
length varies with the seed; the fixed seeds make runs comparable) on one thread.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

MODEL = "llama-3.1-8b"
MESSAGES = [{"role": "user", "content": "Say hi."}]


async def _streams(router: Any, n: int, tokens: int) -> tuple[float, float]:
    """Median time to first token (ms) and median tokens/s after it, over ``n`` streams."""
    ttfts: list[float] = []
    speeds: list[float] = []
    for seed in range(n):
        started = time.perf_counter()
        first: float | None = None
        async with router.stream(MODEL, MESSAGES, max_tokens=tokens, seed=seed) as stream:
            async for _ in stream:
                if first is None:
                    first = time.perf_counter()
            response = stream.response
        end = time.perf_counter()
        assert first is not None
        assert response is not None
        ttfts.append((first - started) * 1000)
        generated = response.usage.completion_tokens
        if generated > 1 and end > first:
            speeds.append((generated - 1) / (end - first))
    return statistics.median(ttfts), statistics.median(speeds)


async def _after_cancels(router: Any, cancels: int) -> tuple[float, float]:
    """(ms for a 4-token chat on an idle engine, ms for the same chat right after ``cancels``
    1500-token chats were each cancelled after 50 ms)."""

    async def short() -> float:
        started = time.perf_counter()
        await router.chat(MODEL, MESSAGES, max_tokens=4, seed=8)
        return (time.perf_counter() - started) * 1000

    idle = min([await short() for _ in range(3)])
    for seed in range(cancels):
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(router.chat(MODEL, MESSAGES, max_tokens=1500, seed=seed), 0.05)
    return idle, await short()


async def run(requests: int, tokens: int) -> str:
    from llama_router import Deployment, Router
    from llama_router.testing import write_tiny_llama
    from llama_router.testing.servers import LlamaCppServer

    model = write_tiny_llama(Path(tempfile.mkdtemp()) / "tiny.gguf")
    rows = [
        "| engine | median TTFT | median tokens/s | 4-token chat idle | after 3 cancelled chats |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    async with LlamaCppServer(model, n_ctx=4096, n_threads=1, n_parallel=1) as server:
        engines = {
            "embedded (in-process)": Deployment(
                provider="embedded",
                model=MODEL,
                model_path=str(model),
                num_ctx=4096,
                n_threads=1,
                n_parallel=1,
            ),
            "llama.cpp server (loopback)": Deployment(
                provider="llamacpp", model=MODEL, base_url=server.base_url
            ),
        }
        for label, deployment in engines.items():
            async with Router([deployment], env={}) as router:
                await router.chat(MODEL, MESSAGES, max_tokens=4)  # load / connect
                ttft, speed = await _streams(router, requests, tokens)
                idle, after = await _after_cancels(router, 3)
            rows.append(
                f"| {label} | {ttft:.1f} ms | {speed:,.0f} | {idle:.1f} ms | {after:.1f} ms |"
            )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.engines")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--tokens", type=int, default=64)
    args = parser.parse_args()
    print(asyncio.run(run(args.requests, args.tokens)))


if __name__ == "__main__":
    main()
