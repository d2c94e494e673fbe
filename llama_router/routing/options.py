"""Router options: deadlines, retries, hedging and budget (frozen, validated at creation).

The defaults and the reasons for them are tabled in ``docs/routing.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Budget", "Hedging", "RetryPolicy", "Timeouts"]


def _positive(name: str, value: float | None) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"{name} must be > 0 seconds, got {value}")


def _not_negative(name: str, value: float | None) -> None:
    if value is not None and value < 0:
        raise ValueError(f"{name} must be >= 0 seconds, got {value}")


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Deadlines. ``total`` bounds everything a request does: every attempt, retry, backoff,
    limit wait and failover. Connect timeouts are per deployment (``Deployment.connect_timeout``).
    """

    total: float = 120.0
    """End-to-end deadline per request, seconds."""
    first_token: float = 30.0
    """Streams: longest wait for an attempt's first token before failing over."""
    idle: float = 30.0
    """Streams: longest gap between two chunks."""

    def __post_init__(self) -> None:
        _positive("total", self.total)
        _positive("first_token", self.first_token)
        _positive("idle", self.idle)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries of transient errors on the same deployment, before failing over."""

    max_retries: int = 1
    """Extra tries on the same deployment (0 disables retries; failover still happens)."""
    backoff_base: float = 0.25
    """First backoff, seconds; doubles per retry, with full jitter."""
    backoff_max: float = 4.0
    max_retry_after: float = 5.0
    """A Retry-After up to this long is waited out on the same deployment; a longer one
    sends the request to the next deployment at once (and cools this one down)."""
    retry_first_token_timeouts: bool = False
    """Retry a stream whose first token did not come within ``Timeouts.first_token`` on the
    same deployment. Off: a stalled deployment is abandoned for the next one at once."""
    max_cooldown_wait: float | None = None
    """Once nothing else is left, wait at most this long for a deployment that is only
    cooling down (Retry-After, open circuit) to come back; ``None``: up to the request's
    deadline; ``0``: never wait, fail at once naming it."""

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        _positive("backoff_base", self.backoff_base)
        _positive("backoff_max", self.backoff_max)
        _not_negative("max_retry_after", self.max_retry_after)
        _not_negative("max_cooldown_wait", self.max_cooldown_wait)


@dataclass(frozen=True, slots=True)
class Hedging:
    """Hedged requests: when the first deployment has not produced a token after ``delay``
    (default: its observed p95 TTFT), the next-ranked one is started too; the first to
    produce a token wins and the other is cancelled."""

    delay: float | None = None
    """Fixed hedge delay, seconds; ``None`` derives it from the primary's p95 TTFT."""
    default_delay: float = 1.0
    """Delay used while the primary has no TTFT measurements yet."""
    min_delay: float = 0.05
    max_share: float = 0.1
    """At most this share of recent requests may be hedged (the extra-spend budget)."""

    def __post_init__(self) -> None:
        _positive("delay", self.delay)
        _positive("default_delay", self.default_delay)
        _not_negative("min_delay", self.min_delay)
        if not 0.0 <= self.max_share <= 1.0:
            raise ValueError("max_share is a fraction between 0 and 1")


@dataclass(frozen=True, slots=True)
class Budget:
    """A spend cap per router: ``usd`` per rolling ``period`` seconds. Once spent, requests
    go to free (local) deployments, or fail with :class:`BudgetExceededError`."""

    usd: float
    period: float = 86_400.0

    def __post_init__(self) -> None:
        if self.usd < 0:
            raise ValueError("budget usd must be >= 0")
        _positive("period", self.period)
