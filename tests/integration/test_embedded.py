"""The embedded engine (upstream llama.cpp in-process, from xllamacpp) on the tiny model:
answers, streams, refuses what does not fit with llama.cpp's own error, generates requests in
parallel slots, never blocks the event loop, and stops generating when the caller leaves or
cancels."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from llama_router import (
    ContextLengthExceededError,
    Deployment,
    MissingDependencyError,
    Router,
    TextDelta,
)
from llama_router.backends.embedded import EmbeddedBackend

from .conftest import HAVE_LOCAL

pytestmark = pytest.mark.skipif(not HAVE_LOCAL, reason="needs the 'local' extra")

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
        assert reply.usage.completion_tokens == 6
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
    # a chunk holds back bytes that are not yet whole UTF-8, so chunks <= tokens
    assert len(texts) <= response.usage.completion_tokens == 6
    assert response.usage.prompt_tokens == reply.usage.prompt_tokens  # llama.cpp's own count
    assert response.provider_timings.output_tokens_per_second is not None


async def test_prompt_that_cannot_fit_is_llama_cpps_own_context_error(tiny_model: Path) -> None:
    async with Router([embedded(tiny_model, num_ctx=256)], env={}) as router:
        with pytest.raises(ContextLengthExceededError) as info:
            await router.chat(MODEL, [{"role": "user", "content": "x " * 400}], max_tokens=8)
    assert info.value.status_code == 400
    assert "exceeds the available context size (256 tokens)" in str(info.value)


async def test_two_requests_generate_at_once_in_parallel_slots(tiny_model: Path) -> None:
    async with Router([embedded(tiny_model, n_parallel=2)], env={}) as router:
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
    assert spans[1][0] < spans[0][1]  # the second started before the first ended


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
        # the generation stopped at the next token and freed its slot: the next call runs now
        reply = await router.chat(MODEL, HI, max_tokens=4, seed=7)
        assert reply.usage.completion_tokens == 4
        assert time.perf_counter() - left < (left - start) + 2.0


class Spy:
    """Wraps the engine's in-process server: records what each chunk callback returned."""

    def __init__(self, server: Any, first_chunk: threading.Event) -> None:
        self.server = server
        self.first_chunk = first_chunk
        self.answers: list[bool] = []
        self.returned = threading.Event()

    def handle_chat_completions(self, body: Any, callback: Any) -> Any:
        def watched(chunk: Any) -> bool:
            stop = bool(callback(chunk))
            self.answers.append(stop)
            self.first_chunk.set()
            time.sleep(0.002)  # a slower engine: the cancel lands mid-generation
            return stop

        try:
            return self.server.handle_chat_completions(body, watched)
        finally:
            self.returned.set()


async def test_a_cancelled_chat_stops_generating(tiny_model: Path) -> None:
    async with Router([embedded(tiny_model, num_ctx=2048, n_parallel=1)], env={}) as router:
        backend = router.deployments[0]
        assert isinstance(backend, EmbeddedBackend)
        await backend.load()
        first = threading.Event()
        spy = Spy(backend._server, first)
        backend._server = spy
        task = asyncio.create_task(router.chat(MODEL, HI, max_tokens=1500, seed=3))
        await asyncio.to_thread(first.wait, 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await asyncio.to_thread(spy.returned.wait, 10)  # the engine call ended
        assert True in spy.answers  # llama.cpp was told to stop...
        assert spy.answers[spy.answers.index(True) :] == [True]  # ...and sent nothing after
        assert len(spy.answers) < 1500
        backend._server = spy.server
        reply = await router.chat(MODEL, HI, max_tokens=4, seed=8)  # the slot is free
        assert reply.usage.completion_tokens == 4


async def test_missing_model_file_is_reported(tmp_path: Path) -> None:
    missing = tmp_path / "nope.gguf"
    async with Router([embedded(missing)], env={}) as router:
        report = (await router.health())["embedded"]
        assert not report.ok
        assert report.model_available is False


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch, tiny_model: Path) -> None:
    monkeypatch.setitem(sys.modules, "xllamacpp", None)
    with pytest.raises(MissingDependencyError, match=r'pip install "llama-router\[local\]"'):
        Router([embedded(tiny_model)], env={})
