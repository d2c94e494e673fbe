"""Rate-limit and Retry-After headers, parsed once into a frozen record the router can use.

Groq sends ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` with Go-style reset
durations (``2m59.56s``, ``7.66s``, ``940ms``); its ``*-requests`` figures are per *day* and
``*-tokens`` per *minute*. Together sends ``x-ratelimit-{limit,remaining,reset}`` (requests per
second) and ``x-tokenlimit-{limit,remaining}`` (tokens per second). ``retry-after`` is seconds
or an HTTP date; the Stainless SDKs also honour ``retry-after-ms``.

Unprefixed ``ratelimit-{limit,remaining,reset}`` headers (Replicate; IETF
draft-ietf-httpapi-ratelimit-headers, whose reset is delta-seconds) and the draft's later
structured ``RateLimit: "default";r=50;t=30`` with ``RateLimit-Policy: "default";q=100;w=60``
are request limits; they are read when no ``x-ratelimit-*`` request figures were sent. A
reset above one billion is taken as a Unix time (some servers send one) and made relative.

A ``retry-after`` on a *successful* reply (Together sends one as an advisory hint) is kept in
``retry_after`` like any other; what it does is decided by the health record
(:meth:`~llama_router.state.health.HealthRecord.observe_rate_limits`).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

__all__ = ["RateLimitInfo", "parse_duration", "parse_rate_limits", "parse_retry_after"]

_GO_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


@dataclass(frozen=True, slots=True)
class RateLimitInfo:
    """What the provider said about our remaining quota, as of one response.

    ``None`` means the provider did not send that figure. Reset values are seconds from the
    moment the response was received.
    """

    limit_requests: int | None = None
    remaining_requests: int | None = None
    reset_requests: float | None = None
    limit_tokens: int | None = None
    remaining_tokens: int | None = None
    reset_tokens: float | None = None
    retry_after: float | None = None

    @property
    def is_empty(self) -> bool:
        """True when no rate-limit header was present."""
        return self == _EMPTY


_EMPTY = RateLimitInfo()


def parse_duration(value: str | None) -> float | None:
    """Parse a bare number of seconds or a Go duration (``1h2m3.5s``, ``940ms``) to seconds."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        return max(number, 0.0) if math.isfinite(number) else None
    pos = 0
    total = 0.0
    for match in _GO_PART.finditer(text):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0 or not math.isfinite(total):
        return None
    return total


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms``, or ``retry-after`` as seconds or HTTP date."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        millis = parse_duration(ms)
        if millis is not None:
            return millis / 1000.0
    raw = headers.get("retry-after")
    if raw is None:
        return None
    seconds = parse_duration(raw)
    if seconds is not None:
        return seconds
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    current = time.time() if now is None else now
    return max(when.timestamp() - current, 0.0)


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return int(number) if math.isfinite(number) and number >= 0 else None


_PREFIXES = (b"x-ratelimit", b"x-tokenlimit", b"retry-after", b"ratelimit")


def _relevant(headers: Mapping[str, str]) -> Mapping[str, str]:
    """Only the rate-limit headers, lower-cased, read in one pass.

    ``httpx.Headers.get`` scans and decodes every header on each lookup; this is called on
    every response, so the raw list is filtered once instead."""
    raw = getattr(headers, "raw", None)
    if raw is None:
        return {k.lower(): v for k, v in headers.items()}
    found: dict[str, str] = {}
    for name, value in raw:
        lowered = name.lower()
        if lowered.startswith(_PREFIXES):
            found[lowered.decode("latin-1")] = value.decode("latin-1")
    return found


def parse_rate_limits(headers: Mapping[str, str]) -> RateLimitInfo:
    """Read Groq- and Together-style rate-limit headers (names are case-insensitive)."""
    relevant = _relevant(headers)
    if not relevant:
        return _EMPTY
    get = relevant.get
    limit_requests = _int(get("x-ratelimit-limit-requests"))
    remaining_requests = _int(get("x-ratelimit-remaining-requests"))
    reset_requests = parse_duration(get("x-ratelimit-reset-requests"))
    if limit_requests is None and remaining_requests is None:
        # Together: per-second request limit without a suffix.
        limit_requests = _int(get("x-ratelimit-limit"))
        remaining_requests = _int(get("x-ratelimit-remaining"))
        reset_requests = parse_duration(get("x-ratelimit-reset"))
    if limit_requests is None and remaining_requests is None:
        limit_requests, remaining_requests, reset_requests = _ietf(relevant)
    limit_tokens = _int(get("x-ratelimit-limit-tokens"))
    remaining_tokens = _int(get("x-ratelimit-remaining-tokens"))
    reset_tokens = parse_duration(get("x-ratelimit-reset-tokens"))
    if limit_tokens is None and remaining_tokens is None:
        limit_tokens = _int(get("x-tokenlimit-limit"))
        remaining_tokens = _int(get("x-tokenlimit-remaining"))
    return RateLimitInfo(
        limit_requests=limit_requests,
        remaining_requests=remaining_requests,
        reset_requests=reset_requests,
        limit_tokens=limit_tokens,
        remaining_tokens=remaining_tokens,
        reset_tokens=reset_tokens,
        retry_after=parse_retry_after(relevant),
    )


_EPOCH = 1e9  # a "reset" this large is a Unix time, not a number of seconds
_PARAM = re.compile(r"(?:^|[;,])\s*([a-z]+)\s*=\s*([0-9]+(?:\.[0-9]+)?)")


def _leading_int(value: str | None) -> int | None:
    """``10`` from ``10`` or from a draft quota-policy list like ``10, 10;w=1``."""
    if value is None:
        return None
    return _int(re.split(r"[,;]", value, maxsplit=1)[0].strip())


def _reset_seconds(value: str | None, now: float | None = None) -> float | None:
    seconds = parse_duration(re.split(r"[,;]", value, maxsplit=1)[0] if value else None)
    if seconds is not None and seconds > _EPOCH:
        current = time.time() if now is None else now
        return max(seconds - current, 0.0)
    return seconds


def _params(value: str | None) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in _PARAM.finditer(value.lower())} if value else {}


def _ietf(relevant: Mapping[str, str]) -> tuple[int | None, int | None, float | None]:
    """(limit, remaining, reset) from the IETF draft's headers, in either of its forms."""
    get = relevant.get
    limit = _leading_int(get("ratelimit-limit"))
    remaining = _leading_int(get("ratelimit-remaining"))
    reset = _reset_seconds(get("ratelimit-reset"))
    if limit is None and remaining is None and reset is None:
        status = _params(get("ratelimit"))
        policy = _params(get("ratelimit-policy"))
        limit = _int(policy.get("q") or status.get("limit"))
        remaining = _int(status.get("r") or status.get("remaining"))
        reset = _reset_seconds(status.get("t") or status.get("reset"))
    return limit, remaining, reset
