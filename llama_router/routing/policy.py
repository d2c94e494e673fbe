"""Policies: filters plus a ranker, with bounded exploration of untried deployments.

``Policy.decide`` is a pure function of a :class:`RoutingContext` (and the policy's own
seeded random generator): it returns every candidate either ranked or rejected with a
reason, which is also what ``router.explain`` prints.

Built-in policies: :func:`ordered` (the default), :func:`lowest_latency`,
:func:`lowest_cost`, :func:`best_availability`, :func:`local_first`, :func:`cloud_first`,
:func:`cheapest_under`, :func:`least_busy` and :func:`round_robin`. Each accounts for load
(requests in flight per slot) as its docstring says. Users write their own by combining
filters and rankers, or by subclassing :class:`Policy`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from llama_router.routing.context import Candidate, RoutingContext
from llama_router.routing.filters import Filter, P95TtftBelow, default_filters, first_rejection
from llama_router.routing.rankers import (
    ByAvailability,
    ByCost,
    ByFreeSlot,
    ByLatency,
    ByLoad,
    ByPriority,
    CloudFirst,
    LocalFirst,
    Prefer,
    Ranker,
    RoundRobin,
)

__all__ = [
    "Decision",
    "Policy",
    "Rejection",
    "best_availability",
    "cheapest_under",
    "cloud_first",
    "least_busy",
    "local_first",
    "lowest_cost",
    "lowest_latency",
    "ordered",
    "round_robin",
]


@dataclass(frozen=True, slots=True)
class Rejection:
    candidate: Candidate
    reason: str


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of a policy for one request."""

    ranked: tuple[Candidate, ...]
    """Candidates to try, best first."""
    rejected: tuple[Rejection, ...]
    """Candidates filtered out, each with its reason."""
    keys: tuple[tuple[float, ...], ...]
    """The sort key of each ranked candidate (same order as ``ranked``)."""
    explored: str | None = None
    """The untried deployment promoted to first place for exploration, if any."""


class Policy:
    """Filters, then a ranker, then (sometimes) exploration.

    Args:
        ranker: orders the candidates that pass the filters.
        filters: drop candidates; defaults to healthy + supports the request + fits the
            context window + within budget.
        explore: probability, per request, of trying first a deployment that has fewer than
            ``min_samples`` measurements (bounded exploration; 0 disables it).
        min_samples: measurements after which a deployment counts as known.
        rng: the random generator for exploration (seed it for reproducible routing).
        name: shown by ``explain``.

    Deployments whose rate-limit headers say the quota is nearly spent are ranked after all
    others, whatever the ranker says.
    """

    def __init__(
        self,
        ranker: Ranker,
        *,
        filters: Sequence[Filter] | None = None,
        explore: float = 0.0,
        min_samples: int = 3,
        rng: random.Random | None = None,
        name: str | None = None,
    ) -> None:
        if not 0.0 <= explore <= 1.0:
            raise ValueError("explore is a probability between 0 and 1")
        self.ranker = ranker
        self.filters: tuple[Filter, ...] = default_filters() if filters is None else tuple(filters)
        self.explore = explore
        self.min_samples = min_samples
        self.rng = rng or random.Random()
        self.name = name or repr(ranker)

    def with_filters(self, *more: Filter) -> Policy:
        """The same policy with extra filters (e.g. ``HasTags("eu")``)."""
        return Policy(
            self.ranker,
            filters=(*self.filters, *more),
            explore=self.explore,
            min_samples=self.min_samples,
            rng=self.rng,
            name=self.name,
        )

    def decide(self, ctx: RoutingContext) -> Decision:
        kept: list[Candidate] = []
        rejected: list[Rejection] = []
        for candidate in ctx.candidates:
            reason = first_rejection(self.filters, ctx, candidate)
            if reason is None:
                kept.append(candidate)
            else:
                rejected.append(Rejection(candidate, reason))
        ranker = self.ranker
        scored = sorted(
            ((c.health.quota_low, ranker.key(ctx, c), c.index, c) for c in kept),
            key=lambda item: item[:3],
        )
        ranked = [item[3] for item in scored]
        keys = [item[1] for item in scored]
        explored: str | None = None
        if self.explore and len(ranked) > 1 and self.rng.random() < self.explore:
            fresh = [
                i
                for i, c in enumerate(ranked)
                if c.health.samples < self.min_samples and not c.health.quota_low
            ]
            if fresh and fresh[0] != 0:
                i = fresh[0]
                ranked.insert(0, ranked.pop(i))
                keys.insert(0, keys.pop(i))
                explored = ranked[0].name
        return Decision(tuple(ranked), tuple(rejected), tuple(keys), explored)

    def __repr__(self) -> str:
        return f"Policy({self.name})"


def ordered() -> Policy:
    """The deployments in the order given, skipping unhealthy ones (the default). A
    deployment with no free slot (every slot of known capacity busy) goes after those with
    one."""
    return Policy(ByFreeSlot().then(ByPriority()), name="ordered")


def lowest_latency(explore: float = 0.1, rng: random.Random | None = None) -> Policy:
    """Fastest expected answer (TTFT + generation); explores untried deployments 10 % of the
    time until each has 3 measurements."""
    return Policy(ByLatency().then(ByPriority()), explore=explore, rng=rng, name="lowest_latency")


def lowest_cost() -> Policy:
    """Cheapest estimated cost for this request; ties go to the faster (queue included),
    then the earlier."""
    return Policy(ByCost().then(ByLatency()).then(ByPriority()), name="lowest_cost")


def best_availability(explore: float = 0.1, rng: random.Random | None = None) -> Policy:
    """Highest recent success rate; ties go to the faster (queue included)."""
    return Policy(
        ByAvailability().then(ByLatency()).then(ByPriority()),
        explore=explore,
        rng=rng,
        name="best_availability",
    )


def local_first(slow_ttft: float | None = None) -> Policy:
    """Local engines first (least busy first), the cloud as fallback. A local engine that is
    not loaded, whose p95 TTFT exceeds ``slow_ttft`` seconds, or whose queue would break the
    request's deadline goes after the cloud (overflow)."""
    return Policy(LocalFirst(slow_ttft).then(ByLoad()).then(ByPriority()), name="local_first")


def cloud_first() -> Policy:
    """Cloud deployments first (fastest first, queue included); local engines are the last
    resort."""
    return Policy(CloudFirst().then(ByLatency()).then(ByPriority()), name="cloud_first")


def cheapest_under(p95_ttft: float) -> Policy:
    """The cheapest deployment whose p95 TTFT is under ``p95_ttft`` seconds; if none
    qualifies, the cheapest of the rest. Equal prices go to the least busy."""
    return Policy(
        Prefer(P95TtftBelow(p95_ttft), ByCost().then(ByLoad()).then(ByPriority())),
        name=f"cheapest_under({p95_ttft})",
    )


def least_busy() -> Policy:
    """Fewest requests in flight per parallel slot (the server's own busy slots count when
    it reports more); ties go to the faster, then the earlier."""
    return Policy(ByLoad().then(ByLatency()).then(ByPriority()), name="least_busy")


def round_robin() -> Policy:
    """Each request starts at the next deployment in the list (healthy ones only); blind to
    speed and load by design: the baseline the load-aware policies are measured against."""
    return Policy(RoundRobin().then(ByPriority()), name="round_robin")
