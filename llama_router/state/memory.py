"""The in-memory :class:`StateStore`: routing state for the requests of one process."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import Mapping, Sequence

from llama_router.ratelimits import RateLimitInfo
from llama_router.state.health import HealthConfig, HealthRecord, HealthSnapshot
from llama_router.state.store import Limits, StateStore, Ticket

__all__ = ["InMemoryStore"]

_MINUTE = 60.0

_SPEND_BUCKETS = 1000
"""Spend within one rolling period is kept in at most this many buckets: a spend may stay
counted up to period / 1000 longer than exact (a budget errs on the safe side)."""


class InMemoryStore(StateStore):
    """State for one process. Not thread-safe: use it from one event loop."""

    def __init__(self, config: HealthConfig | None = None, *, hedge_window: int = 200) -> None:
        self.config = config or HealthConfig()
        self._health: dict[str, HealthRecord] = {}
        self._in_flight: dict[str, int] = {}
        self._windows: dict[str, deque[Ticket]] = {}
        self._released: dict[str, asyncio.Event] = {}
        # Spend as [first, last, usd] buckets: at most _SPEND_BUCKETS per rolling period, so
        # memory is bounded at any request rate, with a running total for O(1) reads.
        self._spend: deque[list[float]] = deque()
        self._spend_total = 0.0
        self._longest_period = 0.0
        self._hedges: deque[bool] = deque(maxlen=hedge_window)

    def record(self, name: str) -> HealthRecord:
        """The mutable record of ``name`` (created on first use)."""
        record = self._health.get(name)
        if record is None:
            record = self._health[name] = HealthRecord(self.config)
        return record

    async def snapshot(self, names: Sequence[str], now: float) -> Mapping[str, HealthSnapshot]:
        return {name: self.record(name).snapshot(now) for name in names}

    async def try_probe(self, name: str, now: float) -> bool:
        return self.record(name).try_probe(now)

    async def release_probe(self, name: str) -> None:
        self.record(name).release_probe()

    async def record_success(
        self,
        name: str,
        now: float,
        *,
        ttft: float | None,
        output_tokens: int,
        generation_s: float | None,
        rate_limits: RateLimitInfo | None,
    ) -> None:
        self.record(name).record_success(
            now,
            ttft=ttft,
            output_tokens=output_tokens,
            generation_s=generation_s,
            rate_limits=rate_limits,
        )

    async def record_failure(
        self,
        name: str,
        now: float,
        error: str,
        *,
        counts_against_health: bool,
        cooldown: float | None,
    ) -> None:
        self.record(name).record_failure(
            now, error, counts_against_health=counts_against_health, cooldown=cooldown
        )

    async def set_loaded(self, name: str, loaded: bool | None) -> None:
        self.record(name).set_loaded(loaded)

    async def learn_context_window(self, name: str, tokens: int) -> None:
        self.record(name).learn_context_window(tokens)

    async def learn_token_quota(self, name: str, tokens: int) -> None:
        self.record(name).learn_token_quota(tokens)

    async def begin(self, name: str) -> None:
        self.record(name).in_flight += 1

    async def end(self, name: str) -> None:
        record = self.record(name)
        if record.in_flight > 0:
            record.in_flight -= 1

    async def observe_slots(self, name: str, total: int | None, busy: int | None) -> None:
        self.record(name).observe_slots(total, busy)

    async def try_acquire(
        self, name: str, now: float, limits: Limits, tokens: int
    ) -> Ticket | float:
        in_flight = self._in_flight.get(name, 0)
        if limits.max_concurrency is not None and in_flight >= limits.max_concurrency:
            return math.inf
        window = self._windows.get(name)
        if window is None:
            window = self._windows[name] = deque()
        while window and window[0].when <= now - _MINUTE:
            window.popleft()
        if limits.rpm is not None and len(window) >= limits.rpm:
            return window[0].when + _MINUTE - now
        if limits.tpm is not None and window:
            used = sum(t.tokens for t in window)
            if used + tokens > limits.tpm:
                # Wait until enough of the window expires (a single oversized request is let
                # through on an empty window rather than blocked forever).
                excess = used + tokens - limits.tpm
                for ticket in window:
                    excess -= ticket.tokens
                    if excess <= 0:
                        return ticket.when + _MINUTE - now
                return window[-1].when + _MINUTE - now
        ticket = Ticket(name, now, tokens)
        window.append(ticket)
        self._in_flight[name] = in_flight + 1
        return ticket

    async def release(self, ticket: Ticket, used_tokens: int | None) -> None:
        if ticket.released:
            return
        ticket.released = True
        if used_tokens is not None:
            ticket.tokens = used_tokens
        self._in_flight[ticket.name] = max(self._in_flight.get(ticket.name, 1) - 1, 0)
        event = self._released.pop(ticket.name, None)
        if event is not None:
            event.set()

    async def wait_for_release(self, name: str, timeout: float) -> None:
        event = self._released.get(name)
        if event is None:
            event = self._released[name] = asyncio.Event()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    def in_flight(self, name: str) -> int:
        return self._in_flight.get(name, 0)

    async def add_spend(self, now: float, usd: float) -> None:
        if not usd > 0:
            return
        spend = self._spend
        width = self._longest_period / _SPEND_BUCKETS
        if spend and now - spend[-1][0] < width:
            tail = spend[-1]  # merged: the bucket leaves the window with its last spend
            tail[1] = now
            tail[2] += usd
        else:
            spend.append([now, now, usd])
        self._spend_total += usd
        if self._longest_period:
            self._forget_spend(now)

    def _forget_spend(self, now: float) -> None:
        """Drop what is older than the longest period anyone asked about."""
        spend = self._spend
        horizon = now - self._longest_period
        while spend and spend[0][1] <= horizon:
            self._spend_total -= spend.popleft()[2]
        if not spend:
            self._spend_total = 0.0  # no float residue from the subtractions

    async def spent(self, now: float, period: float) -> float:
        self._longest_period = max(self._longest_period, period)
        self._forget_spend(now)
        if period >= self._longest_period:
            return max(0.0, self._spend_total)
        since = now - period
        return sum(bucket[2] for bucket in self._spend if bucket[1] > since)

    async def note_request(self, now: float, *, hedged: bool) -> None:
        self._hedges.append(hedged)

    async def hedged_share(self) -> float:
        return sum(self._hedges) / len(self._hedges) if self._hedges else 0.0
