"""Client CPU per call: raw httpx, the Groq SDK called directly, and llama_router.

    python bench/overhead.py [--calls N]

Starts bench/fake_server.py in its own process on CPU 1 and runs the clients on CPU 0,
measuring process CPU time (not wall time) per chat call and per 20-token stream at
concurrency 1 and 100. Prints a markdown table. Not part of the test run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

HERE = Path(__file__).parent
MESSAGES = [{"role": "user", "content": "Say hello."}]
Call = Callable[[], Awaitable[object]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, str(HERE / "fake_server.py"), str(port), "1"])
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("bench server did not start")


async def measure(call: Call, calls: int, concurrency: int) -> float:
    """CPU microseconds per call."""
    for _ in range(min(50, calls)):  # warm up connections and caches
        await call()
    semaphore = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with semaphore:
            await call()

    start = time.process_time()
    await asyncio.gather(*(one() for _ in range(calls)))
    return (time.process_time() - start) / calls * 1e6


async def run(port: int, calls: int) -> list[tuple[str, str, float, float]]:
    import groq

    from llama_router import Deployment, Router, lowest_latency

    base = f"http://127.0.0.1:{port}"
    rows: list[tuple[str, str, float, float]] = []

    raw = httpx.AsyncClient(limits=httpx.Limits(max_connections=200))
    url = f"{base}/openai/v1/chat/completions"
    body = {"model": "llama-3.1-8b-instant", "messages": MESSAGES}

    async def raw_chat() -> object:
        return (await raw.post(url, json=body)).json()

    async def raw_stream() -> object:
        async with raw.stream("POST", url, json={**body, "stream": True}) as response:
            return [line async for line in response.aiter_lines()]

    sdk = groq.AsyncGroq(
        api_key="gsk_bench",
        base_url=base,
        max_retries=0,
        http_client=httpx.AsyncClient(limits=httpx.Limits(max_connections=200)),
    )

    async def sdk_chat() -> object:
        return await sdk.chat.completions.create(model="llama-3.1-8b-instant", messages=MESSAGES)  # type: ignore[arg-type]

    async def sdk_stream() -> object:
        stream = await sdk.chat.completions.create(
            model="llama-3.1-8b-instant",
            messages=MESSAGES,  # type: ignore[arg-type]
            stream=True,
        )
        return [chunk async for chunk in stream]

    clients: list[tuple[str, Call, Call]] = [
        ("raw httpx", raw_chat, raw_stream),
        ("groq.AsyncGroq direct", sdk_chat, sdk_stream),
    ]
    routers = []
    for transport in ("httpx", "aiohttp"):
        router = Router(
            [Deployment(provider="groq", model="llama-3.1-8b", base_url=base)],
            env={"GROQ_API_KEY": "gsk_bench"},
            transport=transport,
        )
        routers.append(router)

        async def r_chat(router: Router = router) -> object:
            return await router.chat("llama-3.1-8b", MESSAGES)

        async def r_stream(router: Router = router) -> object:
            async with router.stream("llama-3.1-8b", MESSAGES) as stream:
                return await stream.get_response()

        clients.append((f"llama_router, 1 deployment ({transport})", r_chat, r_stream))

    five = Router(
        [
            Deployment(provider="groq", model="llama-3.1-8b", base_url=base, name=f"groq-{i}")
            for i in range(5)
        ],
        env={"GROQ_API_KEY": "gsk_bench"},
        transport="aiohttp",
        policy=lowest_latency(),
    )
    routers.append(five)

    async def five_chat() -> object:
        return await five.chat("llama-3.1-8b", MESSAGES)

    async def five_stream() -> object:
        async with five.stream("llama-3.1-8b", MESSAGES) as stream:
            return await stream.get_response()

    clients.append(
        ("llama_router, 5 deployments, lowest_latency (aiohttp)", five_chat, five_stream)
    )

    for name, chat, stream in clients:
        for concurrency in (1, 100):
            chat_us = await measure(chat, calls, concurrency)
            stream_us = await measure(stream, calls, concurrency)
            rows.append((name, str(concurrency), chat_us, stream_us))
    await raw.aclose()
    for router in routers:
        await router.aclose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    port = free_port()
    server = start_server(port)
    try:
        os.sched_setaffinity(0, {0})
        rows = asyncio.run(run(port, args.calls))
    finally:
        server.terminate()
        server.wait()
    print(f"\nClient CPU per call ({args.calls} calls each; server on another core)\n")
    print("| client | concurrency | µs CPU / chat call | µs CPU / 20-token stream |")
    print("| --- | ---: | ---: | ---: |")
    for name, concurrency, chat_us, stream_us in rows:
        print(f"| {name} | {concurrency} | {chat_us:,.0f} | {stream_us:,.0f} |")


if __name__ == "__main__":
    main()
