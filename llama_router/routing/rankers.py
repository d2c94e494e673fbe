"""Rankers: small pure objects that order candidates.

A ranker maps a candidate to a sort key (a tuple of floats, lower is better). Where a ranker
lacks data for a candidate (no latency measured yet, no price), it uses the median of the
candidates it does know, so a new deployment is neither preferred nor starved; exploration
of such deployments is the policy's job. Rankers chain with :meth:`Ranker.then` (ties broken
by the next) and combine in :class:`Weighted` sums.
"""

from __future__ import annotations

import random
import statistics
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping

from llama_router.routing.context import Candidate, RoutingContext
from llama_router.routing.filters import Filter

__all__ = [
    "ByAvailability",
    "ByCost",
    "ByFreeSlot",
    "ByLatency",
    "ByLoad",
    "ByPriority",
    "CloudFirst",
    "LocalFirst",
    "Prefer",
    "Ranker",
    "RoundRobin",
    "Then",
    "Weighted",
    "WeightedRandom",
]

Key = tuple[float, ...]


class Ranker(ABC):
    """Orders candidates: lower keys first."""

    @abstractmethod
    def key(self, ctx: RoutingContext, candidate: Candidate) -> Key: ...

    def then(self, other: Ranker) -> Ranker:
        """Break this ranker's ties with ``other``."""
        return Then(self, other)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _with_prior(
    ctx: RoutingContext, candidate: Candidate, value: Callable[[Candidate], float | None]
) -> float:
    own = value(candidate)
    if own is not None:
        return own
    known = [v for c in ctx.candidates if (v := value(c)) is not None]
    return statistics.median(known) if known else 0.0


class Then(Ranker):
    """Lexicographic: the first ranker's key, then the next ones'."""

    def __init__(self, *rankers: Ranker) -> None:
        self.rankers = rankers

    def key(self, ctx: RoutingContext, candidate: Candidate) -> Key:
        out: Key = ()
        for ranker in self.rankers:
            out += ranker.key(ctx, candidate)
        return out

    def __repr__(self) -> str:
        return " then ".join(map(repr, self.rankers))


class ByLatency(Ranker):
    """Expected time to a complete answer: decaying-average TTFT plus the expected output
    tokens at the decaying-average generation speed, stretched by the requests queued per
    slot; equal estimates (e.g. nothing measured yet) go to the less loaded."""

    def key(self, ctx: RoutingContext, candidate: Candidate) -> Key:
        return (_with_prior(ctx, candidate, lambda c: c.est_latency), candidate.load)


class ByLoad(Ranker):
    """Least busy first: requests in flight per parallel slot (``Candidate.load``: this
    router's own count, or the server's report of its busy slots when larger)."""

    def key(self, ctx: RoutingContext, candidate: Candidate) -> Key:
        return (candidate.load,)


class ByFreeSlot(Ranker):
    """Deployments with a free slot first; those whose every slot of known capacity is busy
    (``Candidate.saturated``) after. Capacity unknown counts as free."""

    def key(self, ctx: RoutingContext, candidate: Candidate) -> Key:
        return (1.0 if candidate.saturated else 0.0,)


class RoundRobin(Ranker):
    """Each decision starts one deployment further along the list than the last (by
    ``Candidate.index``), wrapping around; deployments filtered out are passed over.

    Stateful by design: a decision is recognised as a new :class:`RoutingContext`."""

    def __init__(self) -> None:
        self._turn = -1
        self._ctx: RoutingContext | None = None

    def key(self, ctx: RoutingContext, candidate: Candidate) -> Key:
        if ctx is not self._ctx:
            self._ctx = ctx
            self._turn += 1
        n = max(len(ctx.candidates), candidate.index + 1)
        return (float((candidate.index - self._turn) % n),)


class ByCost(Ranker):
    """Estimated USD for this request: price x (estimated prompt + expected output tokens).
    Unpriced deployments rank after every priced one."""

    def key(self, ctx: RoutingContext, candidate: Candidate) -> Key:
        cost = candidate.est_cost
        return (float("inf") if cost is None else cost,)


class ByAvailability(Ranker):
    """Recent success rate, highest first."""

    def key(self, ctx: RoutingContext, candidate: Candidate) -> Key:
        return (-_with_prior(ctx, candidate, lambda c: c.health.success_rate),)


class ByPriority(Ranker):
    """The order the deployments were given in (or an explicit priority per name; lower
    first, unnamed ones after in their given order)."""

    def __init__(self, priorities: Mapping[str, int] | None = None) -> None:
        self.priorities = dict(priorities or {})

    def key(self, ctx: RoutingContext, candidate: Candidate) -> Key:
        if not self.priorities:
            return (float(candidate.index),)
        return (float(self.priorities.get(candidate.name, 1 << 30)), float(candidate.index))


class LocalFirst(Ranker):
    """Local deployments first; cloud ones after. A local deployment that is known not to be
    loaded (a cold load ahead), whose p95 TTFT exceeds ``slow_ttft``, or that is saturated
    (no free slot) with a queue that would not be served before the request's deadline
    (expected latency past ``RoutingContext.time_left``) goes after the cloud."""

    def __init__(self, slow_ttft: float | None = None) -> None:
        self.slow_ttft = slow_ttft

    def key(self, ctx: RoutingContext, candidate: Candidate) -> Key:
        if not candidate.is_local:
            return (1.0,)
        health = candidate.health
        slow = self.slow_ttft is not None and (health.ttft_p95 or 0.0) > self.slow_ttft
        return (2.0,) if slow or health.loaded is False or _overflows(ctx, candidate) else (0.0,)


def _overflows(ctx: RoutingContext, candidate: Candidate) -> bool:
    """Saturated, and its queue would break the deadline."""
    late = candidate.est_latency
    left = ctx.time_left
    return candidate.load >= 1.0 and late is not None and left is not None and late > left


class CloudFirst(Ranker):
    """Cloud deployments first; local ones are the last resort."""

    def key(self, ctx: RoutingContext, candidate: Candidate) -> Key:
        return (1.0 if candidate.is_local else 0.0,)


class Prefer(Ranker):
    """A soft constraint: candidates the filter keeps come first (ordered by ``ranker``);
    the others follow, in the same order, so there is still a fallback.

    ``Prefer(P95TtftBelow(0.8), ByCost())`` is "the cheapest whose p95 TTFT is under 800 ms".
    """

    def __init__(self, constraint: Filter, ranker: Ranker) -> None:
        self.constraint = constraint
        self.ranker = ranker

    def key(self, ctx: RoutingContext, candidate: Candidate) -> Key:
        miss = 0.0 if self.constraint.reject(ctx, candidate) is None else 1.0
        return (miss, *self.ranker.key(ctx, candidate))

    def __repr__(self) -> str:
        return f"Prefer({self.constraint!r}, {self.ranker!r})"


class Weighted(Ranker):
    """A weighted sum of rankers' first key components, each scaled to 0..1 across the
    candidates (so seconds and dollars can be mixed)."""

    def __init__(self, *parts: tuple[Ranker, float]) -> None:
        self.parts = parts

    def key(self, ctx: RoutingContext, candidate: Candidate) -> Key:
        total = 0.0
        for ranker, weight in self.parts:
            values = [ranker.key(ctx, c)[0] for c in ctx.candidates]
            finite = [v for v in values if v != float("inf")]
            own = ranker.key(ctx, candidate)[0]
            if own == float("inf"):
                total += weight
                continue
            low, high = (min(finite), max(finite)) if finite else (0.0, 0.0)
            total += weight * ((own - low) / (high - low) if high > low else 0.0)
        return (total,)


class WeightedRandom(Ranker):
    """Random order with probability proportional to weight (unnamed deployments weigh 1).

    Uses weighted sampling without replacement (key ``-u ** (1 / w)``); pass a seeded
    ``random.Random`` for reproducible runs."""

    def __init__(
        self, weights: Mapping[str, float] | None = None, rng: random.Random | None = None
    ) -> None:
        self.weights = dict(weights or {})
        self.rng = rng or random.Random()

    def key(self, ctx: RoutingContext, candidate: Candidate) -> Key:
        weight = self.weights.get(candidate.name, 1.0)
        if weight <= 0:
            return (1.0,)
        return (-(self.rng.random() ** (1.0 / weight)),)
