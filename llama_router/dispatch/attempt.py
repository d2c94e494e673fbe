"""One try on one deployment: re-check its health, claim the half-open probe and a limit
slot, send within the request's deadline, and record a failure."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from llama_router.backends.base import Backend
from llama_router.dispatch.deadline import timeout
from llama_router.dispatch.recording import record_failure
from llama_router.dispatch.run import RequestRun, Runtime
from llama_router.exceptions import DeadlineExceededError, ProviderError, ProviderTimeoutError
from llama_router.messages import ChatRequest
from llama_router.responses import Attempt, Usage
from llama_router.routing.context import DEFAULT_OUTPUT_TOKENS, Candidate, estimate_prompt_tokens
from llama_router.state import Ticket

__all__ = ["Limited", "Opener", "Skip", "one_try"]

T = TypeVar("T")
Opener = Callable[[Backend, ChatRequest], Awaitable[T]]
"""Sends a request on a backend: a chat call, or the opening of a stream."""


class Limited(Exception):
    """A deployment's limits are full; ``wait`` seconds until a slot may free."""

    def __init__(self, wait: float) -> None:
        self.wait = wait


class Skip(Exception):
    """The deployment cannot be tried now (cooling down, or its half-open probe is taken)."""


async def one_try(
    rt: Runtime,
    run: RequestRun,
    cand: Candidate,
    request: ChatRequest,
    opener: Opener[T],
    *,
    can_skip: bool,
    hedged: bool = False,
) -> T:
    """Send ``request`` to ``cand`` once. Raises :class:`Skip` or :class:`Limited` when it
    cannot be sent now, or the attempt's :class:`ProviderError` (already recorded)."""
    name = cand.name
    # Re-read health: since the request was ranked, another request may have put this
    # deployment into a cooldown (Retry-After) or opened its circuit.
    now = rt.clock()
    health = (await rt.store.snapshot((name,), now))[name]
    if now < health.available_at:
        raise Skip("cooling down or circuit open")
    probe = health.circuit != "closed"
    if probe and not await rt.store.try_probe(name, now):
        raise Skip("half-open probe already in flight")
    try:
        ticket = await _acquire(rt, run, cand, can_skip)
    except BaseException:
        if probe:
            await rt.store.release_probe(name)
        raise
    backend = rt.backends[name]
    run.tried.add(name)
    start = run.started_at[name] = rt.clock()
    # Counted in flight from here to the finally below, whatever ends the attempt (an
    # answer, an error, a cancellation): the load-aware policies read it from snapshots.
    await rt.store.begin(name)
    try:
        return await _send(rt, run, backend, request, opener, start)
    except ProviderError as exc:
        usage = Usage(completion_tokens=exc.completion_tokens)
        await record_failure(rt, run, backend, exc, started=start, hedged=hedged, usage=usage)
        raise
    except BaseException as exc:
        if isinstance(exc, asyncio.CancelledError) and (hedged or run.hedged):
            run.route.append(
                Attempt(
                    deployment=name,
                    provider=cand.provider,
                    outcome="cancelled",
                    elapsed_s=rt.clock() - start,
                    hedged=hedged,
                )
            )
        if probe:  # never leave a half-open circuit waiting on a probe that never reports
            await rt.store.release_probe(name)
        raise
    finally:
        await rt.store.end(name)
        if ticket is not None:
            await rt.store.release(ticket, None)


async def _send(
    rt: Runtime,
    run: RequestRun,
    backend: Backend,
    request: ChatRequest,
    opener: Opener[T],
    start: float,
) -> T:
    left = run.deadline - start
    if left <= 0:
        raise ProviderTimeoutError(
            "the request's deadline passed before this attempt could start",
            provider=backend.provider,
            deployment=backend.target.name,
        )
    try:
        async with timeout(left):
            return await opener(backend, request)
    except (asyncio.TimeoutError, TimeoutError) as exc:
        raise ProviderTimeoutError(
            f"no answer within the request's deadline ({rt.timeouts.total:g} s)",
            provider=backend.provider,
            deployment=backend.target.name,
        ) from exc


async def _acquire(rt: Runtime, run: RequestRun, cand: Candidate, can_skip: bool) -> Ticket | None:
    """A concurrency / RPM / TPM slot: skip (raise :class:`Limited`) when others are left,
    else wait for one within the deadline."""
    limits = cand.limits
    if not limits.any:
        return None
    tokens = estimate_prompt_tokens(run.request) + (
        run.request.settings.max_tokens or DEFAULT_OUTPUT_TOKENS
    )
    while True:
        now = rt.clock()
        got = await rt.store.try_acquire(cand.name, now, limits, tokens)
        if isinstance(got, Ticket):
            return got
        if can_skip:
            raise Limited(got)
        left = run.deadline - now
        if left <= 0:
            raise DeadlineExceededError(
                "the deadline passed while waiting for a rate / concurrency limit slot",
                run.errors,
                route=run.route,
            )
        if got == float("inf"):
            await rt.store.wait_for_release(cand.name, left)
        else:
            await rt.sleep(min(got, left))
