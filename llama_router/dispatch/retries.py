"""Retries on one deployment: tenacity, asked the outcome rules what to retry and how long
to wait, and stopped at the request's deadline."""

from __future__ import annotations

from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from llama_router.dispatch.attempt import Opener, one_try
from llama_router.dispatch.deadline import StopAtDeadline
from llama_router.dispatch.run import RequestRun, Runtime
from llama_router.exceptions import ProviderError
from llama_router.messages import ChatRequest
from llama_router.routing.context import Candidate
from llama_router.routing.outcomes import backoff, retry_here

__all__ = ["with_retries"]

T = TypeVar("T")


async def with_retries(
    rt: Runtime,
    run: RequestRun,
    cand: Candidate,
    opener: Opener[T],
    *,
    can_skip: bool,
    hedged: bool = False,
    request: ChatRequest | None = None,
) -> T:
    """:func:`one_try`, retried on the same deployment as ``RetryPolicy`` and the outcome
    rules allow."""
    req = run.request if request is None else request
    policy = rt.retry
    try:  # the common case costs no retry machinery
        return await one_try(rt, run, cand, req, opener, can_skip=can_skip, hedged=hedged)
    except ProviderError as exc:
        if policy.max_retries == 0 or not retry_here(exc, policy):
            raise
        first: list[BaseException] = [exc]

    async def again() -> T:
        if first:
            raise first.pop()  # replay the first failure so tenacity waits before retrying
        return await one_try(rt, run, cand, req, opener, can_skip=False, hedged=hedged)

    def wait(state: RetryCallState) -> float:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        return backoff(state.attempt_number, error, policy, rt.rng)

    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.max_retries + 1) | StopAtDeadline(rt.clock, run.deadline),
        wait=wait,
        retry=retry_if_exception(lambda exc: retry_here(exc, policy)),
        sleep=rt.sleep,
        reraise=True,
    )
    return await retrying(again)
