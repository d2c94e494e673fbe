"""What the router does after an attempt: fail over or not, and how a result becomes a
:class:`ChatResponse`. Pure functions, shared by ``Router.chat`` and ``ChatStream``."""

from __future__ import annotations

from collections.abc import Sequence

from llama_router.backends.base import Backend, BackendResult
from llama_router.exceptions import (
    ContextLengthExceededError,
    InvalidRequestError,
    LlamaRouterError,
    ProviderError,
)
from llama_router.messages import ChatRequest
from llama_router.responses import Attempt, ChatResponse, Usage

__all__ = ["attempt_record", "build_response", "next_candidates"]

_NO_USAGE = Usage()


def next_candidates(
    error: LlamaRouterError, failed: Backend, remaining: Sequence[Backend]
) -> Sequence[Backend] | None:
    """The deployments still worth trying after ``failed`` raised ``error``, or ``None`` when
    the error must reach the caller as it is.

    An invalid request would be rejected everywhere, so it never fails over; a context-length
    error fails over only to deployments with a larger (known) context window, and is raised
    as it is when there is none.
    """
    if isinstance(error, ContextLengthExceededError):
        window = failed.target.context_window or 0
        larger = [b for b in remaining if (b.target.context_window or 0) > window]
        return larger or None  # nowhere larger: the caller must shorten the request
    if isinstance(error, InvalidRequestError):
        return None
    return remaining


def attempt_record(
    backend: Backend,
    error: LlamaRouterError | None,
    elapsed: float,
    hedged: bool = False,
    usage: Usage = _NO_USAGE,
    started_at: float | None = None,
) -> Attempt:
    status = error.status_code if isinstance(error, ProviderError) else None
    price = backend.target.price
    return Attempt(
        usage=usage,
        cost_usd=price.cost(usage.prompt_tokens, usage.completion_tokens) if price else None,
        deployment=backend.target.name,
        provider=backend.provider,
        outcome="ok" if error is None else "error",
        error=None if error is None else type(error).__name__,
        status_code=status,
        elapsed_s=elapsed,
        started_at=started_at,
        retry_after=error.retry_after if isinstance(error, ProviderError) else None,
        hedged=hedged,
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
    target = backend.target
    usage = result.usage
    cost = None
    if target.price is not None:
        cost = sum(a.cost_usd for a in route if a.cost_usd is not None)
    return ChatResponse(
        text=result.text,
        tool_calls=result.tool_calls,
        finish_reason=result.finish_reason,
        usage=usage,
        provider_timings=result.timings,
        time_to_first_token_s=ttft,
        latency_s=latency,
        cost_usd=cost,
        provider=backend.provider,
        deployment=target.name,
        model=request.model,
        provider_model=result.provider_model or target.model_id,
        route=tuple(route),
    )
