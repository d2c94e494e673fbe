"""Overhead and streaming: client CPU per call, throughput, TTFT added, CPU per token.

    python -m bench.overhead [--calls N] [--no-litellm]

Every client talks to the emulator (a separate process on another CPU) in Groq's wire
format. The emulator answers at once, so what is measured is the client alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
from typing import Any

from bench.clients import Client, client_factories, litellm_available
from bench.common import (
    Emulator,
    Measured,
    install_loopback_guard,
    measure,
    ms,
    pin_client,
    table,
    us,
)

CONCURRENCY = (1, 10, 100)
SHORT, LONG = 20, 220
"""Tokens per stream: the overhead table uses SHORT; CPU per token is the slope to LONG."""


def _calls_for(client: Client, calls: int) -> int:
    return max(50, calls // 4) if client.name.startswith("LiteLLM") else calls


async def _overhead_rows(emu: Emulator, client: Client, calls: int) -> list[list[object]]:
    emu.behave("groq", token_count=SHORT)
    n = _calls_for(client, calls)
    rows: list[list[object]] = []
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
    return rows


async def _streaming_rows(emu: Emulator, client: Client, calls: int) -> list[list[object]]:
    n = _calls_for(client, calls)
    emu.behave("groq", token_count=SHORT)
    for _ in range(20):
        await client.first_token()
    ttft = statistics.median([await client.first_token() for _ in range(n)])
    short = await measure(client.stream, n, 1)
    emu.behave("groq", token_count=LONG)
    long = await measure(client.stream, n, 1)
    per_token = (long.cpu_us - short.cpu_us) / (LONG - SHORT)
    return [[client.name, ttft, per_token]]


async def _child(root: str, section: str, index: int, calls: int, litellm: bool) -> None:
    """Measure one client in this (fresh) process and print its rows as JSON."""
    emu = Emulator(attach=root)
    try:
        client = await client_factories(emu.url("groq"), litellm=litellm)[index]()
        try:
            rows = await (_overhead_rows if section == "overhead" else _streaming_rows)(
                emu, client, calls
            )
        finally:
            await client.aclose()
    finally:
        emu.close()
    print(json.dumps(rows))


def _each_client(emu: Emulator, section: str, calls: int, litellm: bool) -> list[list[Any]]:
    """Every client measured in a fresh process of its own: what one library loaded (LiteLLM
    imports 190 MB of objects, which every later garbage collection walks) must not weigh
    on the next one's figures."""
    rows: list[list[Any]] = []
    count = len(client_factories(emu.url("groq"), litellm=litellm))
    for index in range(count):
        command = [sys.executable, "-m", "bench.overhead", "--child", str(index)]
        command += ["--section", section, "--calls", str(calls), "--emulator", emu.root]
        if not litellm:
            command.append("--no-litellm")
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        rows += json.loads(out.strip().splitlines()[-1])
    return rows


async def overhead(emu: Emulator, calls: int, litellm: bool) -> str:
    emu.reset()
    rows = _each_client(emu, "overhead", calls, litellm)
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
    results = _each_client(emu, "streaming", calls, litellm)
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
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--section", default="overhead", help=argparse.SUPPRESS)
    parser.add_argument("--emulator", help=argparse.SUPPRESS)
    args = parser.parse_args()
    install_loopback_guard()
    pin_client()
    if args.child is not None:
        litellm = not args.no_litellm
        asyncio.run(_child(args.emulator, args.section, args.child, args.calls, litellm))
        return
    litellm = litellm_available() and not args.no_litellm
    with Emulator() as emu:
        print(asyncio.run(overhead(emu, args.calls, litellm)))
        print()
        print(asyncio.run(streaming(emu, args.calls // 2, litellm)))


if __name__ == "__main__":
    main()
