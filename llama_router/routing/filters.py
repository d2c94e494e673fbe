"""Filters: small pure objects that drop candidates, each saying why.

A filter's :meth:`Filter.reject` returns ``None`` to keep a candidate, or the reason it is
dropped (shown by ``router.explain``). Filters combine with ``&`` (all must keep) and ``|``
(either may keep).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable

from llama_router.routing.context import Candidate, RoutingContext

__all__ = [
    "AnyOf",
    "AllOf",
    "ExcludeTags",
    "Filter",
    "FitsContext",
    "HasTags",
    "Healthy",
    "P95TtftBelow",
    "Supported",
    "WithinBudget",
    "WithinTokenQuota",
]


class Filter(ABC):
    """Keeps or drops one candidate."""

    @abstractmethod
    def reject(self, ctx: RoutingContext, candidate: Candidate) -> str | None:
        """``None`` to keep the candidate, else the reason it is dropped."""

    def __and__(self, other: Filter) -> Filter:
        return AllOf(self, other)

    def __or__(self, other: Filter) -> Filter:
        return AnyOf(self, other)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class AllOf(Filter):
    def __init__(self, *filters: Filter) -> None:
        self.filters = filters

    def reject(self, ctx: RoutingContext, candidate: Candidate) -> str | None:
        for f in self.filters:
            reason = f.reject(ctx, candidate)
            if reason is not None:
                return reason
        return None


class AnyOf(Filter):
    def __init__(self, *filters: Filter) -> None:
        self.filters = filters

    def reject(self, ctx: RoutingContext, candidate: Candidate) -> str | None:
        reasons = []
        for f in self.filters:
            reason = f.reject(ctx, candidate)
            if reason is None:
                return None
            reasons.append(reason)
        return " and ".join(reasons)


class Healthy(Filter):
    """Drops deployments whose circuit is open, that are cooling down after a Retry-After,
    or whose single half-open probe is already in flight."""

    def reject(self, ctx: RoutingContext, candidate: Candidate) -> str | None:
        health = candidate.health
        if health.available(ctx.now):
            return None
        wait = health.available_at - ctx.now
        if health.circuit == "open":
            return f"circuit open for {wait:.1f} s more ({health.last_error})"
        if wait > 0:
            return f"cooling down for {wait:.1f} s more ({health.last_error})"
        return "half-open: its one probe request is in flight"


class Supported(Filter):
    """Drops deployments that cannot serve a feature the request needs (tools, JSON...)."""

    def reject(self, ctx: RoutingContext, candidate: Candidate) -> str | None:
        return candidate.unsupported


class FitsContext(Filter):
    """Drops deployments whose context window is smaller than the estimated prompt plus the
    output cap. Deployments with an unknown window are kept."""

    def reject(self, ctx: RoutingContext, candidate: Candidate) -> str | None:
        window = candidate.context_window
        needed = ctx.prompt_tokens + ctx.output_tokens
        if window is not None and needed > window:
            return (
                f"~{ctx.prompt_tokens} prompt + {ctx.output_tokens} output tokens exceed its "
                f"{window}-token context window"
            )
        return None


class WithinTokenQuota(Filter):
    """Drops deployments that refused a request as larger than their per-minute token
    quota, for requests at least that large (prompt estimate plus output cap)."""

    def reject(self, ctx: RoutingContext, candidate: Candidate) -> str | None:
        quota = candidate.health.token_quota
        needed = ctx.prompt_tokens + ctx.output_tokens
        if quota is not None and needed > quota:
            return (
                f"~{ctx.prompt_tokens} prompt + {ctx.output_tokens} output tokens exceed its "
                f"per-minute token quota ({quota}, learned from a 413)"
            )
        return None


class WithinBudget(Filter):
    """Drops deployments whose estimated cost exceeds what is left of the budget; once the
    budget is spent only free (zero-priced) deployments remain."""

    def reject(self, ctx: RoutingContext, candidate: Candidate) -> str | None:
        remaining = ctx.budget_remaining
        if remaining is None:
            return None
        cost = candidate.est_cost
        if cost == 0:
            return None
        if cost is None:
            return None if remaining > 0 else "budget spent and its price is unknown"
        if cost > remaining:
            return f"estimated ${cost:.6f} exceeds the ${max(remaining, 0):.6f} budget left"
        return None


class HasTags(Filter):
    """Keeps deployments carrying every one of ``tags`` (``local``, ``cloud``, your own)."""

    def __init__(self, *tags: str) -> None:
        self.tags = frozenset(tags)

    def reject(self, ctx: RoutingContext, candidate: Candidate) -> str | None:
        missing = self.tags - candidate.tags
        return f"lacks tag(s) {', '.join(sorted(missing))}" if missing else None

    def __repr__(self) -> str:
        return f"HasTags({', '.join(map(repr, sorted(self.tags)))})"


class ExcludeTags(Filter):
    """Drops deployments carrying any of ``tags``."""

    def __init__(self, *tags: str) -> None:
        self.tags = frozenset(tags)

    def reject(self, ctx: RoutingContext, candidate: Candidate) -> str | None:
        found = self.tags & candidate.tags
        return f"has excluded tag(s) {', '.join(sorted(found))}" if found else None


class P95TtftBelow(Filter):
    """Keeps deployments whose p95 time to first token is under ``seconds`` (and those with
    no measurement yet, so they can be tried)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def reject(self, ctx: RoutingContext, candidate: Candidate) -> str | None:
        p95 = candidate.health.ttft_p95
        if p95 is not None and p95 >= self.seconds:
            return f"p95 TTFT {p95 * 1000:.0f} ms is not under {self.seconds * 1000:.0f} ms"
        return None

    def __repr__(self) -> str:
        return f"P95TtftBelow({self.seconds})"


def default_filters() -> tuple[Filter, ...]:
    """The filters every built-in policy applies."""
    return (Healthy(), Supported(), FitsContext(), WithinTokenQuota(), WithinBudget())


def first_rejection(
    filters: Iterable[Filter], ctx: RoutingContext, candidate: Candidate
) -> str | None:
    for f in filters:
        reason = f.reject(ctx, candidate)
        if reason is not None:
            return reason
    return None
