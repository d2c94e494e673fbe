"""The one exception tree of llama_router.

Every error the library raises derives from :class:`LlamaRouterError`::

    LlamaRouterError
    ├── ConfigurationError              bad setup; the message says how to fix it
    │   ├── UnknownModelError           model name not in the catalog / no deployment serves it
    │   ├── MissingCredentialsError     no API key given or found in the environment
    │   └── MissingDependencyError      the provider's SDK extra is not installed
    ├── RequestValidationError          bad arguments to chat() / stream(); says which and why
    ├── UnsupportedFeatureError         the request needs tools / JSON mode the provider lacks
    ├── ProviderError                   a provider failed a call (carries provider, deployment,
    │   │                               HTTP status, retry-after, rate limits; chains the original)
    │   ├── RateLimitedError            429 (and Groq's 498 capacity error is Unavailable)
    │   ├── ProviderTimeoutError        connect / read timeout, the request's deadline
    │   │   └── FirstTokenTimeoutError    a stream produced no first token in time
    │   ├── ProviderUnavailableError    connection refused, 5xx, overloaded, model loading
    │   │   ├── ProviderUnreachableError  connection refused / host unreachable (not retried)
    │   │   └── ColdStartError          the model is cold-booting (Replicate ``starting``)
    │   ├── AuthenticationError         401 / 403 credentials
    │   ├── ModelNotFoundError          404: unknown or retired model id
    │   ├── InvalidRequestError         400 / 413 / 422: the request itself is wrong
    │   │   └── ContextLengthExceededError
    │   ├── StreamInterruptedError      a stream broke after text reached the caller
    │   └── MalformedResponseError      the provider's reply could not be parsed
    ├── NoDeploymentAvailableError      the policy left nothing to try (reasons per deployment)
    │   └── BudgetExceededError         the spend budget is used up and nothing free is left
    └── AllDeploymentsFailedError       every candidate failed; holds each attempt's error
        └── DeadlineExceededError       the end-to-end deadline ran out first

Backends translate their SDK's exceptions into this tree in exactly one place (by type and
HTTP status, never by message text) and chain the original exception as ``__cause__``.
Messages never contain API keys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llama_router.provenance import Provenance
    from llama_router.ratelimits import RateLimitInfo
    from llama_router.responses import Attempt

__all__ = [
    "AllDeploymentsFailedError",
    "AuthenticationError",
    "BudgetExceededError",
    "ColdStartError",
    "ConfigurationError",
    "ContextLengthExceededError",
    "DeadlineExceededError",
    "FirstTokenTimeoutError",
    "InvalidRequestError",
    "LlamaRouterError",
    "MalformedResponseError",
    "MissingCredentialsError",
    "MissingDependencyError",
    "ModelNotFoundError",
    "NoDeploymentAvailableError",
    "ProviderError",
    "ProviderTimeoutError",
    "ProviderUnavailableError",
    "ProviderUnreachableError",
    "RateLimitedError",
    "RequestValidationError",
    "StreamInterruptedError",
    "UnknownModelError",
    "UnsupportedFeatureError",
]


class LlamaRouterError(Exception):
    """Root of every error raised by llama_router.

    Errors raised by a router call carry ``route``: every attempt made for the request."""

    route: tuple[Attempt, ...] = ()


class ConfigurationError(LlamaRouterError):
    """The router or a deployment is set up wrongly; the message says how to fix it."""


class UnknownModelError(ConfigurationError):
    """A model name is not in the catalog, or no deployment serves it."""


class MissingCredentialsError(ConfigurationError):
    """A cloud provider needs an API key and none was given or found in the environment."""


class MissingDependencyError(ConfigurationError):
    """The optional SDK for a provider is not installed."""


class RequestValidationError(LlamaRouterError, ValueError):
    """The arguments of a chat or stream call are invalid (bad message, setting out of range)."""


class UnsupportedFeatureError(LlamaRouterError):
    """The request needs a feature (tools, JSON mode, ...) that a provider does not offer."""

    def __init__(self, message: str, *, provider: str, feature: str) -> None:
        super().__init__(message)
        self.provider = provider
        self.feature = feature


class ProviderError(LlamaRouterError):
    """A provider failed a call.

    Attributes:
        provider: provider name (``"groq"``, ``"ollama"``, ...).
        deployment: the deployment's name, when known.
        status_code: the HTTP status, or ``None`` for network errors and in-stream errors.
        retry_after: seconds the provider asked us to wait, when it said so.
        rate_limits: the rate-limit headers of the failing response, parsed.
        provenance: the provider's request id (and region, build) of the failing reply,
            from its headers, when it sent them: what to quote to the provider's support.
        completion_tokens: tokens the failed attempt had already received (a non-streamed
            call read from a stream that broke mid-answer); recorded as the attempt's usage.
    """

    #: Whether retrying the same deployment may succeed.
    transient: bool = False
    completion_tokens: int = 0

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        deployment: str | None = None,
        status_code: int | None = None,
        retry_after: float | None = None,
        rate_limits: RateLimitInfo | None = None,
        provenance: Provenance | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.deployment = deployment
        self.status_code = status_code
        self.retry_after = retry_after
        self.rate_limits = rate_limits
        self.provenance = provenance

    def __str__(self) -> str:
        where = self.deployment if self.deployment is not None else self.provider
        status = "" if self.status_code is None else f" (HTTP {self.status_code})"
        return f"[{where}]{status} {self.message}"


class RateLimitedError(ProviderError):
    """The provider throttled us (HTTP 429, or Groq's 413 for a request larger than the
    per-minute token quota); ``retry_after`` says when to come back.

    ``token_quota`` is set when this one request was larger than the deployment's
    per-minute token quota (it will never fit there; smaller requests still do)."""

    transient = True
    token_quota: int | None = None


class ProviderTimeoutError(ProviderError):
    """Connecting, or waiting for the reply, took longer than the configured timeout."""

    transient = True


class FirstTokenTimeoutError(ProviderTimeoutError):
    """A stream produced no first token within ``Timeouts.first_token``: the deployment is
    stalled, so the request fails over at once rather than waiting on it again."""


class ProviderUnavailableError(ProviderError):
    """The provider could not serve the call now: refused connection, 5xx, overload."""

    transient = True


class ProviderUnreachableError(ProviderUnavailableError):
    """The connection was refused or the host could not be reached: nothing is listening.

    The router fails over at once instead of retrying the same deployment."""


class ColdStartError(ProviderUnavailableError):
    """The model is cold-booting and would not start within the allowed time."""


class AuthenticationError(ProviderError):
    """The provider rejected the credentials (HTTP 401 / 403)."""


class ModelNotFoundError(ProviderError):
    """The provider does not know this model id (HTTP 404), for example a retired id."""


class InvalidRequestError(ProviderError):
    """The provider rejected the request itself; another provider would reject it too."""


class ContextLengthExceededError(InvalidRequestError):
    """Prompt plus ``max_tokens`` do not fit the model's context window.

    ``context_window`` is the window the server reported (llama.cpp's ``n_ctx``), when it
    did: the router learns it for the deployment."""

    context_window: int | None = None


class StreamInterruptedError(ProviderError):
    """A stream failed after text had reached the caller.

    ``partial_text`` holds what was delivered before the failure.
    """

    transient = True

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        deployment: str | None = None,
        status_code: int | None = None,
        partial_text: str = "",
        provenance: Provenance | None = None,
    ) -> None:
        super().__init__(
            message,
            provider=provider,
            deployment=deployment,
            status_code=status_code,
            provenance=provenance,
        )
        self.partial_text = partial_text


class MalformedResponseError(ProviderError):
    """The provider's reply could not be parsed (bad JSON, missing fields, bad framing)."""

    transient = True


class NoDeploymentAvailableError(LlamaRouterError):
    """The policy left no deployment to try; ``reasons`` maps each deployment to why."""

    def __init__(self, message: str, reasons: Mapping[str, str] | None = None) -> None:
        self.reasons: dict[str, str] = dict(reasons or {})
        lines = [message, *(f"  - {name}: {why}" for name, why in self.reasons.items())]
        super().__init__("\n".join(lines))


class BudgetExceededError(NoDeploymentAvailableError):
    """The router's spend budget is used up and no free deployment can serve the request."""


class AllDeploymentsFailedError(LlamaRouterError):
    """Every candidate deployment failed; ``errors`` holds each attempt's error in order."""

    def __init__(
        self,
        message: str,
        errors: Sequence[LlamaRouterError],
        *,
        route: Sequence[Attempt] = (),
    ) -> None:
        lines = [message, *(f"  - {type(e).__name__}: {e}" for e in errors)]
        super().__init__("\n".join(lines))
        self.errors: tuple[LlamaRouterError, ...] = tuple(errors)
        self.route: tuple[Attempt, ...] = tuple(route)


class DeadlineExceededError(AllDeploymentsFailedError, TimeoutError):
    """The request's end-to-end deadline ran out before any deployment answered."""
