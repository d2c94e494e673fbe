"""The router's one shared connection pool.

Every backend of a router sends through the same transport, so connections, keep-alive and
limits are pooled once: the OpenAI-style backends and the Stainless SDKs (Groq, Together)
share one ``httpx.AsyncClient``; the Ollama and Replicate SDKs build their own client objects
but are handed the same transport.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Literal

import httpx

from llama_router.exceptions import MissingDependencyError

__all__ = ["HttpPool", "JsonEndpoint", "TransportName"]

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


class JsonEndpoint:
    """One JSON ``POST`` endpoint of a deployment, prepared once.

    URL, headers and timeouts are parsed when the deployment is created, so a call only
    encodes its body and hands the request to the pool's transport. That skips what
    ``httpx.AsyncClient`` (and a Stainless SDK's request builder on top of it) redoes on
    every call: merging and validating headers, joining URLs, auth flows, redirects and the
    cookie jar, none of which an LLM API uses. It is the largest saving of client CPU per
    call that profiling found (``bench/README.md``).
    """

    __slots__ = ("_headers", "_timeout", "_transport", "_url")

    def __init__(
        self, pool: HttpPool, url: str, headers: Mapping[str, str], timeout: httpx.Timeout
    ) -> None:
        self._transport = pool.transport
        self._url = httpx.URL(url)
        self._headers = httpx.Headers(
            {"Accept": "application/json", **headers, "Content-Type": "application/json"}
        )
        self._timeout = timeout.as_dict()

    async def post(self, body: object, *, stream: bool = False) -> httpx.Response:
        """Send ``body`` as JSON. With ``stream=False`` the reply is read and closed; with
        ``stream=True`` the caller reads it and must ``aclose()`` it."""
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        request = httpx.Request(
            "POST",
            self._url,
            headers=self._headers,
            content=content,
            extensions={"timeout": self._timeout},
        )
        try:
            response = await self._transport.handle_async_request(request)
        except httpx.RequestError as exc:
            exc.request = request  # as httpx.AsyncClient does: errors name their request
            raise
        response.request = request
        if not stream:
            try:
                await response.aread()
            finally:
                await response.aclose()
        return response
