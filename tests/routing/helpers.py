"""Builders for the routing tests: frozen :class:`Candidate` and :class:`RoutingContext`
values made from a few keyword arguments. Pure: no I/O, no clock, no randomness.

``make_context`` (re)computes each candidate's ``est_cost`` and ``est_latency`` with the
library's own ``estimate_cost`` / ``estimate_latency`` for the context's token counts, as the
router does when it builds a real context.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import date

from llama_router.capabilities import Capabilities
from llama_router.catalog import Price
from llama_router.messages import ChatRequest, Message
from llama_router.routing.context import (
    DEFAULT_OUTPUT_TOKENS,
    Candidate,
    RoutingContext,
    estimate_cost,
    estimate_latency,
    estimate_prompt_tokens,
)
from llama_router.routing.filters import Filter
from llama_router.routing.rankers import Ranker
from llama_router.state.health import CircuitState, HealthSnapshot
from llama_router.state.store import Limits

__all__ = [
    "DEFAULT_PROMPT_TOKENS",
    "DEFAULT_REQUEST",
    "T0",
    "make_candidate",
    "make_context",
    "make_price",
    "order",
    "rejections",
]

T0 = 1000.0
"""The default ``now`` of a context (seconds on the router's clock)."""

DEFAULT_REQUEST = ChatRequest(model="llama-3.1-8b", messages=(Message.user("Say hi."),))
DEFAULT_PROMPT_TOKENS = estimate_prompt_tokens(DEFAULT_REQUEST)
"""7 characters // 4 + 4 tokens of framing = 5."""

PriceLike = Price | tuple[float, float] | None


def make_price(input_per_mtok: float, output_per_mtok: float) -> Price:
    """A price in USD per million input / output tokens."""
    return Price(
        input_per_mtok=input_per_mtok,
        output_per_mtok=output_per_mtok,
        as_of=date(2026, 1, 1),
        source="test",
    )


def _as_price(price: PriceLike) -> Price | None:
    if price is None or isinstance(price, Price):
        return price
    return make_price(*price)


def make_candidate(
    name: str,
    *,
    index: int = 0,
    tags: Iterable[str] = ("cloud",),
    provider: str | None = None,
    price: PriceLike = None,
    window: int | None = None,
    health: HealthSnapshot | None = None,
    samples: int | None = None,
    ttft: float | None = None,
    tps: float | None = None,
    p50: float | None = None,
    p95: float | None = None,
    success_rate: float | None = None,
    successes: int = 0,
    failures: int = 0,
    consecutive_failures: int = 0,
    circuit: CircuitState = "closed",
    available_at: float = 0.0,
    probe_in_flight: bool = False,
    quota_low: bool = False,
    token_quota: int | None = None,
    loaded: bool | None = None,
    last_error: str | None = None,
    in_flight: int = 0,
    slots_total: int | None = None,
    slots_busy: int | None = None,
    unsupported: str | None = None,
    limits: Limits | None = None,
    capabilities: Capabilities | None = None,
    prompt_tokens: int = DEFAULT_PROMPT_TOKENS,
    output_tokens: int = DEFAULT_OUTPUT_TOKENS,
) -> Candidate:
    """One candidate deployment.

    ``ttft`` / ``tps`` are the decaying averages of the health snapshot; ``samples``
    defaults to 10 when a ``ttft`` is given (a well-known deployment) and to 0 otherwise.
    ``health`` passes a whole snapshot instead (e.g. one taken from a ``HealthRecord``);
    the per-field health arguments are then ignored.
    """
    tag_set = frozenset(tags)
    if health is None:
        health = HealthSnapshot(
            samples=(10 if ttft is not None else 0) if samples is None else samples,
            ttft_ewma=ttft,
            tps_ewma=tps,
            ttft_p50=p50,
            ttft_p95=p95,
            successes=successes,
            failures=failures,
            success_rate=success_rate,
            consecutive_failures=consecutive_failures,
            circuit=circuit,
            available_at=available_at,
            probe_in_flight=probe_in_flight,
            quota_low=quota_low,
            token_quota=token_quota,
            loaded=loaded,
            last_error=last_error,
            in_flight=in_flight,
            slots_total=slots_total,
            slots_busy=slots_busy,
        )
    resolved_price = _as_price(price)
    return Candidate(
        name=name,
        index=index,
        provider=provider or ("ollama" if "local" in tag_set else "groq"),
        model_id=f"{name}-model",
        tags=tag_set,
        context_window=window,
        price=resolved_price,
        capabilities=capabilities or Capabilities(),
        limits=limits or Limits(),
        health=health,
        unsupported=unsupported,
        est_cost=estimate_cost(resolved_price, prompt_tokens, output_tokens),
        est_latency=estimate_latency(health, output_tokens, (limits or Limits()).max_concurrency),
    )


def make_context(
    candidates: Iterable[Candidate],
    *,
    now: float = T0,
    prompt_tokens: int | None = None,
    output_tokens: int | None = None,
    budget_remaining: float | None = None,
    request: ChatRequest | None = None,
    stream: bool = False,
    time_left: float | None = None,
) -> RoutingContext:
    """A routing context; token counts default to the request's estimate and its
    ``max_tokens`` (else :data:`DEFAULT_OUTPUT_TOKENS`), as the router computes them."""
    request = request or DEFAULT_REQUEST
    prompt = estimate_prompt_tokens(request) if prompt_tokens is None else prompt_tokens
    if output_tokens is None:
        output_tokens = request.settings.max_tokens or DEFAULT_OUTPUT_TOKENS
    priced = tuple(
        dataclasses.replace(
            c,
            est_cost=estimate_cost(c.price, prompt, output_tokens),
            est_latency=estimate_latency(c.health, output_tokens, c.limits.max_concurrency),
        )
        for c in candidates
    )
    return RoutingContext(
        request=request,
        candidates=priced,
        now=now,
        prompt_tokens=prompt,
        output_tokens=output_tokens,
        budget_remaining=budget_remaining,
        stream=stream,
        time_left=time_left,
    )


def order(ranker: Ranker, ctx: RoutingContext) -> list[str]:
    """Candidate names sorted by ``ranker`` (ties by index, as ``Policy.decide`` does).

    ``sorted`` computes each key exactly once, so a random ranker draws once per candidate.
    """
    ranked = sorted(ctx.candidates, key=lambda c: (ranker.key(ctx, c), c.index))
    return [c.name for c in ranked]


def rejections(flt: Filter, ctx: RoutingContext) -> dict[str, str | None]:
    """Each candidate's name mapped to the filter's verdict (``None`` = kept)."""
    return {c.name: flt.reject(ctx, c) for c in ctx.candidates}
