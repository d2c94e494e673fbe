"""The state store interface: every piece of routing state behind one small async API.

Health and circuits, cooldowns, concurrency / RPM / TPM windows, spend and hedge accounting
live behind :class:`StateStore`, so a shared store (Redis, for apps running many worker
processes) can replace :class:`~llama_router.state.memory.InMemoryStore` without touching
the policies, which only ever read frozen :class:`HealthSnapshot` values, or the request
path, which only calls the methods below.

Contract for every implementation:

- ``now`` is seconds on the router's clock (monotonic, injected); a store never reads a
  clock of its own, so behaviour over time is tested with a fake clock.
- Methods are coroutines so a networked store can do I/O; none may raise for a missing
  deployment name (an unknown name is a fresh, healthy deployment).
- A store never decides policy: *how long* a cooldown lasts and *whether* a failure counts
  against health are decided by :mod:`llama_router.routing.outcomes` and passed in.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from llama_router.ratelimits import RateLimitInfo
from llama_router.state.health import HealthSnapshot

__all__ = ["Limits", "StateStore", "Ticket"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Client-side limits of one deployment, honoured before a request is sent."""

    max_concurrency: int | None = None
    rpm: int | None = None
    """Requests per rolling minute."""
    tpm: int | None = None
    """Tokens (prompt estimate + output cap) per rolling minute."""

    @property
    def any(self) -> bool:
        return self.max_concurrency is not None or self.rpm is not None or self.tpm is not None


class Ticket:
    """A granted slot; give it back with :meth:`StateStore.release`."""

    __slots__ = ("name", "released", "tokens", "when")

    def __init__(self, name: str, when: float, tokens: int) -> None:
        self.name = name
        self.when = when
        self.tokens = tokens
        self.released = False


class StateStore(ABC):
    """Routing state shared by the requests of one router (or of many processes)."""

    @abstractmethod
    async def snapshot(self, names: Sequence[str], now: float) -> Mapping[str, HealthSnapshot]:
        """Frozen health of each named deployment."""

    @abstractmethod
    async def try_probe(self, name: str, now: float) -> bool:
        """Claim the half-open probe (always ``True`` while the circuit is closed)."""

    @abstractmethod
    async def release_probe(self, name: str) -> None: ...

    @abstractmethod
    async def record_success(
        self,
        name: str,
        now: float,
        *,
        ttft: float | None,
        output_tokens: int,
        generation_s: float | None,
        rate_limits: RateLimitInfo | None,
    ) -> None: ...

    @abstractmethod
    async def record_failure(
        self,
        name: str,
        now: float,
        error: str,
        *,
        counts_against_health: bool,
        cooldown: float | None,
    ) -> None: ...

    @abstractmethod
    async def set_loaded(self, name: str, loaded: bool | None) -> None: ...

    @abstractmethod
    async def learn_context_window(self, name: str, tokens: int) -> None:
        """``name`` reported the context window it runs with (per request); its snapshots
        carry it as ``context_window`` from now on."""

    @abstractmethod
    async def learn_token_quota(self, name: str, tokens: int) -> None:
        """``name`` refused a request as larger than its per-minute token quota of
        ``tokens``; its snapshots carry it as ``token_quota`` from now on."""

    @abstractmethod
    async def begin(self, name: str) -> None:
        """A request is being sent to ``name``: its snapshots count it in ``in_flight``
        until the matching :meth:`end`. Called once per attempt, on the hot path: O(1)."""

    @abstractmethod
    async def end(self, name: str) -> None:
        """The attempt counted by :meth:`begin` ended (answered, failed or cancelled); every
        ``begin`` has exactly one ``end``. ``in_flight`` never goes below zero."""

    @abstractmethod
    async def observe_slots(self, name: str, total: int | None, busy: int | None) -> None:
        """``name`` reported ``total`` parallel slots, ``busy`` of them processing (from any
        client; ``None``: not reported); its snapshots carry them as ``slots_total`` and
        ``slots_busy`` until the next report."""

    @abstractmethod
    async def try_acquire(
        self, name: str, now: float, limits: Limits, tokens: int
    ) -> Ticket | float:
        """A :class:`Ticket`, or the seconds until a slot may free (``inf``: until a release)."""

    @abstractmethod
    async def release(self, ticket: Ticket, used_tokens: int | None) -> None:
        """Return a slot; ``used_tokens`` replaces the estimate in the TPM window."""

    @abstractmethod
    async def wait_for_release(self, name: str, timeout: float) -> None:
        """Return when a slot of ``name`` is released, or after ``timeout`` seconds."""

    @abstractmethod
    async def add_spend(self, now: float, usd: float) -> None: ...

    @abstractmethod
    async def spent(self, now: float, period: float) -> float:
        """USD spent in the last ``period`` seconds."""

    @abstractmethod
    async def note_request(self, now: float, *, hedged: bool) -> None: ...

    @abstractmethod
    async def hedged_share(self) -> float:
        """Share of the recent requests that were hedged."""
