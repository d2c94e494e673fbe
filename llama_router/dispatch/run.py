"""The bookkeeping of one request (:class:`RequestRun`) and what every step of the request
path needs from its router (:class:`Runtime`)."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from llama_router.backends.base import Backend
from llama_router.exceptions import LlamaRouterError
from llama_router.messages import ChatRequest
from llama_router.responses import Attempt
from llama_router.routing.options import Budget, Hedging, RetryPolicy, Timeouts
from llama_router.routing.policy import Policy
from llama_router.state import HealthConfig, Limits, StateStore

__all__ = ["RequestRun", "Runtime", "attach_route"]


@dataclass(frozen=True, slots=True)
class Runtime:
    """A router's deployments, policy, options, store and injected clock, sleep and random
    generator: everything the request path reads. Built once per router."""

    backends: Mapping[str, Backend]
    """Every deployment's backend, by deployment name."""
    by_model: Mapping[str, tuple[Backend, ...]]
    """The backends serving each canonical model, in the order given."""
    index: Mapping[str, int]
    """Each deployment's position in the router's list (the final tie-break)."""
    limits: Mapping[str, Limits]
    policy: Policy
    store: StateStore
    timeouts: Timeouts
    retry: RetryPolicy
    hedging: Hedging | None
    budget: Budget | None
    continuation: bool
    health: HealthConfig
    clock: Callable[[], float]
    sleep: Callable[[float], Awaitable[None]]
    rng: random.Random


@dataclass(slots=True)
class RequestRun:
    """What one request has done so far."""

    request: ChatRequest
    started: float
    deadline: float
    stream: bool = False
    route: list[Attempt] = field(default_factory=list)
    """Every attempt, in the order they ended."""
    errors: list[LlamaRouterError] = field(default_factory=list)
    tried: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    """Deployments that failed in this request and may not be tried again in it."""
    returned: set[str] = field(default_factory=set)
    """Deployments waited for after their cooldown (at most once each per request)."""
    min_window: int | None = None
    """After a context-length error: only windows larger than this may be tried."""
    started_at: dict[str, float] = field(default_factory=dict)
    """When the latest try on each deployment started."""
    hedged: bool = False
    not_tried: dict[str, str] = field(default_factory=dict)
    """Deployments left out, and why (named in the error when every try failed)."""


def attach_route(exc: LlamaRouterError, run: RequestRun) -> None:
    """Give an error that reaches the caller the attempts made for the request."""
    if not getattr(exc, "route", None):
        exc.route = tuple(run.route)
