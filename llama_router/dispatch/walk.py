"""The walk over the ranked candidates: one try, retry, fail over — until one answers or
the deadline runs out. Every decision is asked of :mod:`llama_router.routing.outcomes`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from llama_router.dispatch.attempt import Limited, Opener, Skip
from llama_router.dispatch.hedging import may_hedge, race
from llama_router.dispatch.retries import with_retries
from llama_router.dispatch.run import RequestRun, Runtime
from llama_router.dispatch.snapshot import CandidateCache, returning
from llama_router.exceptions import (
    AllDeploymentsFailedError,
    DeadlineExceededError,
    LlamaRouterError,
)
from llama_router.messages import ChatRequest
from llama_router.routing.context import Candidate
from llama_router.routing.outcomes import failover_candidates, failover_scope, overflow_limit

__all__ = ["walk"]

T = TypeVar("T")


async def walk(
    rt: Runtime,
    cache: CandidateCache,
    run: RequestRun,
    ranked: Sequence[Candidate],
    opener: Opener[T],
    close: Callable[[T], Awaitable[None]] | None,
    request: ChatRequest | None = None,
) -> tuple[Candidate, T]:
    """Try ``ranked`` in order (with retries, limit slots and hedging) until one succeeds.

    A deployment whose limits are full is deferred (tried last, waiting for a slot); once
    every candidate has failed, one that is only cooling down and back before the deadline
    is waited for. Raises the error that must reach the caller as it is (an invalid
    request), or :class:`AllDeploymentsFailedError` / :class:`DeadlineExceededError`.
    """
    queue = list(ranked)
    deferred: list[tuple[float, Candidate]] = []
    hedge = await may_hedge(rt)
    while rt.clock() < run.deadline:
        if queue:
            cand, can_skip = queue.pop(0), bool(queue or deferred)
        elif deferred:  # everything left is at its limits: wait for the soonest slot
            deferred.sort(key=lambda item: item[0])
            cand, can_skip = deferred.pop(0)[1], False
        else:
            queue = list(await returning(rt, cache, run))
            if not queue:
                break
            continue
        partner = queue[0] if hedge and queue else None
        try:
            if partner is not None:
                return await race(rt, run, cand, partner, opener, close)
            return cand, await with_retries(
                rt, run, cand, opener, can_skip=can_skip, request=request
            )
        except Limited as limited:
            deferred.append((limited.wait, cand))
        except Skip:
            continue
        except DeadlineExceededError:
            raise
        except LlamaRouterError as exc:
            scope = failover_scope(exc)
            if scope == "none":
                raise
            if scope == "larger_window":
                limit = overflow_limit(exc, cand.context_window)
                if limit is not None:
                    run.min_window = max(run.min_window or 0, limit)
            rest = failover_candidates(exc, cand, queue) or ()
            queue = [c for c in rest if c.name not in run.tried]
    raise _exhausted(rt, run)


def _exhausted(rt: Runtime, run: RequestRun) -> LlamaRouterError:
    """The error for a request whose every try failed: a context overflow that no larger
    window followed is raised as it is (the caller must shorten the request)."""
    if run.errors and failover_scope(run.errors[-1]) == "larger_window":
        return run.errors[-1]
    message = f"every deployment of {run.request.model!r} failed"
    if run.not_tried:
        left_out = "; ".join(f"{name}: {why}" for name, why in run.not_tried.items())
        message += f" (not tried: {left_out})"
    if rt.clock() >= run.deadline:
        return DeadlineExceededError(
            f"the {rt.timeouts.total:g} s deadline of the request ran out; {message}",
            run.errors,
            route=run.route,
        )
    return AllDeploymentsFailedError(message, run.errors, route=run.route)
