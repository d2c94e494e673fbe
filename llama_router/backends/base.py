"""The backend contract and the pieces every backend shares.

A backend is the adapter for one provider: it turns a :class:`ChatRequest` into the
provider's wire format, sends it through the provider's SDK (or httpx) on the router's
shared connection pool, and turns the reply back into a :class:`BackendResult` or a stream
of :class:`TextDelta` / :class:`ToolCallDelta` items ending with a :class:`BackendResult`.

Each backend maps its SDK's exceptions to ours in one method, ``_map_error``, by exception
type and HTTP status (never by message text), and the caller chains the original.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import math
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from llama_router.backends.errors import (
    ErrorFields,
    chained_to_response,
    error_class,
    error_fields,
    error_for_response,
    error_for_status,
    error_from_httpx,
    error_info,
    retry_hint,
)
from llama_router.capabilities import Capabilities
from llama_router.deployments import Target
from llama_router.exceptions import (
    LlamaRouterError,
    MalformedResponseError,
    MissingDependencyError,
    ProviderError,
    UnsupportedFeatureError,
)
from llama_router.messages import ChatRequest, ToolCall
from llama_router.provenance import Provenance
from llama_router.providers import provider_names, provider_spec
from llama_router.ratelimits import RateLimitInfo
from llama_router.responses import (
    FinishReason,
    ProviderTimings,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from llama_router.transport import HttpPool

__all__ = [
    "DRAIN_SECONDS",
    "Backend",
    "BackendResult",
    "Capabilities",
    "HealthReport",
    "StreamItem",
    "aggregate",
    "chained_to_response",
    "error_for_response",
    "error_for_status",
    "error_from_httpx",
    "count_field",
    "ErrorFields",
    "error_class",
    "error_fields",
    "error_info",
    "retry_hint",
    "require_sdk",
    "seconds_field",
]


_NO_TIMINGS = ProviderTimings()


@dataclass(frozen=True, slots=True)
class BackendResult:
    """The end of one call on one backend."""

    text: str
    finish_reason: FinishReason
    usage: Usage
    tool_calls: tuple[ToolCall, ...] = ()
    timings: ProviderTimings = _NO_TIMINGS
    provider_model: str | None = None
    rate_limits: RateLimitInfo | None = None
    provenance: Provenance | None = None
    """The provider's request id, region and server build for this reply, when sent."""
    reasoning: str | None = None


StreamItem = TextDelta | ReasoningDelta | ToolCallDelta | BackendResult


@dataclass(frozen=True, slots=True)
class HealthReport:
    """What a health check found.

    ``ok`` means the deployment can serve a call now. ``model_available`` is ``False`` when
    the model is not installed (Ollama) and ``loaded`` is ``False`` when the first call will
    pay a cold load (Ollama ``/api/ps``, llama.cpp ``/health`` 503, Replicate cold boot).
    """

    ok: bool
    detail: str
    model_available: bool | None = None
    loaded: bool | None = None
    context_window: int | None = None
    """The window the server runs with, per request (llama.cpp ``/props``, Ollama
    ``/api/ps`` ``context_length``), when it says."""
    slots_total: int | None = None
    """Parallel slots the server has (llama.cpp), ``None`` when it does not say."""
    slots_busy: int | None = None
    """How many of them are processing a request now (from any client)."""


_ALL_CAPABILITIES = Capabilities()


class Backend(ABC):
    """One provider's adapter, bound to one :class:`Target`.

    A backend implements :meth:`chat` and :meth:`stream`; :meth:`health` and
    :meth:`_map_error` have defaults (no check; nothing foreign to map). The router builds
    it with ``(target, pool, clock=...)`` for a provider added with
    :func:`~llama_router.register_provider`; see ``docs/custom-backends.md``.
    """

    provider: ClassVar[str]

    def __init__(
        self, target: Target, http: HttpPool, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.target = target
        self._clock = clock

    @property
    def capabilities(self) -> Capabilities:
        """What this provider's API can do: its spec's, all of it when not registered."""
        if self.provider in provider_names():
            return provider_spec(self.provider).capabilities
        return _ALL_CAPABILITIES

    def __repr__(self) -> str:  # never the key
        t = self.target
        return (
            f"{type(self).__name__}(provider={t.provider!r}, name={t.name!r}, "
            f"model={t.model!r}, model_id={t.model_id!r}, base_url={_safe_url(t.base_url)!r})"
        )

    def check_supported(self, request: ChatRequest) -> None:
        """Raise :class:`UnsupportedFeatureError` if this provider cannot serve ``request``."""
        settings = request.settings
        caps = self.capabilities
        missing: str | None = None
        uses_tools = settings.tools or any(
            m.tool_calls or m.role == "tool" for m in request.messages
        )
        if uses_tools and not caps.tools:
            missing = "tools"
        elif settings.response_format is not None:
            kind = settings.response_format.type
            if kind == "json_object" and not caps.json_mode:
                missing = "JSON mode"
            elif kind == "json_schema" and not caps.json_schema:
                missing = "JSON schema output"
        elif settings.seed is not None and not caps.seed:
            missing = "seed"
        if missing is not None:
            raise UnsupportedFeatureError(
                f"{self.provider} ({self.target.model_id}) does not support {missing}; remove "
                f"it from the request or route to a provider that supports it.",
                provider=self.provider,
                feature=missing,
            )

    @abstractmethod
    async def chat(self, request: ChatRequest) -> BackendResult:
        """Send one non-streaming chat call."""

    @abstractmethod
    def stream(self, request: ChatRequest) -> AsyncGenerator[StreamItem, None]:
        """Stream one chat call: deltas, then exactly one :class:`BackendResult` last."""

    async def health(self) -> HealthReport:
        """Check whether the deployment can serve calls, without generating anything.

        The default checks nothing and reports the deployment up."""
        return HealthReport(ok=True, detail="no health check: assumed up")

    async def aclose(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release what this backend owns beyond the router's shared pool."""

    def _map_error(self, exc: Exception) -> ProviderError | None:
        """The one place this backend's SDK / transport exceptions become ours.

        Return ``None`` for an exception that is not the provider's (it is re-raised); the
        default maps nothing."""
        return None

    def _malformed(self, message: str) -> MalformedResponseError:
        return MalformedResponseError(message, provider=self.provider, deployment=self.target.name)

    def _json(self, response: httpx.Response) -> Any:
        """The response body parsed as JSON, or :class:`MalformedResponseError`."""
        try:
            return json.loads(response.content)
        except (ValueError, RecursionError) as exc:
            raise self._malformed(f"reply is not JSON: {response.text[:200]!r}") from exc

    @contextlib.contextmanager
    def _mapped_errors(self) -> Iterator[None]:
        """Translate foreign exceptions through :meth:`_map_error`, chaining the original."""
        try:
            yield
        except LlamaRouterError:
            raise
        except Exception as exc:
            mapped = self._map_error(exc)
            if mapped is None:
                raise
            raise mapped from exc


def _safe_url(url: str | None) -> str | None:
    """``url`` without user info, query or fragment (where credentials could hide)."""
    if url is None:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


DRAIN_SECONDS = 0.1
"""Longest wait for the end of a reply body after its final event."""


async def drain(rest: AsyncIterator[object], within: float = DRAIN_SECONDS) -> None:
    """Read what is left of a reply after its final event (``[DONE]``): the end of the
    chunked body, usually already received. A body read to its end lets the connection go
    back to the pool; one closed early is closed for good, and the next request pays a new
    TCP (and TLS) handshake. Bounded: a server that holds the body open only loses its
    connection. Errors here are ignored: the answer is already complete."""

    async def consume() -> None:
        async for _ in rest:
            pass

    with contextlib.suppress(Exception):
        if sys.version_info >= (3, 11):
            async with asyncio.timeout(within):
                await consume()
        else:  # pragma: no cover - Python 3.10
            await asyncio.wait_for(consume(), within)


_MAX_COUNT = 10**12  # more tokens than any real reply; beyond it a count is garbage


def count_field(value: object) -> int:
    """A token count from a reply: a non-negative int of sane size, else 0 (replies are not
    trusted: a huge count would overflow prices and speeds)."""
    return value if type(value) is int and 0 <= value <= _MAX_COUNT else 0


def seconds_field(value: object, scale: float = 1.0) -> float | None:
    """A duration from a reply, times ``scale``: a finite non-negative number, else None."""
    if type(value) not in (int, float):
        return None
    try:
        number = float(value) * scale  # type: ignore[arg-type]
    except OverflowError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


async def aggregate(
    stream: AsyncGenerator[StreamItem, None], *, provider: str, deployment: str
) -> BackendResult:
    """A non-streamed answer read from a stream: for engines that stop generating when a
    stream is closed but not when a non-streamed request's client leaves (llama.cpp's server
    generates a cancelled non-streamed request to the end), so cancelling the call or a
    deadline cut frees the engine at the next token."""
    result: BackendResult | None = None
    received = 0  # text chunks (one token each): what a failure mid-answer had cost
    try:
        async for item in stream:
            if isinstance(item, BackendResult):
                result = item
            elif isinstance(item, TextDelta):
                received += 1
    except ProviderError as exc:
        exc.completion_tokens = received
        raise
    finally:
        await stream.aclose()
    if result is None:  # stream parsers end with a result or raise
        raise MalformedResponseError(
            "the stream ended without a result", provider=provider, deployment=deployment
        )
    return result


def require_sdk(module: str, provider: str, extra: str | None = None) -> ModuleType:
    """Import a provider SDK, or explain which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"the {provider} backend needs the {module!r} package: "
            f'pip install "llama-router[{extra or provider}]"'
        ) from exc
