"""The embedded engine (llama-cpp-python in-process) on the tiny model: answers, streams,
refuses what does not fit, runs one generation at a time, never blocks the event loop, and
stops when the caller leaves."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

from llama_router import (
    ContextLengthExceededError,
    Deployment,
    MissingDependencyError,
    Router,
    TextDelta,
)
from llama_router.backends.embedded import EmbeddedBackend

from .conftest import HAVE_LLAMA_CPP

pytestmark = pytest.mark.skipif(not HAVE_LLAMA_CPP, reason="needs the 'local' extra")

MODEL = "llama-3.1-8b"
HI = [{"role": "user", "content": "Say hi."}]


def embedded(model: Path, **kw: object) -> Deployment:
    kw.setdefault("num_ctx", 1024)
    return Deployment(
        provider="embedded", model=MODEL, name="embedded", model_path=str(model), n_threads=1, **kw
    )  # type: ignore[arg-type]


async def test_chat_and_stream(tiny_model: Path) -> None:
    async with Router([embedded(tiny_model)], env={}) as router:
        reply = await router.chat(MODEL, HI, max_tokens=6, seed=1)
        assert reply.text
        # llama-cpp-python's usage counts one token past max_tokens when it stops at the cap
        assert reply.usage.completion_tokens in (6, 7)
        assert reply.finish_reason == "length"
        assert reply.provider_model == "tiny.gguf"
        assert reply.cost_usd == 0.0
        texts: list[str] = []
        async with router.stream(MODEL, HI, max_tokens=6, seed=1) as stream:
            async for event in stream:
                if isinstance(event, TextDelta):
                    texts.append(event.text)
        response = stream.response
    assert "".join(texts) == response.text
    assert response.usage.completion_tokens == len(texts) <= 6
    # counted from the context after streaming: within a token of the library's own count
    assert abs(response.usage.prompt_tokens - reply.usage.prompt_tokens) <= 1
    assert response.provider_timings.output_tokens_per_second is not None


async def test_prompt_that_cannot_fit_is_refused_before_generating(tiny_model: Path) -> None:
    async with Router([embedded(tiny_model, num_ctx=256)], env={}) as router:
        with pytest.raises(ContextLengthExceededError) as info:
            await router.chat(MODEL, [{"role": "user", "content": "x" * 400}], max_tokens=8)
    assert "256-token context window" in str(info.value)


async def test_one_generation_at_a_time(tiny_model: Path) -> None:
    async with Router([embedded(tiny_model)], env={}) as router:
        backend = router.deployments[0]
        assert isinstance(backend, EmbeddedBackend)
        spans: list[tuple[float, float]] = []

        async def one(seed: int) -> None:
            async with router.stream(MODEL, HI, max_tokens=20, seed=seed) as stream:
                start: float | None = None
                async for event in stream:
                    if isinstance(event, TextDelta) and start is None:
                        start = time.perf_counter()
                spans.append((start or 0.0, time.perf_counter()))

        await asyncio.gather(one(1), one(2))
    spans.sort()
    assert spans[0][1] <= spans[1][0]  # the second produced nothing until the first ended


async def test_generation_never_blocks_the_event_loop(tiny_model: Path) -> None:
    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    async with Router([embedded(tiny_model, num_ctx=2048)], env={}) as router:
        backend = router.deployments[0]
        assert isinstance(backend, EmbeddedBackend)
        await backend.load()
        task = asyncio.create_task(ticker())
        # a long prompt: evaluating it takes a while whatever the sampler does
        long_prompt = [{"role": "user", "content": "tick " * 250}]
        await router.chat(MODEL, long_prompt, max_tokens=20, seed=5)
        stop.set()
        await task
    assert len(gaps) > 5
    assert max(gaps) < 0.25  # the loop kept turning while the model generated


async def test_leaving_a_stream_stops_the_worker(tiny_model: Path) -> None:
    async with Router([embedded(tiny_model, num_ctx=2048)], env={}) as router:
        start = time.perf_counter()
        async with router.stream(MODEL, HI, max_tokens=1500, seed=6) as stream:
            async for event in stream:
                assert isinstance(event, TextDelta)
                break
        left = time.perf_counter()
        # the worker stopped at the next token and released the model: the next call runs now
        reply = await router.chat(MODEL, HI, max_tokens=4, seed=7)
        assert reply.usage.completion_tokens in (4, 5)
        assert time.perf_counter() - left < (left - start) + 2.0


async def test_missing_model_file_is_reported(tmp_path: Path) -> None:
    missing = tmp_path / "nope.gguf"
    async with Router([embedded(missing)], env={}) as router:
        report = (await router.health())["embedded"]
        assert not report.ok
        assert report.model_available is False


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch, tiny_model: Path) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(MissingDependencyError, match=r'pip install "llama-router\[local\]"'):
        Router([embedded(tiny_model)], env={})
