"""The immutable snapshot every policy reads: the request, and each candidate deployment
with its health, limits, estimated cost and estimated latency at one moment."""

from __future__ import annotations

import json
from dataclasses import dataclass

from llama_router.capabilities import Capabilities
from llama_router.catalog import Price
from llama_router.messages import ChatRequest
from llama_router.state.health import HealthSnapshot
from llama_router.state.store import Limits

__all__ = [
    "DEFAULT_OUTPUT_TOKENS",
    "Candidate",
    "RoutingContext",
    "estimate_prompt_tokens",
    "queue_per_slot",
]

#: Output length assumed for cost and latency estimates when max_tokens is not set.
DEFAULT_OUTPUT_TOKENS = 256


def estimate_prompt_tokens(request: ChatRequest) -> int:
    """A cheap, provider-neutral estimate: about 4 characters per token plus 4 tokens of
    framing per message (Llama 3's headers), plus the tool schemas."""
    chars = 0
    for message in request.messages:
        chars += len(message.content)
        for call in message.tool_calls:
            chars += len(call.name) + len(call.arguments)
    tokens = chars // 4 + 4 * len(request.messages)
    for tool in request.settings.tools:
        tokens += (len(tool.name) + len(tool.description) + len(json.dumps(tool.parameters))) // 4
    return tokens


@dataclass(frozen=True, slots=True)
class Candidate:
    """One deployment as a policy sees it."""

    name: str
    index: int
    """Position in the router's deployment list (the final, deterministic tie-break)."""
    provider: str
    model_id: str
    tags: frozenset[str]
    context_window: int | None
    price: Price | None
    capabilities: Capabilities
    limits: Limits
    health: HealthSnapshot
    unsupported: str | None = None
    """Why this deployment cannot serve the request (a missing feature), if it cannot."""
    est_cost: float | None = None
    """USD for this request, from the price and the token estimates; ``None`` if unpriced."""
    est_latency: float | None = None
    """Seconds: decaying-average TTFT plus expected tokens over decaying-average speed,
    stretched by the requests already queued per slot (:func:`estimate_latency`)."""

    @property
    def is_local(self) -> bool:
        return "local" in self.tags

    @property
    def saturated(self) -> bool:
        """Every slot of a known capacity (``slots_total`` or ``max_concurrency``) is busy:
        a new request would queue. ``False`` when the capacity is unknown."""
        known = self.health.slots_total or self.limits.max_concurrency
        return known is not None and self.load >= 1.0

    @property
    def load(self) -> float:
        """Requests already in flight per parallel slot (:func:`queue_per_slot`)."""
        return queue_per_slot(self.health, self.limits.max_concurrency)


@dataclass(frozen=True, slots=True)
class RoutingContext:
    """Everything a policy may read, frozen at one moment ``now``."""

    request: ChatRequest
    candidates: tuple[Candidate, ...]
    now: float
    prompt_tokens: int
    """Estimated prompt tokens."""
    output_tokens: int
    """``max_tokens`` when set, else :data:`DEFAULT_OUTPUT_TOKENS`."""
    budget_remaining: float | None = None
    """USD left in the router's budget period; ``None`` without a budget."""
    stream: bool = False
    time_left: float | None = None
    """Seconds until the request's deadline (``None``: no deadline known, e.g. ``explain``)."""


def queue_per_slot(health: HealthSnapshot, max_concurrency: int | None = None) -> float:
    """How many requests are ahead of a new one per parallel slot of the deployment.

    Busy is the larger of what this router has in flight and what the server last said it
    is processing (other clients count too); slots are the server's own ``slots_total``,
    else the deployment's ``max_concurrency``, else 1 (unknown capacity: plain
    least-outstanding-requests). 0 is idle; 1 or more means a new request queues."""
    slots = health.slots_total or max_concurrency or 1
    busy = max(health.in_flight, health.slots_busy or 0)
    return busy / slots


def estimate_latency(
    health: HealthSnapshot, output_tokens: int, max_concurrency: int | None = None
) -> float | None:
    """Expected seconds to a complete answer: TTFT + output tokens at the measured speed,
    times ``1 + queue_per_slot`` (each request ahead per slot costs about one more service
    time, as in Envoy's least-request weighting); ``None`` before any measurement."""
    if health.ttft_ewma is None:
        return None
    service = health.ttft_ewma
    if health.tps_ewma:
        service += output_tokens / health.tps_ewma
    return service * (1.0 + queue_per_slot(health, max_concurrency))


def estimate_cost(price: Price | None, prompt_tokens: int, output_tokens: int) -> float | None:
    return None if price is None else price.cost(prompt_tokens, output_tokens)
