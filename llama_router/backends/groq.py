"""Groq through ``groq.AsyncGroq`` (retries off; bodies and streams parsed by us).

* Output cap is ``max_completion_tokens`` (``max_tokens`` is deprecated there).
* Timings come from ``usage`` (seconds) and, on streams, from ``x_groq.usage`` on the last
  chunk, which Groq sends even without ``stream_options``.
* ``x-ratelimit-*-requests`` are per *day*, ``*-tokens`` per *minute*; resets are Go
  durations (``2m59.56s``). They are parsed into ``BackendResult.rate_limits`` and errors.
* 498 (flex tier capacity exceeded) is a bare ``APIStatusError`` that the SDK never retries;
  we treat it like 503 (:class:`ProviderUnavailableError`).
* 422 is documented as "could not be processed" and Groq suggests retrying; we keep it an
  :class:`InvalidRequestError` (no failover) because our request shapes are fixed.
"""

from __future__ import annotations

from typing import ClassVar

from llama_router.backends.openai_sdk import OpenAISDKBackend

__all__ = ["GroqBackend"]


class GroqBackend(OpenAISDKBackend):
    provider = "groq"
    sdk_module = "groq"
    sdk_class = "AsyncGroq"
    max_tokens_field: ClassVar[str] = "max_completion_tokens"
    base_suffix: ClassVar[str] = "/openai/v1"
    models_path: ClassVar[str] = "/openai/v1/models"

    def _chat_path_for(self, base_url: str | None) -> str:
        return "/openai/v1/chat/completions"
