"""Together AI through ``together.AsyncTogether`` (the httpx-based 2.x/3.x SDK).

* Finish reason ``eos`` means ``stop``; usage arrives on the last stream chunk without any
  opt-in, so ``stream_options`` (not in Together's spec; acceptance **unconfirmed**) is not
  sent.
* Rate limits: ``x-ratelimit-{limit,remaining,reset}`` (requests per second) and
  ``x-tokenlimit-{limit,remaining}`` (tokens per second).
* 403 is documented as "input tokens + max_tokens exceed the model's context", so it maps to
  :class:`ContextLengthExceededError`, not to an authentication error.
* SDK 3.1.1 sends chat calls to ``https://api-inference.together.ai`` unless a base URL is
  given, in which case it uses ``{base_url}/v1/chat/completions``; we do the same.
"""

from __future__ import annotations

from typing import ClassVar

import httpx

from llama_router.backends.base import error_info
from llama_router.backends.openai_sdk import OpenAISDKBackend
from llama_router.exceptions import ContextLengthExceededError, ProviderError
from llama_router.provenance import provenance_from_headers

__all__ = ["TogetherBackend"]

_DEFAULT_CHAT_URL = "https://api-inference.together.ai/v1/chat/completions"


class TogetherBackend(OpenAISDKBackend):
    provider = "together"
    sdk_module = "together"
    sdk_class = "AsyncTogether"
    include_usage: ClassVar[bool] = False
    base_suffix: ClassVar[str] = "/v1"
    models_path: ClassVar[str] = "/v1/models"  # a bare JSON array (SDK 3.x lists /v2/projects)

    def _chat_path_for(self, base_url: str | None) -> str:
        return "/v1/chat/completions" if base_url is not None else _DEFAULT_CHAT_URL

    def _status_error(self, status: int, body: object, headers: httpx.Headers) -> ProviderError:
        if status == 403:
            message, _, _ = error_info(body)
            return ContextLengthExceededError(
                message,
                provider=self.provider,
                deployment=self.target.name,
                status_code=403,
                provenance=provenance_from_headers(headers),
            )
        return super()._status_error(status, body, headers)
