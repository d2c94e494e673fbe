"""``Dispatcher``: the request path's entry, one per router. It builds the
:class:`Runtime` once and starts each request's :class:`RequestRun`."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence

from llama_router.backends.base import Backend
from llama_router.dispatch.chat import run_chat
from llama_router.dispatch.run import RequestRun, Runtime, attach_route
from llama_router.dispatch.snapshot import CandidateCache, context
from llama_router.dispatch.streaming import run_stream
from llama_router.exceptions import LlamaRouterError
from llama_router.messages import ChatRequest
from llama_router.responses import ChatResponse, StreamEvent
from llama_router.routing.context import RoutingContext
from llama_router.routing.options import Budget, Hedging, RetryPolicy, Timeouts
from llama_router.routing.policy import Policy
from llama_router.state import HealthConfig, Limits, StateStore

__all__ = ["Dispatcher"]


class Dispatcher:
    """Runs the requests of one router: see ``docs/architecture.md`` for the life of a
    request and where each rule lives."""

    def __init__(
        self,
        backends: Sequence[Backend],
        *,
        policy: Policy,
        store: StateStore,
        clock: Callable[[], float],
        timeouts: Timeouts,
        retry: RetryPolicy,
        hedging: Hedging | None,
        budget: Budget | None,
        continuation: bool,
        health: HealthConfig,
        rng: random.Random,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        by_model: dict[str, tuple[Backend, ...]] = {}
        for backend in backends:
            by_model[backend.target.model] = (*by_model.get(backend.target.model, ()), backend)
        self.runtime = Runtime(
            backends={b.target.name: b for b in backends},
            by_model=by_model,
            index={b.target.name: i for i, b in enumerate(backends)},
            limits={
                b.target.name: Limits(b.target.max_concurrency, b.target.rpm, b.target.tpm)
                for b in backends
            },
            policy=policy,
            store=store,
            timeouts=timeouts,
            retry=retry,
            hedging=hedging,
            budget=budget,
            continuation=continuation,
            health=health,
            clock=clock,
            sleep=sleep,
            rng=rng,
        )
        self._cache = CandidateCache()

    def _start(self, request: ChatRequest, *, stream: bool) -> RequestRun:
        now = self.runtime.clock()
        return RequestRun(request, now, now + self.runtime.timeouts.total, stream=stream)

    async def context(self, request: ChatRequest, *, stream: bool, now: float) -> RoutingContext:
        """One immutable snapshot of everything the policy may read (for ``explain``)."""
        return await context(self.runtime, self._cache, request, stream=stream, now=now)

    async def chat(self, request: ChatRequest) -> ChatResponse:
        run = self._start(request, stream=False)
        try:
            return await run_chat(self.runtime, self._cache, run)
        except LlamaRouterError as exc:
            attach_route(exc, run)
            raise

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        """Deltas as they arrive, then :class:`StreamDone` with the aggregated response."""
        run = self._start(request, stream=True)
        events = run_stream(self.runtime, self._cache, run)
        try:
            async for event in events:
                yield event
        except LlamaRouterError as exc:
            attach_route(exc, run)
            raise
        finally:
            await events.aclose()
