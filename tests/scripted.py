"""A scripted backend for router tests: each call follows a :class:`Step` (how long to the
first token, which tokens at what pace, where to fail). Time passes through
``asyncio.sleep``, so under ``@pytest.mark.looptime`` it is virtual: tests run instantly
and deterministically.

It is a real :class:`Backend` (the router cannot tell it from a provider); only the wire is
replaced by the script.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from llama_router import Deployment, ModelCatalog, Router
from llama_router.backends.base import Backend, BackendResult, HealthReport, StreamItem
from llama_router.deployments import resolve_deployment
from llama_router.exceptions import (
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
)
from llama_router.messages import ChatRequest
from llama_router.ratelimits import RateLimitInfo
from llama_router.responses import ProviderTimings, ReasoningDelta, TextDelta, Usage
from llama_router.transport import HttpPool

MODEL = "llama-3.1-8b"
HI = [{"role": "user", "content": "Say hi."}]


def now() -> float:
    """The event loop's clock (virtual under looptime)."""
    return asyncio.get_running_loop().time()


def router(*backends: Backend, **kw: Any) -> Router:
    """A router over scripted backends with a seeded random generator."""
    kw.setdefault("rng", random.Random(1))
    return Router(list(backends), **kw)


@dataclass
class Step:
    """What one call does."""

    ttft: float = 0.1
    tokens: Sequence[str] = ("Hello", ",", " world", "!")
    token_delay: float = 0.01
    error: Callable[[str], ProviderError] | None = None
    """The error to raise (given the deployment name)."""
    fail_after: int = 0
    """With ``error``: tokens delivered before it is raised (0: before the first token)."""
    rate_limits: RateLimitInfo | None = None
    prompt_tokens: int = 10
    reasoning: Sequence[str] = ()
    """Reasoning pieces streamed (``token_delay`` apart) before the tokens."""


def unavailable(name: str) -> ProviderError:
    return ProviderUnavailableError(
        "503 overloaded", provider="scripted", deployment=name, status_code=503
    )


def rate_limited(retry_after: float | None) -> Callable[[str], ProviderError]:
    def make(name: str) -> ProviderError:
        return RateLimitedError(
            "429 slow down",
            provider="scripted",
            deployment=name,
            status_code=429,
            retry_after=retry_after,
        )

    return make


@dataclass
class Record:
    request: ChatRequest
    started: float
    cancelled: bool = False
    finished: bool = False


class ScriptedBackend(Backend):
    """A deployment whose calls follow ``steps`` (the last step repeats)."""

    provider = "scripted"

    def __init__(
        self,
        name: str,
        steps: Sequence[Step] | Step | None = None,
        *,
        local: bool = True,
        price: tuple[float, float] | None = None,
        context_window: int | None = None,
        model: str = MODEL,
        healthy: bool = True,
        **deployment: Any,
    ) -> None:
        kwargs: dict[str, Any] = {"name": name, "model": model, **deployment}
        if local:
            kwargs.update(provider="llamacpp", base_url="http://127.0.0.1:1")
        else:
            kwargs.update(provider="openai_compatible", base_url=f"https://{name}.invalid/v1")
        if price is not None:
            kwargs.update(input_price_per_mtok=price[0], output_price_per_mtok=price[1])
        if context_window is not None:
            kwargs["context_window"] = context_window
        target = resolve_deployment(Deployment(**kwargs), ModelCatalog.default(), {})
        super().__init__(target, HttpPool(_NoTransport()))
        if steps is None:
            steps = Step()
        self.steps = [steps] if isinstance(steps, Step) else list(steps)
        self.records: list[Record] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.healthy = healthy

    @property
    def calls(self) -> int:
        return len(self.records)

    def _next(self, request: ChatRequest) -> tuple[Step, Record]:
        step = self.steps[min(len(self.records), len(self.steps) - 1)]
        record = Record(request, asyncio.get_running_loop().time())
        self.records.append(record)
        return step, record

    def _map_error(self, exc: Exception) -> ProviderError | None:
        return None

    def _result(self, step: Step, text: str, n: int, elapsed: float) -> BackendResult:
        return BackendResult(
            text=text,
            finish_reason="stop",
            usage=Usage(prompt_tokens=step.prompt_tokens, completion_tokens=n),
            timings=ProviderTimings(generation_s=n * step.token_delay or None),
            rate_limits=step.rate_limits,
            reasoning="".join(step.reasoning) or None,
        )

    async def chat(self, request: ChatRequest) -> BackendResult:
        step, record = self._next(request)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(step.ttft)
            if step.error is not None:
                raise step.error(self.target.name)
            await asyncio.sleep(step.token_delay * len(step.tokens))
            record.finished = True
            return self._result(step, "".join(step.tokens), len(step.tokens), 0.0)
        except asyncio.CancelledError:
            record.cancelled = True
            raise
        finally:
            self.in_flight -= 1

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamItem, None]:
        step, record = self._next(request)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(step.ttft)
            for piece in step.reasoning:
                yield ReasoningDelta(piece)
                await asyncio.sleep(step.token_delay)
            sent: list[str] = []
            for i, token in enumerate(step.tokens):
                if step.error is not None and i == step.fail_after:
                    raise step.error(self.target.name)
                if i:
                    await asyncio.sleep(step.token_delay)
                sent.append(token)
                yield TextDelta(token)
            if step.error is not None and step.fail_after >= len(step.tokens):
                raise step.error(self.target.name)
            record.finished = True
            yield self._result(step, "".join(sent), len(sent), 0.0)
        except (asyncio.CancelledError, GeneratorExit):
            record.cancelled = not record.finished
            raise
        finally:
            self.in_flight -= 1

    async def health(self) -> HealthReport:
        return HealthReport(ok=self.healthy, detail="scripted", loaded=self.healthy)


class _NoTransport(httpx.AsyncBaseTransport):
    """Scripted backends never send HTTP."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise AssertionError("a scripted backend tried to send HTTP")
