"""Provider backends, and what a custom backend's author needs.

Each built-in backend is imported only when a deployment of that provider is created, so
``import llama_router`` never imports an SDK. A custom provider is one :class:`Backend`
subclass plus a :class:`~llama_router.providers.ProviderSpec`, registered with
:func:`~llama_router.register_provider` (``docs/custom-backends.md``).
"""

from __future__ import annotations

from collections.abc import Callable

from llama_router.backends.base import (
    Backend,
    BackendResult,
    Capabilities,
    HealthReport,
    StreamItem,
    error_for_response,
    error_for_status,
    error_from_httpx,
)
from llama_router.deployments import Target
from llama_router.providers import backend_class
from llama_router.transport import HttpPool, JsonEndpoint

__all__ = [
    "Backend",
    "BackendResult",
    "Capabilities",
    "HealthReport",
    "HttpPool",
    "JsonEndpoint",
    "StreamItem",
    "Target",
    "create_backend",
    "error_for_response",
    "error_for_status",
    "error_from_httpx",
]


def create_backend(target: Target, http: HttpPool, clock: Callable[[], float]) -> Backend:
    """Build the registered backend of ``target.provider`` (importing its module now)."""
    return backend_class(target.provider)(target, http, clock=clock)
