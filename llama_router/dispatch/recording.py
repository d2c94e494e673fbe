"""Outcome recording: what each attempt's end writes to the state store and to the route,
and how the answering attempt becomes a :class:`ChatResponse`. What to record (cooldown,
health, cold, cost) is decided by :mod:`llama_router.routing.outcomes`."""

from __future__ import annotations

from collections.abc import Sequence

from llama_router.backends.base import Backend, BackendResult
from llama_router.dispatch.run import RequestRun, Runtime
from llama_router.exceptions import LlamaRouterError, ProviderError
from llama_router.messages import ChatRequest
from llama_router.provenance import Provenance
from llama_router.responses import Attempt, ChatResponse, Usage
from llama_router.routing.outcomes import (
    attempt_cost,
    cooldown,
    counts_against_health,
    learned_context_window,
    learned_token_quota,
    marks_cold,
    may_return,
    response_cost,
)

__all__ = ["attempt_record", "build_response", "record_failure", "record_success"]

_NO_USAGE = Usage()


def attempt_record(
    backend: Backend,
    error: LlamaRouterError | None,
    elapsed: float,
    hedged: bool = False,
    usage: Usage = _NO_USAGE,
    started_at: float | None = None,
    provenance: Provenance | None = None,
) -> Attempt:
    """One entry of a request's route. ``provenance`` is the successful reply's; a failed
    attempt's comes from its error (the error reply's headers)."""
    provider_error = error if isinstance(error, ProviderError) else None
    if provider_error is not None:
        provenance = provider_error.provenance
    return Attempt(
        usage=usage,
        cost_usd=attempt_cost(backend.target.price, usage),
        deployment=backend.target.name,
        provider=backend.provider,
        outcome="ok" if error is None else "error",
        error=None if error is None else type(error).__name__,
        status_code=None if provider_error is None else provider_error.status_code,
        elapsed_s=elapsed,
        started_at=started_at,
        retry_after=None if provider_error is None else provider_error.retry_after,
        hedged=hedged,
        request_id=None if provenance is None else provenance.request_id,
        region=None if provenance is None else provenance.region,
        server_build=None if provenance is None else provenance.server_build,
    )


def build_response(
    request: ChatRequest,
    backend: Backend,
    result: BackendResult,
    *,
    ttft: float | None,
    latency: float,
    route: Sequence[Attempt],
) -> ChatResponse:
    """The caller's answer from the answering attempt's result and the whole route."""
    target = backend.target
    return ChatResponse(
        text=result.text,
        tool_calls=result.tool_calls,
        finish_reason=result.finish_reason,
        reasoning=result.reasoning,
        usage=result.usage,
        provider_timings=result.timings,
        time_to_first_token_s=ttft,
        latency_s=latency,
        cost_usd=response_cost(route, priced=target.price is not None),
        provider=backend.provider,
        deployment=target.name,
        model=request.model,
        provider_model=result.provider_model or target.model_id,
        route=tuple(route),
    )


async def record_failure(
    rt: Runtime,
    run: RequestRun,
    backend: Backend,
    error: ProviderError,
    *,
    started: float,
    hedged: bool = False,
    usage: Usage = _NO_USAGE,
) -> None:
    """A failed attempt: into the route and the request's errors, and into the store with
    the cooldown and health effect the outcome rules give it."""
    name = backend.target.name
    now = rt.clock()
    run.route.append(attempt_record(backend, error, now - started, hedged, usage, started))
    run.errors.append(error)
    if name in run.returned or not may_return(error, rt.retry):
        run.failed.add(name)
    if marks_cold(error):
        await rt.store.set_loaded(name, False)
    window = learned_context_window(error)
    if window is not None:
        await rt.store.learn_context_window(name, window)
    quota = learned_token_quota(error)
    if quota is not None:
        await rt.store.learn_token_quota(name, quota)
    pause = cooldown(error, rt.health)
    await rt.store.record_failure(
        name,
        now,
        type(error).__name__,
        counts_against_health=counts_against_health(error),
        cooldown=None if pause is None else pause.seconds,
    )


async def record_success(
    rt: Runtime,
    name: str,
    now: float,
    response: ChatResponse,
    *,
    ttft: float | None,
    generation_s: float | None,
    result: BackendResult,
    hedged: bool,
) -> None:
    """The answering attempt: latency statistics, rate-limit headers, spend (only kept when
    there is a budget) and hedge accounting."""
    store = rt.store
    await store.record_success(
        name,
        now,
        ttft=ttft,
        output_tokens=response.usage.completion_tokens,
        generation_s=generation_s,
        rate_limits=result.rate_limits,
    )
    if response.cost_usd and rt.budget is not None:
        await store.add_spend(now, response.cost_usd)
    await store.note_request(now, hedged=hedged)
