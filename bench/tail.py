"""Tail latency with 5 % of replies slowed tenfold, with and without hedging.

    python -m bench.tail [--requests N]

Two Groq deployments on the emulator, ``ordered`` policy. Every reply is a stream of 20
tokens: 20 ms to the first token, then 200 tokens/s, about 115 ms in all. A seeded 5 % of
replies take ten times as long, the delay coming before the first token, as it does when a
provider queues the request on an overloaded replica. With hedging, a primary that has
sent no token after the hedge delay is raced by the second deployment. Latency is the
whole stream, request to last token, at concurrency 10, after a warm-up that gives the
router its latency estimates.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from bench.common import KEY, MESSAGES, MODEL, Emulator, ms, percentile, run_calls, table

TTFT = 0.02
TOKENS, TOKENS_PER_SECOND = 20, 200.0
BASE = TTFT + (TOKENS - 1) / TOKENS_PER_SECOND
SLOW_SHARE = 0.05
CONCURRENCY = 10


async def _run(emu: Emulator, requests: int, hedging: Any) -> tuple[list[float], int]:
    from llama_router import Deployment, Router, ordered

    router = Router(
        [
            Deployment(provider="groq", model=MODEL, base_url=emu.url("groq"), name=f"groq-{i}")
            for i in range(2)
        ],
        env={"GROQ_API_KEY": KEY},
        policy=ordered(),
        hedging=hedging,
    )
    latencies: list[float] = []

    async def one(_: int) -> None:
        start = time.perf_counter()
        async with router.stream(MODEL, MESSAGES) as events:
            await events.get_response()
        latencies.append(time.perf_counter() - start)

    try:
        await run_calls(one, 200, CONCURRENCY)  # warm-up: latency estimates
        latencies.clear()
        before = emu.requests("groq")
        await run_calls(one, requests, CONCURRENCY)
        sent = emu.requests("groq") - before
    finally:
        await router.aclose()
    return latencies, sent - requests


async def run(emu: Emulator, requests: int) -> str:
    from llama_router import Hedging

    rows = []
    cases = [
        ("no hedging", None),
        ("hedging, defaults (after the primary's p95 TTFT)", Hedging()),
        (f"hedging, fixed delay {TTFT * 2 * 1000:.0f} ms", Hedging(delay=TTFT * 2)),
    ]
    for label, hedging in cases:
        emu.reset()
        emu.behave("groq", ttft=TTFT, token_count=TOKENS, tokens_per_second=TOKENS_PER_SECOND)
        emu.random("groq", {"kind": "slow", "seconds": BASE * 9}, SLOW_SHARE, seed=2026)
        latencies, extra = await _run(emu, requests, hedging)
        p50 = statistics.median(latencies)
        p99 = percentile(latencies, 0.99)
        rows.append(
            [
                label,
                ms(p50),
                ms(p99),
                f"{p99 / p50:.2f} x",
                ms(max(latencies)),
                f"{extra} ({extra / requests:.1%})",
            ]
        )
    return table(
        ["", "p50", "p99", "p99 / p50", "max", "extra requests sent"],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    with Emulator() as emu:
        print(asyncio.run(run(emu, args.requests)))


if __name__ == "__main__":
    main()
