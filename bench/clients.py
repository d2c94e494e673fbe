"""The clients the benchmarks compare, each set up once and called the same way.

Every client sends the same one-message chat to the emulator's Groq wire format and reads
the whole reply: a parsed JSON body, or every chunk of a stream.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from bench.common import GROQ_MODEL_ID, KEY, MESSAGES, MODEL

__all__ = ["Client", "client_factories"]


@dataclass(frozen=True)
class Client:
    name: str
    chat: Callable[[], Awaitable[object]]
    stream: Callable[[], Awaitable[object]]
    first_token: Callable[[], Awaitable[float]]
    """Seconds from the call to the first text of a stream (the stream is then drained)."""
    aclose: Callable[[], Awaitable[None]]


def _raw_httpx(base: str, transport: str) -> Client:
    if transport == "aiohttp":
        from httpx_aiohttp import AiohttpTransport

        client = httpx.AsyncClient(
            transport=AiohttpTransport(limits=httpx.Limits(max_connections=200))
        )
    else:
        client = httpx.AsyncClient(limits=httpx.Limits(max_connections=200))
    url = f"{base}/openai/v1/chat/completions"
    body = {"model": GROQ_MODEL_ID, "messages": MESSAGES}
    headers = {"Authorization": f"Bearer {KEY}"}

    async def chat() -> object:
        return (await client.post(url, json=body, headers=headers)).json()

    async def stream() -> object:
        async with client.stream(
            "POST", url, json={**body, "stream": True}, headers=headers
        ) as response:
            return [
                json.loads(line[6:]) async for line in response.aiter_lines() if line[6:7] == "{"
            ]

    async def first_token() -> float:
        start = time.perf_counter()
        seen: float | None = None
        async with client.stream(
            "POST", url, json={**body, "stream": True}, headers=headers
        ) as response:
            async for line in response.aiter_lines():
                if seen is None and line[6:7] == "{":
                    delta = json.loads(line[6:])["choices"][0]["delta"]
                    if delta.get("content"):
                        seen = time.perf_counter() - start
        assert seen is not None
        return seen

    name = "raw httpx" + (" (aiohttp transport)" if transport == "aiohttp" else "")
    return Client(name, chat, stream, first_token, client.aclose)


def _groq_sdk(base: str) -> Client:
    import groq

    sdk = groq.AsyncGroq(
        api_key=KEY,
        base_url=base,
        max_retries=0,
        http_client=httpx.AsyncClient(limits=httpx.Limits(max_connections=200)),
    )
    messages: Any = MESSAGES

    async def chat() -> object:
        return await sdk.chat.completions.create(model=GROQ_MODEL_ID, messages=messages)

    async def stream() -> object:
        chunks = await sdk.chat.completions.create(
            model=GROQ_MODEL_ID, messages=messages, stream=True
        )
        return [chunk async for chunk in chunks]

    async def first_token() -> float:
        start = time.perf_counter()
        seen: float | None = None
        chunks = await sdk.chat.completions.create(
            model=GROQ_MODEL_ID, messages=messages, stream=True
        )
        async for chunk in chunks:
            if seen is None and chunk.choices and chunk.choices[0].delta.content:
                seen = time.perf_counter() - start
        assert seen is not None
        return seen

    return Client("groq.AsyncGroq, direct", chat, stream, first_token, sdk.close)


def _router(base: str, deployments: int, transport: str) -> Client:
    from llama_router import Deployment, Router, TextDelta, lowest_latency, ordered

    router = Router(
        [
            Deployment(provider="groq", model=MODEL, base_url=base, name=f"groq-{i}")
            for i in range(deployments)
        ],
        env={"GROQ_API_KEY": KEY},
        transport=transport,  # type: ignore[arg-type]
        policy=lowest_latency() if deployments > 1 else ordered(),
    )

    async def chat() -> object:
        return await router.chat(MODEL, MESSAGES)

    async def stream() -> object:
        async with router.stream(MODEL, MESSAGES) as events:
            return await events.get_response()

    async def first_token() -> float:
        start = time.perf_counter()
        seen: float | None = None
        async with router.stream(MODEL, MESSAGES) as events:
            async for event in events:
                if seen is None and isinstance(event, TextDelta) and event.text:
                    seen = time.perf_counter() - start
        assert seen is not None
        return seen

    plural = "deployment" if deployments == 1 else "deployments, lowest_latency"
    name = f"llama_router, {deployments} {plural} ({transport})"
    return Client(name, chat, stream, first_token, router.aclose)


async def _litellm(base: str, deployments: int) -> Client:
    from bench.litellm_client import make_litellm_router

    client = await make_litellm_router(f"{base}/openai/v1", deployments)
    plural = "deployment" if deployments == 1 else "deployments, latency-based-routing"
    return Client(
        f"LiteLLM Router, {deployments} {plural}",
        client.chat,
        client.stream,
        client.first_token,
        client.aclose,
    )


def litellm_available() -> bool:
    try:
        import importlib.util

        return importlib.util.find_spec("litellm") is not None
    except ValueError:
        return False


Factory = Callable[[], Awaitable[Client]]


def client_factories(base: str, *, litellm: bool) -> list[Factory]:
    """Every client of the overhead table, against the emulator's Groq prefix ``base``.

    Each is made, measured and closed before the next: LiteLLM's HTTP clients and its
    latency callback are process-wide, so two live LiteLLM routers would tax each other.
    """

    def ready(make: Callable[[], Client]) -> Factory:
        async def factory() -> Client:
            return make()

        return factory

    factories = [
        ready(lambda: _raw_httpx(base, "httpx")),
        ready(lambda: _raw_httpx(base, "aiohttp")),
        ready(lambda: _groq_sdk(base)),
        ready(lambda: _router(base, 1, "httpx")),
        ready(lambda: _router(base, 1, "aiohttp")),
        ready(lambda: _router(base, 5, "httpx")),
        ready(lambda: _router(base, 5, "aiohttp")),
    ]
    if litellm:
        factories += [lambda: _litellm(base, 1), lambda: _litellm(base, 5)]
    return factories
