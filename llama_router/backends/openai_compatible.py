"""Any OpenAI-compatible chat server over plain httpx: vLLM, TGI, LM Studio, Hugging Face's
OpenAI-compatible router. ``base_url`` includes the API prefix, e.g. ``http://host:8000/v1``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable
from typing import Any

import httpx

from llama_router.backends.base import (
    Backend,
    BackendResult,
    HealthReport,
    StreamItem,
    error_for_response,
    error_from_httpx,
)
from llama_router.backends.openai_wire import (
    OpenAIStreamParser,
    build_chat_body,
    parse_chat_completion,
)
from llama_router.deployments import Target
from llama_router.exceptions import ProviderError
from llama_router.transport import HttpPool, JsonEndpoint
from llama_router.messages import ChatRequest

__all__ = ["OpenAICompatibleBackend"]


class OpenAICompatibleBackend(Backend):
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

    def _body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        return build_chat_body(request, self.target.model_id, stream=stream)

    def _map_error(self, exc: Exception) -> ProviderError | None:
        if isinstance(exc, httpx.HTTPError):
            return error_from_httpx(exc, provider=self.provider, deployment=self.target.name)
        return None

    async def chat(self, request: ChatRequest) -> BackendResult:
        body = self._body(request, stream=False)
        with self._mapped_errors():
            response = await self._endpoint.post(body)
            if response.status_code >= 400:
                raise error_for_response(
                    response, provider=self.provider, deployment=self.target.name
                )
            return parse_chat_completion(
                self._json(response), provider=self.provider, deployment=self.target.name
            )

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamItem, None]:
        body = self._body(request, stream=True)
        parser = OpenAIStreamParser(provider=self.provider, deployment=self.target.name)
        with self._mapped_errors():
            response = await self._endpoint.post(body, stream=True)
            try:
                if response.status_code >= 400:
                    await response.aread()
                    raise error_for_response(
                        response, provider=self.provider, deployment=self.target.name
                    )
                async for item in parser.events(response.aiter_lines()):
                    yield item
            finally:
                await response.aclose()

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
