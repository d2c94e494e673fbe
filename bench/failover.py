"""Failover speed: from a deployment failing to the first token from the fallback.

    python -m bench.failover [--samples N]

Two Groq deployments on the emulator under the ``ordered`` policy: the primary fails, the
fallback answers. Each sample is a fresh router whose connections to both deployments
are already open (a warm-up request fails over once), so a sample measures the failover
path, not a TCP handshake. The figure is the time to the first token of the stream minus
what the failure itself took (0 for a refused connection or a 503; the first-token timeout
for a stall), next to the time to first token of a request with no failure.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from bench.common import KEY, MESSAGES, MODEL, Emulator, closed_port, ms, percentile, table

FIRST_TOKEN_TIMEOUT = 0.25


async def _sample(
    emu: Emulator, primary_url: str, faults: list[dict[str, object]], retries: int
) -> float:
    from llama_router import Deployment, RetryPolicy, Router, TextDelta, Timeouts, ordered

    router = Router(
        [
            Deployment(provider="groq", model=MODEL, base_url=primary_url, name="primary"),
            Deployment(provider="groq", model=MODEL, base_url=emu.url("groq"), name="fallback"),
        ],
        env={"GROQ_API_KEY": KEY},
        policy=ordered(),
        retry=RetryPolicy(max_retries=retries),
        timeouts=Timeouts(first_token=FIRST_TOKEN_TIMEOUT),
    )
    try:
        if primary_url.startswith(emu.root):
            emu.script("groq", {"kind": "status", "status": 503})  # warm-up: opens both
        await router.chat(MODEL, MESSAGES)
        emu.script("groq", *faults)
        start = time.perf_counter()
        async with router.stream(MODEL, MESSAGES) as events:
            async for event in events:
                if isinstance(event, TextDelta) and event.text:
                    return time.perf_counter() - start
        raise RuntimeError("no text arrived")
    finally:
        await router.aclose()


async def run(emu: Emulator, samples: int) -> str:
    emu.reset()
    emu.behave("groq", token_count=20)
    refused = f"http://127.0.0.1:{closed_port()}"
    same = emu.url("groq")
    e503: dict[str, object] = {"kind": "status", "status": 503}
    stall: dict[str, object] = {"kind": "stall", "seconds": 5}
    timeout_ms = f"{FIRST_TOKEN_TIMEOUT * 1000:.0f} ms"
    # (label, primary URL, faults for the primary's tries, retries)
    cases: list[tuple[str, str, list[dict[str, object]], int]] = [
        ("no failure (baseline)", same, [], 0),
        ("connection refused (default: no retry)", refused, [], 1),
        ("HTTP 503, retries off", same, [e503], 0),
        ("HTTP 503, default 1 retry after a jittered backoff", same, [e503, e503], 1),
        (f"stall past the {timeout_ms} first-token timeout, retries off", same, [stall], 0),
        # With the default single retry a stall is still abandoned at once (until 2026-12 it
        # was retried on the stalled deployment first: a backoff and a second try).
        (f"stall past the {timeout_ms} first-token timeout, default 1 retry", same, [stall], 1),
    ]
    rows = []
    for label, primary, faults, retries in cases:
        failing = FIRST_TOKEN_TIMEOUT if faults and faults[0] is stall else 0.0
        times = [await _sample(emu, primary, faults, retries) - failing for _ in range(samples)]
        rows.append(
            [label, ms(statistics.median(times)), ms(percentile(times, 0.9)), ms(max(times))]
        )
    return table(
        ["primary fails by", "to first fallback token, median", "p90", "max"],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=50)
    args = parser.parse_args()
    with Emulator() as emu:
        print(asyncio.run(run(emu, args.samples)))


if __name__ == "__main__":
    main()
