"""Hedged requests: when the first-ranked deployment is slow to answer (or, for streams, to
produce its first token), start the next-ranked one too; the first success wins and the
other is cancelled, its result closed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from llama_router.dispatch.attempt import Opener
from llama_router.dispatch.retries import with_retries
from llama_router.dispatch.run import RequestRun, Runtime
from llama_router.routing.context import Candidate
from llama_router.routing.outcomes import race_winner

__all__ = ["hedge_delay", "may_hedge", "race"]

T = TypeVar("T")
PRIMARY, SECONDARY = 0, 1


async def may_hedge(rt: Runtime) -> bool:
    """Hedging is on and the share of recent hedged requests is under its cap."""
    hedging = rt.hedging
    return hedging is not None and await rt.store.hedged_share() < hedging.max_share


def hedge_delay(rt: Runtime, primary: Candidate) -> float:
    """The fixed delay, else the primary's observed p95 time to first token (at least
    ``min_delay``; ``default_delay`` before any measurement)."""
    hedging = rt.hedging
    assert hedging is not None
    if hedging.delay is not None:
        return hedging.delay
    p95 = primary.health.ttft_p95
    return max(hedging.min_delay, p95 if p95 is not None else hedging.default_delay)


async def race(
    rt: Runtime,
    run: RequestRun,
    primary: Candidate,
    secondary: Candidate,
    opener: Opener[T],
    close: Callable[[T], Awaitable[None]] | None,
) -> tuple[Candidate, T]:
    """Run ``primary``; if it has not answered after the hedge delay, also ``secondary``.
    The first success wins (a tie goes to the primary); the other is cancelled, and a
    result it produced anyway is closed."""
    first: asyncio.Task[T] = asyncio.create_task(
        with_retries(rt, run, primary, opener, can_skip=True)
    )
    done, _ = await asyncio.wait({first}, timeout=hedge_delay(rt, primary))
    if done:
        return primary, first.result()
    run.hedged = True
    second: asyncio.Task[T] = asyncio.create_task(
        with_retries(rt, run, secondary, opener, can_skip=True, hedged=True)
    )
    rank = {first: PRIMARY, second: SECONDARY}
    pending: set[asyncio.Task[T]] = {first, second}
    error: BaseException | None = None
    winner: asyncio.Task[T] | None = None
    try:
        while pending and winner is None:
            finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            best = race_winner((rank[t], t.exception() is None) for t in finished)
            for task in sorted(finished, key=rank.__getitem__):
                exc = task.exception()
                if exc is not None:
                    error = error or exc
                elif rank[task] == best:
                    winner = task
                elif close is not None:
                    await close(task.result())  # a tie: release the other success
    finally:
        await _cancel(pending, close)
    if winner is not None:
        return (primary if winner is first else secondary), winner.result()
    assert error is not None
    raise error


async def _cancel(
    pending: set[asyncio.Task[T]], close: Callable[[T], Awaitable[None]] | None
) -> None:
    for task in pending:
        task.cancel()
    for task in pending:
        try:
            result = await task
        except (asyncio.CancelledError, Exception):
            continue
        if close is not None:  # finished while being cancelled: release it
            await close(result)
