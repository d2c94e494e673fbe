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

__all__ = ["DEFAULT_OUTPUT_TOKENS", "Candidate", "RoutingContext", "estimate_prompt_tokens"]

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
    """Seconds: decaying-average TTFT plus expected tokens over decaying-average speed."""

    @property
    def is_local(self) -> bool:
        return "local" in self.tags


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


def estimate_latency(health: HealthSnapshot, output_tokens: int) -> float | None:
    if health.ttft_ewma is None:
        return None
    if health.tps_ewma:
        return health.ttft_ewma + output_tokens / health.tps_ewma
    return health.ttft_ewma


def estimate_cost(price: Price | None, prompt_tokens: int, output_tokens: int) -> float | None:
    return None if price is None else price.cost(prompt_tokens, output_tokens)
