"""Memory: the client's resident set after 1,000 and after 100,000 requests.

    python -m bench.memory [--requests N]

One router with five Groq deployments (``lowest_latency``, aiohttp transport) sends chat
calls and streams, alternately, at concurrency 100. RSS is read after a full garbage
collection. Anything kept per request (health windows, records, caches) would show as
growth between the two readings.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import subprocess
import sys

from bench.common import (
    KEY,
    MESSAGES,
    MODEL,
    Emulator,
    install_loopback_guard,
    pin_client,
    run_calls,
    table,
)

CONCURRENCY = 100


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


async def run(emu: Emulator, requests: int) -> str:
    from llama_router import Deployment, Router, lowest_latency

    emu.reset()
    emu.behave("groq", token_count=20)
    router = Router(
        [
            Deployment(provider="groq", model=MODEL, base_url=emu.url("groq"), name=f"groq-{i}")
            for i in range(5)
        ],
        env={"GROQ_API_KEY": KEY},
        transport="aiohttp",
        policy=lowest_latency(),
    )

    async def one(i: int) -> None:
        if i % 2:
            await router.chat(MODEL, MESSAGES)
        else:
            async with router.stream(MODEL, MESSAGES) as events:
                await events.get_response()

    readings: list[tuple[int, int]] = []
    done = 0
    try:
        for mark in sorted({m for m in (1_000, 10_000, requests) if m <= requests}):
            await run_calls(one, mark - done, CONCURRENCY, start=done + 1)
            done = mark
            gc.collect()
            readings.append((done, rss_bytes()))
    finally:
        await router.aclose()
    first = readings[0][1]
    rows = [
        [f"{n:,}", f"{rss / 2**20:,.1f} MB", f"{(rss - first) / 2**20:+,.1f} MB"]
        for n, rss in readings
    ]
    return table(["requests sent", "client RSS", "growth since 1,000"], rows)


def in_fresh_process(requests: int) -> str:
    """The table from ``python -m bench.memory`` in a new interpreter, so that nothing the
    other sections loaded (LiteLLM among them) is counted."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.memory", "--requests", str(requests)],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=100_000)
    args = parser.parse_args()
    install_loopback_guard()
    pin_client()
    with Emulator() as emu:
        print(asyncio.run(run(emu, args.requests)))


if __name__ == "__main__":
    main()
