"""The llama.cpp backend and the router against upstream llama.cpp's own server (from the
prebuilt ``xllamacpp`` wheel) on 127.0.0.1, serving the tiny test model. llama-cpp-python's
server (no ``/health``, ``include_usage`` ignored) is covered on the wire in
``tests/backends/test_llamacpp.py``."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from llama_router import (
    ContextLengthExceededError,
    Deployment,
    ProviderUnreachableError,
    Router,
    StreamInterruptedError,
    TextDelta,
)
from llama_router.routing.options import RetryPolicy
from llama_router.testing.servers import LlamaCppServer, free_port

from .conftest import HAVE_LOCAL, N_CTX

pytestmark = pytest.mark.skipif(not HAVE_LOCAL, reason="needs the 'local' extra")

MODEL = "llama-3.1-8b"
HI = [{"role": "user", "content": "Say hi."}]


def server_deployment(server: LlamaCppServer, **kw: Any) -> Deployment:
    return Deployment(
        provider="llamacpp",
        model=MODEL,
        name="server",
        base_url=server.base_url,
        **{"context_window": N_CTX, **kw},
    )


def embedded_deployment(model: Path, n_ctx: int = 2048) -> Deployment:
    return Deployment(
        provider="embedded",
        model=MODEL,
        name="embedded",
        model_path=str(model),
        num_ctx=n_ctx,
        n_threads=1,
    )


async def test_chat(server: LlamaCppServer) -> None:
    async with Router([server_deployment(server)], env={}) as router:
        reply = await router.chat(MODEL, HI, max_tokens=8, seed=1, temperature=0.7)
    assert reply.deployment == "server"
    assert reply.text
    assert reply.usage.prompt_tokens > len("Say hi.")  # byte tokens plus the chat template
    assert 1 <= reply.usage.completion_tokens <= 9
    assert reply.finish_reason in ("length", "stop")
    assert reply.provider_model.endswith("tiny.gguf")  # upstream names the file it serves
    assert reply.cost_usd == 0.0
    assert reply.latency_s > 0


async def test_stream_deltas_add_up_to_the_response(server: LlamaCppServer) -> None:
    async with Router([server_deployment(server)], env={}) as router:
        texts: list[str] = []
        async with router.stream(MODEL, HI, max_tokens=12, seed=2) as stream:
            async for event in stream:
                if isinstance(event, TextDelta):
                    texts.append(event.text)
        response = stream.response
    assert texts
    assert "".join(texts) == response.text
    # a chunk holds back bytes that are not yet whole UTF-8, so chunks <= tokens
    assert 1 <= len(texts) <= response.usage.completion_tokens <= 12
    assert response.time_to_first_token_s is not None
    assert 0 < response.time_to_first_token_s <= response.latency_s


async def test_health_reads_the_health_endpoint(server: LlamaCppServer) -> None:
    async with Router([server_deployment(server)], env={}) as router:
        report = (await router.health())["server"]
    assert report.ok
    assert report.loaded is True
    assert report.detail == "GET /health: ok"


async def test_context_overflow_is_typed_and_fails_over_to_a_larger_window(
    server: LlamaCppServer, tiny_model: Path
) -> None:
    long_prompt = [{"role": "user", "content": "word " * 400}]  # ~2000 byte tokens > 1024
    async with Router([server_deployment(server)], env={}) as router:
        with pytest.raises(ContextLengthExceededError) as info:
            await router.chat(MODEL, long_prompt, max_tokens=8)
    assert info.value.status_code == 400
    assert info.value.deployment == "server"

    deployments = [
        server_deployment(server),  # its window (1024) is known: only larger ones are tried
        embedded_deployment(tiny_model, 4096),
    ]
    async with Router(deployments, env={}) as router:
        reply = await router.chat(MODEL, long_prompt, max_tokens=4)
    assert reply.deployment == "embedded"
    assert [a.error for a in reply.route] == ["ContextLengthExceededError", None]


async def test_server_killed_mid_stream_raises_with_the_partial_text(
    server: LlamaCppServer,
) -> None:
    received: list[str] = []

    async def read_and_kill_the_server_after_3_tokens(router: Router) -> None:
        async with router.stream(MODEL, HI, max_tokens=800, seed=3) as stream:
            async for event in stream:
                if isinstance(event, TextDelta):
                    received.append(event.text)
                    if len(received) == 3:
                        await asyncio.to_thread(server.kill)

    async with Router([server_deployment(server)], env={}) as router:
        with pytest.raises(StreamInterruptedError) as info:
            await read_and_kill_the_server_after_3_tokens(router)
    assert len(received) >= 3
    assert info.value.partial_text == "".join(received)


async def test_server_killed_mid_stream_is_continued_elsewhere(
    server: LlamaCppServer, tiny_model: Path
) -> None:
    received: list[str] = []
    deployments = [server_deployment(server), embedded_deployment(tiny_model)]
    async with Router(deployments, env={}, continuation=True) as router:
        async with router.stream(
            MODEL, HI, max_tokens=900, seed=0
        ) as stream:  # ~0.5 s of generation: the kill lands mid-answer
            async for event in stream:
                if isinstance(event, TextDelta):
                    received.append(event.text)
                    if len(received) == 3:
                        await asyncio.to_thread(server.kill)
        response = stream.response
    assert response.deployment == "embedded"
    assert response.text == "".join(received)
    (resume,) = response.continuations
    assert resume.deployment == "embedded"
    assert resume.offset >= len("".join(received[:3]))
    assert [a.deployment for a in response.route] == ["server", "embedded"]


async def test_server_not_yet_up_fails_over_then_serves(tiny_model: Path) -> None:
    server = LlamaCppServer(tiny_model, n_ctx=N_CTX, n_threads=1, port=free_port())
    deployments = [server_deployment(server), embedded_deployment(tiny_model)]
    async with Router(deployments, env={}, retry=RetryPolicy(max_retries=0)) as router:
        server.start()  # the port is not bound yet: the first request is refused
        try:
            early = await router.chat(MODEL, HI, max_tokens=4)
            assert early.deployment == "embedded"
            assert early.route[0].error == ProviderUnreachableError.__name__
            await server.wait_ready()
            # the refusal counted against the server's health, but its circuit is still closed
            later = await router.chat(MODEL, HI, max_tokens=4)
            assert later.deployment == "server"
        finally:
            await asyncio.to_thread(server.stop)


async def test_two_servers_with_different_windows_fail_over_by_the_learned_window(
    tiny_model: Path,
) -> None:
    # No context_window is set: the router learns each server's window. The small server's
    # overflow error says n_ctx=512, so the big one (window not yet known) is tried; the
    # next long request skips the small one without asking it.
    # 2,500 characters: ~630 tokens by the router's estimate (4 characters a token), ~2,600
    # for the tiny model's byte-level tokenizer: over 512, under 8192.
    long_prompt = [{"role": "user", "content": "word " * 500}]
    async with (
        LlamaCppServer(tiny_model, n_ctx=512, n_threads=1) as small,
        LlamaCppServer(tiny_model, n_ctx=8192, n_threads=1) as big,
    ):
        deployments = [
            Deployment(provider="llamacpp", model=MODEL, name="small", base_url=small.base_url),
            Deployment(provider="llamacpp", model=MODEL, name="big", base_url=big.base_url),
        ]
        async with Router(deployments, env={}) as router:
            first = await router.chat(MODEL, long_prompt, max_tokens=8, seed=1)
            assert first.deployment == "big"
            windows = {
                r.deployment: r.context_window for r in (await router.explain(MODEL, HI)).rows
            }
            assert windows == {"small": 512, "big": 8192}
            second = await router.chat(MODEL, long_prompt, max_tokens=8, seed=2)
    assert [a.deployment for a in second.route] == ["big"]  # small was not asked again
    # the first request either learned small's window from its error, or (when the one-time
    # window check answered first) never sent it there at all
    assert [a.deployment for a in first.route][-1] == "big"


async def _busy_slots(client: httpx.AsyncClient, base_url: str) -> int:
    slots = (await client.get(f"{base_url}/slots")).json()
    return sum(1 for slot in slots if slot["is_processing"])


async def test_cancelled_chat_frees_the_servers_slot(tiny_model: Path) -> None:
    """A non-streamed chat is sent as a stream: cancelling it closes the stream, and the
    server stops generating at the next token. (Sent non-streamed, the server generated the
    request to the end: here the remaining ~0.8 s of seed 0's 1500 tokens.)"""
    async with (
        LlamaCppServer(tiny_model, n_ctx=2048, n_threads=1, n_parallel=1) as server,
        Router([server_deployment(server, context_window=2048)], env={}) as router,
        httpx.AsyncClient() as client,
    ):
        call = asyncio.create_task(router.chat(MODEL, HI, max_tokens=1500, seed=0))
        await asyncio.sleep(0.1)
        assert not call.done()  # still generating
        assert await _busy_slots(client, server.base_url) == 1
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        cancelled = time.perf_counter()
        while await _busy_slots(client, server.base_url):
            assert time.perf_counter() - cancelled < 5.0, "the slot never came free"
            await asyncio.sleep(0.005)
        freed_after = time.perf_counter() - cancelled
    assert freed_after < 0.3


async def test_a_server_that_unloaded_its_idle_model_reports_it_not_loaded(
    tiny_model: Path,
) -> None:
    # llama.cpp's --sleep-idle-seconds unloads the model when idle (/props is_sleeping): the
    # next call pays the load, so health says not loaded, and loaded again once it answered.
    async with (
        LlamaCppServer(tiny_model, n_ctx=1024, n_threads=1, sleep_idle_seconds=1) as server,
        Router([server_deployment(server)], env={}) as router,
    ):
        await router.chat(MODEL, HI, max_tokens=2)
        # The server's own idle timer runs in real time, and any request (a health check
        # too) restarts it: stay away past it once, then look.
        await asyncio.sleep(2.5)
        report = (await router.health())["server"]
        assert report.loaded is False
        assert report.ok
        assert "sleeping" in report.detail
        await router.chat(MODEL, HI, max_tokens=2)  # wakes it: the model loads again
        assert (await router.health())["server"].loaded is True
