"""Per-deployment health: latency statistics, outcome counts and the circuit breaker.

:class:`HealthRecord` is the mutable record a state store keeps for one deployment; every
method takes ``now`` (seconds on the router's clock), so behaviour over time is tested with a
fake clock and no sleeping. Policies never see it: they read :class:`HealthSnapshot`, a frozen
copy taken once per request.

Circuit breaker::

    closed --(N consecutive failures, or failure rate >= R over >= M recent calls)--> open
    open --(open_for seconds pass)--> half_open: exactly one probe request is let through
    half_open --probe succeeds--> closed          half_open --probe fails--> open (twice as long)

Separately from the circuit, a deployment can be *cooling down* until a moment the provider
named (``Retry-After``, or the rate-limit reset header on a 429): it is skipped until then
without being counted as unhealthy.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from typing import Literal

from llama_router.ratelimits import RateLimitInfo

__all__ = ["CircuitState", "HealthConfig", "HealthRecord", "HealthSnapshot"]

CircuitState = Literal["closed", "open", "half_open"]


@dataclass(frozen=True, slots=True)
class HealthConfig:
    """Tuning of health tracking; the defaults and the reasons for them are in
    ``docs/routing.md``."""

    ewma_alpha: float = 0.2
    """Weight of the newest sample in the decaying averages (about the last 10 samples)."""
    latency_window: int = 100
    """Samples kept for the p50 / p95 estimates."""
    outcome_window: int = 50
    """Recent outcomes kept for the success rate."""
    failure_threshold: int = 5
    """Consecutive failures that open the circuit."""
    failure_rate: float = 0.5
    """Failure share over the recent outcomes that opens the circuit..."""
    min_calls: int = 20
    """...once at least this many recent outcomes are known."""
    open_for: float = 30.0
    """Seconds the circuit stays open before the half-open probe."""
    max_open_for: float = 600.0
    """Cap on the doubling open time after failed probes."""
    rate_limit_cooldown: float = 10.0
    """Cooldown after a 429 that names no Retry-After and no reset time."""
    max_cooldown: float = 3600.0
    """Longest cooldown accepted from a provider's Retry-After or reset header."""
    quota_low_fraction: float = 0.05
    """Remaining quota at or below this share of the limit deprioritises a deployment."""


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    """What the policies know about one deployment at one moment."""

    samples: int = 0
    """Successful calls with a latency measurement."""
    ttft_ewma: float | None = None
    """Decaying average of time to first token, seconds."""
    tps_ewma: float | None = None
    """Decaying average of output tokens per second."""
    ttft_p50: float | None = None
    ttft_p95: float | None = None
    successes: int = 0
    failures: int = 0
    success_rate: float | None = None
    """Success share of the recent outcomes (``None`` before any)."""
    consecutive_failures: int = 0
    circuit: CircuitState = "closed"
    available_at: float = 0.0
    """Not before this moment: open circuit or provider-requested cooldown."""
    probe_in_flight: bool = False
    quota_low: bool = False
    """The last rate-limit headers said the quota is nearly spent (and not yet reset)."""
    token_quota: int | None = None
    """The largest request (prompt + output cap, tokens) the provider accepts, learned from a
    request that exceeded its per-minute token quota; larger requests skip the deployment."""
    context_window: int | None = None
    """The window the server runs with, learned from its own reports (llama.cpp ``/props``
    and overflow errors, Ollama ``/api/ps``); a deployment's explicit window wins."""
    loaded: bool | None = None
    """From health probes and cold starts: ``False`` means the first call pays a cold load."""
    last_error: str | None = None
    in_flight: int = 0
    """Requests this router has sent to the deployment and not yet seen end."""
    slots_total: int | None = None
    """Parallel slots the server reports (llama.cpp ``/props`` ``total_slots``)."""
    slots_busy: int | None = None
    """Slots the server last reported processing (llama.cpp ``/slots``), from any client."""

    def available(self, now: float) -> bool:
        """Whether a request may be sent now (a half-open circuit admits one probe)."""
        if now < self.available_at:
            return False
        return not (self.circuit == "half_open" and self.probe_in_flight)


_FRESH = HealthSnapshot()


class HealthRecord:
    """Mutable health state of one deployment (kept by a state store)."""

    __slots__ = (
        "_dirty",
        "_outcomes",
        "_snapshot",
        "_ttfts",
        "circuit",
        "config",
        "consecutive_failures",
        "context_window",
        "cooldown_until",
        "failures",
        "in_flight",
        "last_error",
        "loaded",
        "open_for",
        "open_until",
        "probe_in_flight",
        "quota_low_until",
        "samples",
        "slots_busy",
        "slots_total",
        "successes",
        "token_quota",
        "tps_ewma",
        "ttft_ewma",
    )

    def __init__(self, config: HealthConfig) -> None:
        self.config = config
        self.samples = 0
        self.ttft_ewma: float | None = None
        self.tps_ewma: float | None = None
        self._ttfts: deque[float] = deque(maxlen=config.latency_window)
        self._outcomes: deque[bool] = deque(maxlen=config.outcome_window)
        self.successes = 0
        self.failures = 0
        self.consecutive_failures = 0
        self.circuit: CircuitState = "closed"
        self.open_until = 0.0
        self.open_for = config.open_for
        self.probe_in_flight = False
        self.cooldown_until = 0.0
        self.quota_low_until = 0.0
        self.token_quota: int | None = None
        self.context_window: int | None = None
        self.loaded: bool | None = None
        self.last_error: str | None = None
        self.in_flight = 0
        self.slots_total: int | None = None
        self.slots_busy: int | None = None
        self._dirty = True
        self._snapshot = _FRESH

    # -- transitions ---------------------------------------------------------------------

    def _advance(self, now: float) -> None:
        if self.circuit == "open" and now >= self.open_until:
            self.circuit = "half_open"
            self.probe_in_flight = False
            self._dirty = True

    def try_probe(self, now: float) -> bool:
        """Claim the single half-open probe; ``True`` also when the circuit is closed."""
        self._advance(now)
        if self.circuit == "closed":
            return True
        if self.circuit == "half_open" and not self.probe_in_flight:
            self.probe_in_flight = True
            self._dirty = True
            return True
        return False

    def release_probe(self) -> None:
        """Give the probe back unused (the attempt never reached the provider)."""
        if self.probe_in_flight:
            self.probe_in_flight = False
            self._dirty = True

    def record_success(
        self,
        now: float,
        *,
        ttft: float | None,
        output_tokens: int = 0,
        generation_s: float | None = None,
        rate_limits: RateLimitInfo | None = None,
    ) -> None:
        cfg = self.config
        self._advance(now)
        self.successes += 1
        self.consecutive_failures = 0
        self._outcomes.append(True)
        if self.circuit != "closed":
            self.circuit = "closed"
            self.open_for = cfg.open_for
            # A fresh start: the failures that opened the circuit must not reopen it at once.
            self._outcomes.clear()
            self._outcomes.append(True)
        self.probe_in_flight = False
        self.loaded = True
        if ttft is not None:
            self.samples += 1
            self._ttfts.append(ttft)
            a = cfg.ewma_alpha
            self.ttft_ewma = ttft if self.ttft_ewma is None else a * ttft + (1 - a) * self.ttft_ewma
        if output_tokens > 0 and generation_s:
            tps = output_tokens / generation_s
            a = cfg.ewma_alpha
            self.tps_ewma = tps if self.tps_ewma is None else a * tps + (1 - a) * self.tps_ewma
        if rate_limits is not None:
            self.observe_rate_limits(now, rate_limits)
        self._dirty = True

    def record_failure(
        self, now: float, error: str, *, counts_against_health: bool, cooldown: float | None
    ) -> None:
        """An attempt failed. ``counts_against_health`` is false for errors that are not the
        deployment's fault (rate limits); ``cooldown`` keeps it out for that many seconds."""
        cfg = self.config
        self._advance(now)
        self.last_error = error
        if cooldown is not None and cooldown > 0:
            self.cooldown_until = max(self.cooldown_until, now + min(cooldown, cfg.max_cooldown))
        if counts_against_health:
            self.failures += 1
            self.consecutive_failures += 1
            self._outcomes.append(False)
            if self.circuit == "half_open":
                self.open_for = min(self.open_for * 2, cfg.max_open_for)
                self._open(now)
            elif self.circuit == "closed" and self._should_open():
                self._open(now)
        self.probe_in_flight = False
        self._dirty = True

    def _should_open(self) -> bool:
        cfg = self.config
        if self.consecutive_failures >= cfg.failure_threshold:
            return True
        n = len(self._outcomes)
        if n >= cfg.min_calls:
            failed = n - sum(self._outcomes)
            return failed / n >= cfg.failure_rate
        return False

    def _open(self, now: float) -> None:
        self.circuit = "open"
        self.open_until = now + self.open_for

    def observe_rate_limits(self, now: float, limits: RateLimitInfo) -> None:
        """Deprioritise the deployment until the reset if its quota is nearly spent.

        A ``Retry-After`` on a *successful* reply (Together sends one as a hint) deprioritises
        it for that long too (capped at ``max_cooldown``): the provider asks for less
        traffic before it starts refusing, but the reply proves the deployment serves, so it
        stays usable (a cooldown would block it and could leave a request with nothing)."""
        fraction = self.config.quota_low_fraction
        wait = limits.retry_after
        if wait is not None and wait > 0:
            until = now + min(wait, self.config.max_cooldown)
            self.quota_low_until = max(self.quota_low_until, until)
        for limit, remaining, reset in (
            (limits.limit_requests, limits.remaining_requests, limits.reset_requests),
            (limits.limit_tokens, limits.remaining_tokens, limits.reset_tokens),
        ):
            if limit and remaining is not None and remaining <= limit * fraction:
                until = now + (reset if reset is not None else 60.0)
                self.quota_low_until = max(self.quota_low_until, until)
        self._dirty = True

    def learn_token_quota(self, tokens: int) -> None:
        """The provider refused a request as larger than its per-minute token quota."""
        if tokens > 0 and tokens != self.token_quota:
            self.token_quota = tokens
            self._dirty = True

    def learn_context_window(self, tokens: int) -> None:
        """The server reported the window it runs with."""
        if tokens > 0 and tokens != self.context_window:
            self.context_window = tokens
            self._dirty = True

    def set_loaded(self, loaded: bool | None) -> None:
        if loaded != self.loaded:
            self.loaded = loaded
            self._dirty = True

    def observe_slots(self, total: int | None, busy: int | None) -> None:
        """The server's own report of its parallel slots (``None``: not reported)."""
        if (total, busy) != (self.slots_total, self.slots_busy):
            self.slots_total, self.slots_busy = total, busy
            self._dirty = True

    # -- reading ---------------------------------------------------------------------------

    def snapshot(self, now: float) -> HealthSnapshot:
        """A frozen view; recomputed only after something changed (or time moved a state)."""
        self._advance(now)
        quota_low = now < self.quota_low_until
        if not self._dirty and self._snapshot.quota_low == quota_low:
            if self._snapshot.in_flight != self.in_flight:  # O(1): no re-sorting per request
                self._snapshot = replace(self._snapshot, in_flight=self.in_flight)
            return self._snapshot
        p50 = p95 = None
        if self._ttfts:
            ordered = sorted(self._ttfts)
            last = len(ordered) - 1
            p50 = ordered[round(0.50 * last)]
            p95 = ordered[round(0.95 * last)]
        outcomes = len(self._outcomes)
        available_at = self.cooldown_until
        if self.circuit == "open":
            available_at = max(available_at, self.open_until)
        self._snapshot = HealthSnapshot(
            samples=self.samples,
            ttft_ewma=self.ttft_ewma,
            tps_ewma=self.tps_ewma,
            ttft_p50=p50,
            ttft_p95=p95,
            successes=self.successes,
            failures=self.failures,
            success_rate=sum(self._outcomes) / outcomes if outcomes else None,
            consecutive_failures=self.consecutive_failures,
            circuit=self.circuit,
            available_at=available_at,
            probe_in_flight=self.probe_in_flight,
            quota_low=quota_low,
            token_quota=self.token_quota,
            context_window=self.context_window,
            loaded=self.loaded,
            last_error=self.last_error,
            in_flight=self.in_flight,
            slots_total=self.slots_total,
            slots_busy=self.slots_busy,
        )
        self._dirty = False
        return self._snapshot
