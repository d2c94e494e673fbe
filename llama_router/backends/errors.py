"""How provider failures become our exceptions: one classification for HTTP error replies and
in-stream error events (:func:`error_for_status`), and for transport failures
(:func:`error_from_httpx`).

The class comes from the body's structured ``type`` / ``code`` / ``error_type`` first, then
the status; a status comes from the HTTP reply, or for an in-stream event from the body's
``status_code`` or integer ``code``. Message text is read for one thing only: a retry hint
("Please try again in 9m38.016s", and a token quota's "(TPM): Limit N") when no header says
it, and never to pick the class.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from llama_router.exceptions import (
    AuthenticationError,
    ContextLengthExceededError,
    InvalidRequestError,
    ModelNotFoundError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    ProviderUnreachableError,
    RateLimitedError,
)
from llama_router.provenance import provenance_from_headers
from llama_router.ratelimits import RateLimitInfo, parse_duration, parse_rate_limits

__all__ = [
    "ErrorFields",
    "chained_to_response",
    "error_class",
    "error_fields",
    "error_for_response",
    "error_for_status",
    "error_from_httpx",
    "error_info",
    "retry_hint",
]

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
