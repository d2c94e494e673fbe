"""Shared base for the Stainless-generated SDKs (``groq``, ``together`` 2.x/3.x).

The SDK client is built once per deployment: it resolves the key, the base URL and the
headers it sends (authentication, ``User-Agent``, ``X-Stainless-*``). Chat calls then send
that prepared request through the router's transport (:class:`JsonEndpoint`) and we parse the
body and the SSE stream ourselves: the SDK's per-call request builder (header merging and
validation, URL joining, the client's cookie jar) and its pydantic object per chunk cost more
client CPU than the rest of the router together (profiles in ``bench/README.md``). Health
checks still go through the SDK (``GET /models``), so its error classes are mapped too.

The SDK's own retries are off (``max_retries=0``): the router owns retries. The SDK is
handed the router's shared ``httpx.AsyncClient``; we never call the SDK's ``close()``
because it would close that shared client.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable
from types import ModuleType
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
    require_sdk,
)
from llama_router.backends.openai_wire import (
    OpenAIStreamParser,
    build_chat_body,
    parse_chat_completion,
)
from llama_router.deployments import Target
from llama_router.exceptions import ProviderError
from llama_router.http import HttpPool, JsonEndpoint
from llama_router.messages import ChatRequest
from llama_router.ratelimits import RateLimitInfo, parse_rate_limits

__all__ = ["StainlessBackend"]


class StainlessBackend(Backend):
    """Common code of the Groq and Together backends."""

    sdk_module: ClassVar[str]
    sdk_class: ClassVar[str]
    max_tokens_field: ClassVar[str] = "max_tokens"
    include_usage: ClassVar[bool] = True
    #: Suffix users may include in ``base_url`` that the SDK adds itself.
    base_suffix: ClassVar[str] = ""
    models_path: ClassVar[str]

    def __init__(
        self, target: Target, http: HttpPool, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(target, http, clock=clock)
        self._sdk: ModuleType = require_sdk(self.sdk_module, self.provider)
        base_url = target.base_url
        if base_url is not None:
            base_url = base_url.rstrip("/")
            if self.base_suffix and base_url.endswith(self.base_suffix):
                base_url = base_url[: -len(self.base_suffix)]
        api_key = target.api_key.get_secret_value() if target.api_key is not None else None
        self._client: Any = getattr(self._sdk, self.sdk_class)(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            timeout=httpx.Timeout(target.timeout, connect=target.connect_timeout),
            http_client=http.client,
        )
        self._endpoint = JsonEndpoint(
            http,
            self._chat_url(self._chat_path_for(base_url)),
            {k: v for k, v in self._client.default_headers.items() if isinstance(v, str)},
            httpx.Timeout(target.timeout, connect=target.connect_timeout),
        )

    def _chat_url(self, path: str) -> str:
        """The chat URL exactly as the SDK would build it from its base URL and ``path``."""
        if path.startswith(("http://", "https://")):
            return path
        return str(self._client.base_url).rstrip("/") + path

    def _chat_path_for(self, base_url: str | None) -> str:
        raise NotImplementedError

    def _map_error(self, exc: Exception) -> ProviderError | None:
        sdk = self._sdk
        name = self.target.name
        if isinstance(exc, sdk.APIStatusError):
            response: httpx.Response = exc.response
            try:
                body: object = response.content
            except httpx.ResponseNotRead:
                body = exc.body
            return self._status_error(exc.status_code, body, response.headers)
        if isinstance(exc, sdk.APITimeoutError):
            return error_from_httpx(
                httpx.ReadTimeout("timeout"), provider=self.provider, deployment=name
            )
        if isinstance(exc, sdk.APIConnectionError):
            cause = exc.__cause__
            if isinstance(cause, httpx.HTTPError):
                return error_from_httpx(cause, provider=self.provider, deployment=name)
            return error_from_httpx(
                httpx.ConnectError("connection failed"), provider=self.provider, deployment=name
            )
        if isinstance(exc, sdk.APIError):  # an error event on an HTTP 200 stream
            return error_for_status(None, exc.body, provider=self.provider, deployment=name)
        if isinstance(exc, httpx.HTTPError):  # raised while we read the body ourselves
            return error_from_httpx(exc, provider=self.provider, deployment=name)
        return None

    def _status_error(self, status: int, body: object, headers: httpx.Headers) -> ProviderError:
        return error_for_status(
            status, body, provider=self.provider, deployment=self.target.name, headers=headers
        )

    def _response_error(self, response: httpx.Response) -> ProviderError:
        """The typed error for an HTTP error reply to a chat call (body read), chained to
        the ``httpx.HTTPStatusError`` that carries the request and response."""
        error = self._status_error(response.status_code, response.content, response.headers)
        return chained_to_response(error, response)

    def _body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        return build_chat_body(
            request,
            self.target.model_id,
            stream=stream,
            max_tokens_field=self.max_tokens_field,
            include_usage=self.include_usage,
        )

    async def chat(self, request: ChatRequest) -> BackendResult:
        body = self._body(request, stream=False)
        with self._mapped_errors():
            response = await self._endpoint.post(body)
            if response.status_code >= 400:
                raise self._response_error(response)
            limits = parse_rate_limits(response.headers)
            return parse_chat_completion(
                self._json(response),
                provider=self.provider,
                deployment=self.target.name,
                rate_limits=_or_none(limits),
            )

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamItem, None]:
        body = self._body(request, stream=True)
        with self._mapped_errors():
            response = await self._endpoint.post(body, stream=True)
            try:
                if response.status_code >= 400:
                    await response.aread()
                    raise self._response_error(response)
                parser = OpenAIStreamParser(
                    provider=self.provider,
                    deployment=self.target.name,
                    rate_limits=_or_none(parse_rate_limits(response.headers)),
                )
                async for item in parser.events(response.aiter_lines()):
                    yield item
            finally:
                await response.aclose()

    async def health(self) -> HealthReport:
        """An authenticated, cheap ``GET /models`` (neither provider has a health endpoint)."""
        try:
            with self._mapped_errors():
                await self._client.get(self.models_path, cast_to=httpx.Response)
        except ProviderError as exc:
            return HealthReport(ok=False, detail=f"{type(exc).__name__}: {exc.message}")
        return HealthReport(ok=True, detail="GET /models: ok")


def _or_none(limits: RateLimitInfo) -> RateLimitInfo | None:
    return None if limits.is_empty else limits
