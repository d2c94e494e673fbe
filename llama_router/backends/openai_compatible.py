"""Any OpenAI-compatible chat server over plain httpx: vLLM, TGI, LM Studio, Hugging Face's
OpenAI-compatible router. ``base_url`` includes the API prefix, e.g. ``http://host:8000/v1``.

:class:`OpenAIChatBackend` holds the chat call itself (body, send, error reply, parse) once;
this backend, llama.cpp's and the SDK-based Groq and Together backends differ only in how
they prepare the endpoint and read health.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable
from typing import Any, ClassVar

import httpx

from llama_router.backends.base import (
    Backend,
    BackendResult,
    HealthReport,
    StreamItem,
    chained_to_response,
    error_for_status,
    error_from_httpx,
)
from llama_router.backends.openai_stream import OpenAIStreamParser
from llama_router.backends.openai_wire import (
    build_chat_body,
    parse_chat_completion,
)
from llama_router.deployments import Target
from llama_router.exceptions import ProviderError
from llama_router.messages import ChatRequest
from llama_router.provenance import provenance_from_headers
from llama_router.ratelimits import RateLimitInfo, parse_rate_limits
from llama_router.transport import HttpPool, JsonEndpoint

__all__ = ["OpenAIChatBackend", "OpenAICompatibleBackend"]


class OpenAIChatBackend(Backend):
    """Chat and stream calls in the OpenAI chat-completions shape over a prepared
    :class:`JsonEndpoint` (``self._endpoint``, set by the subclass)."""

    #: The body field of the output cap (Groq: ``max_completion_tokens``).
    max_tokens_field: ClassVar[str] = "max_tokens"
    #: Ask for usage on the last stream chunk (``stream_options.include_usage``).
    include_usage: ClassVar[bool] = True
    #: Read ``x-ratelimit-*`` headers into results (cloud providers that send them).
    reads_rate_limits: ClassVar[bool] = False
    _endpoint: JsonEndpoint

    def _body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        return build_chat_body(
            request,
            self.target.model_id,
            stream=stream,
            max_tokens_field=self.max_tokens_field,
            include_usage=self.include_usage,
        )

    def _status_error(self, status: int, body: object, headers: httpx.Headers) -> ProviderError:
        return error_for_status(
            status, body, provider=self.provider, deployment=self.target.name, headers=headers
        )

    def _response_error(self, response: httpx.Response) -> ProviderError:
        """The typed error for an HTTP error reply to a chat call (body read), chained to
        the ``httpx.HTTPStatusError`` that carries the request and response."""
        error = self._status_error(response.status_code, response.content, response.headers)
        return chained_to_response(error, response)

    def _rate_limits(self, response: httpx.Response) -> RateLimitInfo | None:
        if not self.reads_rate_limits:
            return None
        limits = parse_rate_limits(response.headers)
        return None if limits.is_empty else limits

    async def chat(self, request: ChatRequest) -> BackendResult:
        body = self._body(request, stream=False)
        with self._mapped_errors():
            response = await self._endpoint.post(body)
            if response.status_code >= 400:
                raise self._response_error(response)
            return parse_chat_completion(
                self._json(response),
                provider=self.provider,
                deployment=self.target.name,
                rate_limits=self._rate_limits(response),
                provenance=provenance_from_headers(response.headers),
            )

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamItem, None]:
        body = self._body(request, stream=True)
        with self._mapped_errors():
            response = await self._endpoint.post(body, stream=True)
            try:
                if response.status_code >= 400:
                    await response.aread()
                    raise self._response_error(response)
                provenance = provenance_from_headers(response.headers)
                parser = OpenAIStreamParser(
                    provider=self.provider,
                    deployment=self.target.name,
                    rate_limits=self._rate_limits(response),
                    provenance=provenance,
                )
                try:
                    async for item in parser.events(response.aiter_lines()):
                        yield item
                except ProviderError as exc:  # an error event: the reply's headers name it
                    if exc.provenance is None:
                        exc.provenance = provenance
                    raise
            finally:
                await response.aclose()


class OpenAICompatibleBackend(OpenAIChatBackend):
    """``POST {base_url}/chat/completions`` with our own body parsing."""

    provider = "openai_compatible"
    #: Path of the chat endpoint below ``base_url``.
    chat_path = "/chat/completions"
    models_path = "/models"

    def __init__(
        self, target: Target, http: HttpPool, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(target, http, clock=clock)
        if target.base_url is None:  # guaranteed by Deployment validation
            raise ValueError("base_url is required")
        self._client = http.client
        self._base = target.base_url.rstrip("/")
        self._chat_url = self._base + self.chat_path
        self._headers: dict[str, str] = {}
        if target.api_key is not None:
            self._headers["Authorization"] = f"Bearer {target.api_key.get_secret_value()}"
        self._timeout = httpx.Timeout(target.timeout, connect=target.connect_timeout)
        self._endpoint = JsonEndpoint(http, self._chat_url, self._headers, self._timeout)

    def _map_error(self, exc: Exception) -> ProviderError | None:
        if isinstance(exc, httpx.HTTPError):
            return error_from_httpx(exc, provider=self.provider, deployment=self.target.name)
        return None

    async def health(self) -> HealthReport:
        return await self._models_health()

    async def _models_health(self) -> HealthReport:
        try:
            response = await self._client.get(
                self._base + self.models_path, headers=self._headers, timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            return HealthReport(ok=False, detail=f"unreachable: {type(exc).__name__}")
        if response.status_code != 200:
            return HealthReport(
                ok=False, detail=f"GET {self.models_path}: HTTP {response.status_code}"
            )
        return HealthReport(ok=True, detail=f"GET {self.models_path}: 200", loaded=True)
