"""The router's one shared connection pool.

Every backend of a router sends through the same transport, so connections, keep-alive and
limits are pooled once: the OpenAI-style backends and the Stainless SDKs (Groq, Together)
share one ``httpx.AsyncClient``; the Ollama and Replicate SDKs build their own client objects
but are handed the same transport.
"""

from __future__ import annotations

from typing import Literal

import httpx

from llama_router.exceptions import MissingDependencyError

__all__ = ["HttpPool", "TransportName"]

TransportName = Literal["httpx", "aiohttp"]


def _aiohttp_transport(limits: httpx.Limits) -> httpx.AsyncBaseTransport:
    try:
        from httpx_aiohttp import AiohttpTransport
    except ImportError as exc:
        raise MissingDependencyError(
            'transport="aiohttp" needs the httpx-aiohttp package: pip install "llama-router[fast]"'
        ) from exc
    transport: httpx.AsyncBaseTransport = AiohttpTransport(limits=limits)
    return transport


class HttpPool:
    """Owns the transport and the shared ``httpx.AsyncClient`` of one router.

    Args:
        transport: ``"httpx"`` (default: httpx's own pool), ``"aiohttp"`` (httpx over aiohttp's
            pool, about half the client CPU per call; needs the ``fast`` extra), or any
            ``httpx.AsyncBaseTransport`` (tests pass ``respx.MockTransport``).
        max_connections: pool size across all deployments.
    """

    __slots__ = ("_client", "transport")

    def __init__(
        self,
        transport: TransportName | httpx.AsyncBaseTransport = "httpx",
        *,
        max_connections: int = 200,
        max_keepalive_connections: int = 100,
    ) -> None:
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_keepalive_connections
        )
        if transport == "httpx":
            self.transport: httpx.AsyncBaseTransport = httpx.AsyncHTTPTransport(limits=limits)
        elif transport == "aiohttp":
            self.transport = _aiohttp_transport(limits)
        elif isinstance(transport, httpx.AsyncBaseTransport):
            self.transport = transport
        else:
            raise MissingDependencyError(
                f"unknown transport {transport!r}: use 'httpx', 'aiohttp' or an "
                "httpx.AsyncBaseTransport"
            )
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        """The shared client (created on first use); per-request timeouts are always given."""
        if self._client is None:
            self._client = httpx.AsyncClient(transport=self.transport, timeout=None)
        return self._client

    async def aclose(self) -> None:
        """Close the shared client and the transport (and so every pooled connection)."""
        if self._client is not None:
            await self._client.aclose()
        else:
            await self.transport.aclose()
