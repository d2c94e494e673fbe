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
import re
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from llama_router.capabilities import Capabilities
from llama_router.deployments import Target
from llama_router.exceptions import (
    AuthenticationError,
    ContextLengthExceededError,
    InvalidRequestError,
    LlamaRouterError,
    MalformedResponseError,
    MissingDependencyError,
    ModelNotFoundError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    ProviderUnreachableError,
    RateLimitedError,
    UnsupportedFeatureError,
)
from llama_router.messages import ChatRequest, ToolCall
from llama_router.provenance import Provenance, provenance_from_headers
from llama_router.providers import provider_names, provider_spec
from llama_router.ratelimits import RateLimitInfo, parse_duration, parse_rate_limits
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


_CONTEXT_CODES = frozenset({"context_length_exceeded", "exceed_context_size_error"})
# A request bigger than an organisation's per-minute token quota: Groq answers HTTP 413 with
# {"error": {"type": "tokens", "code": "rate_limit_exceeded", ...}} (recorded in
# HunorLaczko/ha-groq-cloud-api#27, bklieger-groq/NotebookLlama-Groq#1). A quota, not the
# model's context window: other deployments can take the request.
_QUOTA_CODES = frozenset({"rate_limit_exceeded"})
_QUOTA_TYPES = frozenset({"tokens", "requests"})
# The request itself is wrong, whatever the status says (or when a stream carries none):
# Groq's tool_use_failed (groq/groq-typescript#103), TGI's {"error_type": "validation"}.
# Not the type "invalid_request_error": Groq sends it on 401s too.
_INVALID_CODES = frozenset({"tool_use_failed", "validation"})
# "Please try again in 4.77s" / "in 9m38.016s" (continuedev/continue#10920): Groq's only
# retry hint on some 429 and 413 replies. Matching message text is the one exception to
# "never by message text", and it only ever adds a Retry-After, never picks the class.
_RETRY_HINT = re.compile(r"try again in ((?:\d+(?:\.\d+)?(?:ms|h|m|s))+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ErrorFields:
    """What a provider error body says, from any of its shapes."""

    message: str
    type: str | None = None
    code: str | None = None
    status: int | None = None
    """``status_code``, or an integer ``code``: in-stream errors carry no HTTP status."""
    n_ctx: int | None = None
    """The context window a llama.cpp overflow error reports."""


def error_fields(body: object) -> ErrorFields:
    """The fields of any provider error body: ``{"error": {"message", "type", "code",
    "status_code"}}`` (OpenAI style, Groq in-stream), ``{"error": "text", "error_type": ...}``
    (Ollama, Hugging Face TGI), ``{"message": ...}`` and ``{"detail": ...}`` (Replicate,
    RFC 7807)."""
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        text = body
        try:
            body = json.loads(text)
        except (ValueError, RecursionError):
            return ErrorFields(text.strip()[:500] or "no error message")
    if not isinstance(body, Mapping):
        return ErrorFields(str(body)[:500])
    err = body.get("error", body)
    if isinstance(err, str):
        return ErrorFields(err[:500], _text(body.get("error_type")), None, _status(body))
    if not isinstance(err, Mapping):
        return ErrorFields(str(err)[:500])
    message = err.get("message") or err.get("detail") or err.get("title")
    n_ctx = err.get("n_ctx")
    return ErrorFields(
        str(message)[:500] if message is not None else json.dumps(err)[:500],
        _text(err.get("type")),
        _text(err.get("code")),
        _status(err),
        n_ctx if type(n_ctx) is int and n_ctx > 0 else None,
    )


def _text(value: object) -> str | None:
    return str(value) if value is not None else None


def _status(err: Mapping[str, Any]) -> int | None:
    for value in (err.get("status_code"), err.get("code")):
        if type(value) is int and 100 <= value <= 599:
            return value
    return None


def error_info(body: object) -> tuple[str, str | None, str | None]:
    """``(message, type, code)`` from any provider error body shape (see
    :func:`error_fields`)."""
    fields = error_fields(body)
    return fields.message, fields.type, fields.code


def error_class(status: int | None, fields: ErrorFields) -> type[ProviderError]:
    """The one classification of a provider error, for HTTP error replies and in-stream
    error events alike: the structured ``type`` / ``code`` first (a token quota is a rate
    limit even on a 413; ``tool_use_failed`` and validation errors are invalid requests
    even without a status), then the status."""
    kinds = {fields.type, fields.code}
    if kinds & _QUOTA_CODES or (status == 413 and kinds & _QUOTA_TYPES):
        return RateLimitedError
    if kinds & _CONTEXT_CODES or status == 413:
        return ContextLengthExceededError
    if kinds & _INVALID_CODES and (status is None or status < 500):
        return InvalidRequestError
    if status is None:
        return ProviderUnavailableError
    if status == 429:
        return RateLimitedError
    if status in (401, 403):
        return AuthenticationError
    if status == 404:
        return ModelNotFoundError
    if status in (408, 504, 524):
        return ProviderTimeoutError
    if status in (409, 498) or status >= 500:
        return ProviderUnavailableError
    return InvalidRequestError


def retry_hint(message: str) -> float | None:
    """Seconds from a "try again in 1m30.5s" hint in an error message, if there is one."""
    match = _RETRY_HINT.search(message)
    return parse_duration(match.group(1)) if match else None


def error_for_status(
    status: int | None,
    body: object,
    *,
    provider: str,
    deployment: str,
    headers: Mapping[str, str] | None = None,
) -> ProviderError:
    """The typed error for an HTTP status, or for an in-stream error body when ``status``
    is ``None`` (its own ``status_code`` or integer ``code`` is used then): the same body
    gives the same class, status and Retry-After whichever way it arrived."""
    fields = error_fields(body)
    if status is None:
        status = fields.status
    limits = parse_rate_limits(headers) if headers is not None else None
    cls = error_class(status, fields)
    headed = limits is not None and not limits.is_empty
    quota = _token_quota(status, cls, limits, fields.message)
    retry_after = limits.retry_after if limits is not None else None
    if cls is RateLimitedError and not headed:  # the message is the only hint there is
        retry_after = retry_hint(fields.message)
    error = cls(
        fields.message,
        provider=provider,
        deployment=deployment,
        status_code=status,
        rate_limits=limits if headed else None,
        retry_after=retry_after,
        provenance=provenance_from_headers(headers),
    )
    if quota is not None and isinstance(error, RateLimitedError):
        error.token_quota = quota
    if fields.n_ctx is not None and isinstance(error, ContextLengthExceededError):
        error.context_window = fields.n_ctx
    return error


_QUOTA_LIMIT = re.compile(r"\(TPM\): Limit (\d+)")


def _token_quota(
    status: int | None,
    cls: type[ProviderError],
    limits: RateLimitInfo | None,
    message: str,
) -> int | None:
    """A 413 rate limit is one request over the per-minute token quota: the quota, from
    ``x-ratelimit-limit-tokens``, else from the message's "(TPM): Limit 6000" (the same
    documented exception as the retry hint: it refines a class the structured fields chose)."""
    if status != 413 or cls is not RateLimitedError:
        return None
    if limits is not None and limits.limit_tokens is not None:
        return limits.limit_tokens
    match = _QUOTA_LIMIT.search(message)
    return int(match.group(1)) if match else None


def error_for_response(
    response: httpx.Response, *, provider: str, deployment: str
) -> ProviderError:
    """The typed error for an HTTP error response (its body must have been read)."""
    try:
        body: object = response.content
    except httpx.ResponseNotRead:
        body = b""
    error = error_for_status(
        response.status_code,
        body,
        provider=provider,
        deployment=deployment,
        headers=response.headers,
    )
    return chained_to_response(error, response)


def chained_to_response(error: ProviderError, response: httpx.Response) -> ProviderError:
    """``error`` with the HTTP error (carrying its request and response) as its cause."""
    error.__cause__ = httpx.HTTPStatusError(
        f"HTTP {response.status_code}", request=response.request, response=response
    )
    return error


def _origin(exc: httpx.HTTPError) -> str:
    """``scheme://host:port`` of the failed request (never its path, query or headers)."""
    try:
        url = exc.request.url
    except RuntimeError:  # no request attached
        return "the server"
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{url.host}{port}"


def error_from_httpx(exc: httpx.HTTPError, *, provider: str, deployment: str) -> ProviderError:
    """The typed error for an httpx transport failure (no HTTP status)."""
    if isinstance(exc, httpx.TimeoutException):
        kind = type(exc).__name__
        return ProviderTimeoutError(
            f"{kind}: no reply within the deployment's timeout",
            provider=provider,
            deployment=deployment,
        )
    if isinstance(exc, httpx.ConnectError):
        return ProviderUnreachableError(
            f"cannot connect to {_origin(exc)}: connection refused or host unreachable; "
            "is the server running?",
            provider=provider,
            deployment=deployment,
        )
    if isinstance(exc, httpx.HTTPStatusError):
        return error_for_response(exc.response, provider=provider, deployment=deployment)
    return ProviderUnavailableError(
        f"{type(exc).__name__}: the connection failed during the call",
        provider=provider,
        deployment=deployment,
    )
