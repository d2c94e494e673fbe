"""Overhead and streaming: client CPU per call, throughput, TTFT added, CPU per token.

    python -m bench.overhead [--calls N] [--no-litellm]

Every client talks to the emulator (a separate process on another CPU) in Groq's wire
format. The emulator answers at once, so what is measured is the client alone.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics

from bench.clients import Client, client_factories, litellm_available
from bench.common import Emulator, Measured, measure, ms, pin_client, table, us

CONCURRENCY = (1, 10, 100)
SHORT, LONG = 20, 220
"""Tokens per stream: the overhead table uses SHORT; CPU per token is the slope to LONG."""


def _calls_for(client: Client, calls: int) -> int:
    return max(50, calls // 4) if client.name.startswith("LiteLLM") else calls


async def overhead(emu: Emulator, calls: int, litellm: bool) -> str:
    emu.reset()
    emu.behave("groq", token_count=SHORT)
    rows = []
    for factory in client_factories(emu.url("groq"), litellm=litellm):
        client = await factory()
        try:
            n = _calls_for(client, calls)
            for concurrency in CONCURRENCY:
                chat: Measured = await measure(client.chat, n, concurrency)
                stream: Measured = await measure(client.stream, n, concurrency)
                rows.append(
                    [
                        client.name,
                        concurrency,
                        f"{chat.per_second:,.0f}",
                        us(chat.cpu_us),
                        f"{stream.per_second:,.0f}",
                        us(stream.cpu_us),
                    ]
                )
        finally:
            await client.aclose()
    return table(
        [
            "client",
            "concurrency",
            "chat calls/s",
            "µs CPU / chat call",
            f"streams/s ({SHORT} tokens)",
            f"µs CPU / {SHORT}-token stream",
        ],
        rows,
    )


async def streaming(emu: Emulator, calls: int, litellm: bool) -> str:
    emu.reset()
    results: list[tuple[str, float, float]] = []
    for factory in client_factories(emu.url("groq"), litellm=litellm):
        client = await factory()
        try:
            n = _calls_for(client, calls)
            emu.behave("groq", token_count=SHORT)
            for _ in range(20):
                await client.first_token()
            ttft = statistics.median([await client.first_token() for _ in range(n)])
            short = await measure(client.stream, n, 1)
            emu.behave("groq", token_count=LONG)
            long = await measure(client.stream, n, 1)
            results.append((client.name, ttft, (long.cpu_us - short.cpu_us) / (LONG - SHORT)))
        finally:
            await client.aclose()
    sdk = next(ttft for name, ttft, _ in results if name.startswith("groq"))
    rows = [
        [name, ms(ttft), f"{(ttft - sdk) * 1000:+,.2f} ms", f"{per_token:,.1f}"]
        for name, ttft, per_token in results
    ]
    return table(
        ["client", "median TTFT", "TTFT added over the Groq SDK", "µs CPU per streamed token"],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--no-litellm", action="store_true")
    args = parser.parse_args()
    pin_client()
    litellm = litellm_available() and not args.no_litellm
    with Emulator() as emu:
        print(asyncio.run(overhead(emu, args.calls, litellm)))
        print()
        print(asyncio.run(streaming(emu, args.calls // 2, litellm)))


if __name__ == "__main__":
    main()
