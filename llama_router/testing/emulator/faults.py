"""What a provider does with a request: a scripted :class:`Fault`, or else its
:class:`Behaviour`; and the :class:`Script` that chooses which, per provider."""

from __future__ import annotations

import dataclasses
import random
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, cast, get_args

from llama_router.testing.emulator import checks

FaultKind = Literal[
    "status",
    "reset",
    "stall",
    "malformed",
    "truncate",
    "error_event",
    "failed",
    "cold_boot",
    "slow",
]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)
MAX_TOKEN_COUNT = 1_000_000
"""The largest ``token_count`` the ``behave`` endpoint accepts."""

# Defaults of the Fault constructors, used by Fault.from_dict for missing fields.
_KIND_DEFAULTS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "truncate": MappingProxyType({"after_tokens": 1}),
        "error_event": MappingProxyType({"after_tokens": 1, "status": 500}),
        "cold_boot": MappingProxyType({"after_tokens": 3}),
    }
)


@dataclass(frozen=True, slots=True)
class Fault:
    """One scripted misbehaviour, for one request."""

    kind: FaultKind
    status: int = 503
    retry_after: float | None = None
    after_tokens: int = 0
    seconds: float = 0.0
    rate_limit_reset: str | None = None

    @classmethod
    def http(
        cls, status: int, *, retry_after: float | None = None, rate_limit_reset: str | None = None
    ) -> Fault:
        """An HTTP error status with the provider's real error body."""
        return cls(
            "status", status=status, retry_after=retry_after, rate_limit_reset=rate_limit_reset
        )

    @classmethod
    def reset(cls, after_tokens: int = 0) -> Fault:
        """Drop the connection before the reply (0) or after ``after_tokens`` tokens."""
        return cls("reset", after_tokens=after_tokens)

    @classmethod
    def stall(cls, seconds: float, after_tokens: int = 0) -> Fault:
        """Go silent for ``seconds`` (before the reply or after some tokens), then drop the
        connection, as a hung upstream does."""
        return cls("stall", seconds=seconds, after_tokens=after_tokens)

    @classmethod
    def malformed(cls, after_tokens: int = 0) -> Fault:
        """A body (0) or a stream chunk after ``after_tokens`` tokens that is not valid JSON."""
        return cls("malformed", after_tokens=after_tokens)

    @classmethod
    def truncate(cls, after_tokens: int = 1) -> Fault:
        """End a stream cleanly but early: no final chunk, no [DONE]."""
        return cls("truncate", after_tokens=after_tokens)

    @classmethod
    def error_event(cls, after_tokens: int = 1, status: int = 500) -> Fault:
        """An error inside an HTTP 200 stream."""
        return cls("error_event", after_tokens=after_tokens, status=status)

    @classmethod
    def failed(cls) -> Fault:
        """Replicate: the prediction ends ``failed`` (HTTP 200)."""
        return cls("failed")

    @classmethod
    def cold_boot(cls, polls: int = 3) -> Fault:
        """Replicate: the prediction stays ``starting`` for ``polls`` polls."""
        return cls("cold_boot", after_tokens=polls)

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        """A slow but successful reply: ``seconds`` more before the first token (streams) or
        before the reply (non-streaming), then a normal answer."""
        return cls("slow", seconds=seconds)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fault:
        """The fault described by ``data`` (JSON: ``{"kind": "stall", "seconds": 5}``): the
        dataclass's fields, each checked. Missing fields take the defaults of the matching
        constructor (``{"kind": "truncate"}`` is ``Fault.truncate()``).

        Raises :class:`ValueError` saying what is wrong."""
        data = checks.json_object(data, "a fault")
        checks.check_fields(data, [f.name for f in dataclasses.fields(cls)], "fault")
        kind = data.get("kind")
        if kind not in FAULT_KINDS:
            raise ValueError(
                f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}"
            )
        data = {**_KIND_DEFAULTS.get(kind, {}), **data}
        status = data.get("status", 503)
        low = 400 if kind == "status" else 100
        if isinstance(status, bool) or not isinstance(status, int) or not low <= status <= 599:
            raise ValueError(f"status must be an integer from {low} to 599, got {status!r}")
        retry_after = data.get("retry_after")
        if retry_after is not None:
            retry_after = checks.seconds(data, "retry_after")
        rate_limit_reset = data.get("rate_limit_reset")
        if rate_limit_reset is not None and not isinstance(rate_limit_reset, str):
            raise ValueError(f"rate_limit_reset must be a string or null, got {rate_limit_reset!r}")
        after_tokens = checks.count(data, "after_tokens", 0)
        if kind in ("truncate", "error_event") and after_tokens < 1:
            raise ValueError(f"a {kind} fault needs after_tokens >= 1")
        return cls(
            cast(FaultKind, kind),
            status=status,
            retry_after=retry_after,
            after_tokens=after_tokens,
            seconds=checks.seconds(data, "seconds"),
            rate_limit_reset=rate_limit_reset,
        )


def slow_seconds(fault: Fault | None) -> float:
    """The extra wait of a ``slow`` fault (0 for any other)."""
    return fault.seconds if fault is not None and fault.kind == "slow" else 0.0


_DEFAULT_TOKENS: tuple[str, ...] = ("Hello", " from", " the", " emulator", ".")


@dataclass(frozen=True, slots=True)
class Behaviour:
    """How a provider answers when no fault is scripted."""

    delay_to_headers: float = 0.0
    ttft: float = 0.0
    tokens_per_second: float | None = None
    """``None``: all tokens at once."""
    tokens: tuple[str, ...] = _DEFAULT_TOKENS

    @staticmethod
    def numbered_tokens(count: int) -> tuple[str, ...]:
        """``count`` generated tokens, ``" tok0"``, ``" tok1"``, ... (for long streams)."""
        return tuple(f" tok{i}" for i in range(count))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Behaviour:
        """The behaviour described by ``data`` (JSON): the dataclass's fields, each checked,
        with ``"token_count": n`` instead of ``"tokens"`` for :meth:`numbered_tokens`.

        Raises :class:`ValueError` saying what is wrong."""
        data = checks.json_object(data, "a behaviour")
        allowed = [*(f.name for f in dataclasses.fields(cls)), "token_count"]
        checks.check_fields(data, allowed, "behaviour")
        tokens_per_second = data.get("tokens_per_second")
        if tokens_per_second is not None and (
            not checks.is_number(tokens_per_second) or tokens_per_second <= 0
        ):
            raise ValueError(
                f"tokens_per_second must be a finite number > 0 or null, got {tokens_per_second!r}"
            )
        if "tokens" in data and "token_count" in data:
            raise ValueError("give tokens or token_count, not both")
        tokens = _DEFAULT_TOKENS
        if "tokens" in data:
            listed = data["tokens"]
            if not isinstance(listed, list) or not all(isinstance(t, str) for t in listed):
                raise ValueError("tokens must be an array of strings")
            tokens = tuple(listed)
        elif "token_count" in data:
            count = checks.count(data, "token_count", 0, maximum=MAX_TOKEN_COUNT)
            tokens = cls.numbered_tokens(count)
        return cls(
            delay_to_headers=checks.seconds(data, "delay_to_headers"),
            ttft=checks.seconds(data, "ttft"),
            tokens_per_second=None if tokens_per_second is None else float(tokens_per_second),
            tokens=tokens,
        )


DEFAULT_BEHAVIOUR = Behaviour()

Chooser = Callable[[int], Fault | None]
"""Given the request's number (from 0), the fault for it, if any."""


def random_chooser(fault: Fault, share: float, seed: int) -> Chooser:
    """A chooser giving ``fault`` to a ``share`` (0 to 1) of the requests, picked by
    ``random.Random(seed)``."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share must be between 0 and 1, got {share!r}")
    rng = random.Random(seed)

    def choose(_number: int) -> Fault | None:
        return fault if rng.random() < share else None

    return choose


class Script:
    """Per provider: the behaviour, the faults queued for the next requests and the chooser
    used once they run out."""

    __slots__ = ("_behaviours", "_choosers", "_queued")

    def __init__(self) -> None:
        self._behaviours: dict[str, Behaviour] = {}
        self._queued: dict[str, deque[Fault]] = {}
        self._choosers: dict[str, Chooser] = {}

    def behave(self, provider: str, behaviour: Behaviour) -> None:
        self._behaviours[provider] = behaviour

    def queue(self, provider: str, faults: Iterable[Fault]) -> None:
        self._queued.setdefault(provider, deque()).extend(faults)

    def choose(self, provider: str, chooser: Chooser) -> None:
        self._choosers[provider] = chooser

    def clear(self) -> None:
        self._behaviours.clear()
        self._queued.clear()
        self._choosers.clear()

    def behaviour(self, provider: str) -> Behaviour:
        return self._behaviours.get(provider, DEFAULT_BEHAVIOUR)

    def fault(self, provider: str, number: int) -> Fault | None:
        """The fault for request ``number`` to ``provider``: the next queued one, or else the
        chooser's: O(1)."""
        queued = self._queued.get(provider)
        if queued:
            return queued.popleft()
        chooser = self._choosers.get(provider)
        return None if chooser is None else chooser(number)
