"""What the emulator remembers of the requests it answered: the log (each request and the
ground truth of what was sent) and the counters behind :meth:`ProviderEmulator.stats`."""

from __future__ import annotations

import collections
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from llama_router.testing.emulator.faults import Fault, Script


@dataclass(slots=True)
class LoggedRequest:
    """One request as the emulator saw and answered it."""

    provider: str
    path: str
    stream: bool
    body: Any
    headers: dict[str, str]
    fault: Fault | None
    sent_text: str = ""
    """The answer text actually written to the socket (the ground truth)."""
    sent_tokens: int = 0
    """How many tokens of it were written."""
    at: float = 0.0
    """When the request arrived (event-loop time)."""
    first_write_at: float | None = None
    """When the first token was written (event-loop time)."""
    completed: bool = False
    usage: tuple[int, int] | None = None
    """(prompt, completion) tokens the emulator reported."""


@dataclass(frozen=True, slots=True)
class ProviderStats:
    """Counters for one provider since the start (or the last :meth:`ProviderEmulator.reset`)."""

    requests: int
    """Requests that reached the provider's chat (or Replicate create) route."""
    completed: int
    """Of them, answered in full."""
    faults: Mapping[str, int]
    """Faults applied, by kind."""


@dataclass(frozen=True, slots=True)
class EmulatorStats:
    """A snapshot of the emulator's counters (kept with ``record=False`` too)."""

    connections: int
    """TCP connections accepted since the emulator started."""
    predictions: int
    """Replicate predictions held (not yet dropped)."""
    providers: Mapping[str, ProviderStats]

    def to_json(self) -> dict[str, Any]:
        """The JSON form served by ``GET /_emulator/stats``."""
        return {
            "connections": self.connections,
            "predictions": self.predictions,
            "providers": {
                name: {"requests": s.requests, "completed": s.completed, "faults": dict(s.faults)}
                for name, s in self.providers.items()
            },
        }


@dataclass(slots=True)
class Counts:
    """One provider's counters (mutable)."""

    requests: int = 0
    completed: int = 0
    faults: collections.Counter[str] = field(default_factory=collections.Counter)


class Recorder:
    """The log (kept only when ``record`` is true) and the per-provider counters."""

    __slots__ = ("_providers", "counts", "log", "record")

    def __init__(self, providers: tuple[str, ...], *, record: bool) -> None:
        self.record = record
        self.log: list[LoggedRequest] = []
        self._providers = providers
        self.counts = self._fresh_counts()

    def _fresh_counts(self) -> dict[str, Counts]:
        return {provider: Counts() for provider in self._providers}

    def admit(self, provider: str, script: Script) -> tuple[Fault | None, Counts]:
        """Count a request to ``provider`` and choose its fault from ``script``: O(1)."""
        counts = self.counts[provider]
        number = counts.requests
        counts.requests += 1
        fault = script.fault(provider, number)
        if fault is not None:
            counts.faults[fault.kind] += 1
        return fault, counts

    def keep(self, entry: LoggedRequest) -> None:
        if self.record:
            self.log.append(entry)

    @staticmethod
    def complete(entry: LoggedRequest, counts: Counts) -> None:
        if not entry.completed:
            entry.completed = True
            counts.completed += 1

    def clear(self) -> None:
        """Forget the log and start the counters again at 0."""
        self.log.clear()
        self.counts = self._fresh_counts()

    def providers(self) -> Mapping[str, ProviderStats]:
        """A snapshot of the per-provider counters."""
        return MappingProxyType(
            {
                name: ProviderStats(c.requests, c.completed, MappingProxyType(dict(c.faults)))
                for name, c in self.counts.items()
            }
        )
