"""llama.cpp's ``llama-server`` (and llama.cpp-based servers) over plain httpx.

Chat goes to the OpenAI-compatible ``/v1/chat/completions``; the reply's ``timings`` object
(milliseconds) becomes :class:`ProviderTimings`. Mid-stream errors come either as
``data: {"error": ...}`` (builds after PR #16109, Sep 2025) or as a bare ``error: {...}`` line
(older builds); the shared parser handles both. Health is ``GET /health`` (503 while the
model loads); servers without it (llama-cpp-python's) fall back to ``GET /v1/models``. A
healthy server's parallel slots and how many are busy come from ``/slots`` (else ``/props``)
for load-aware routing, with each slot's window.

A non-streamed :meth:`LlamaCppBackend.chat` is sent as a stream and aggregated
(:func:`~llama_router.backends.base.aggregate`), because llama.cpp's server only stops
generating for a client that leaves a *stream*: measured on upstream's server (xllamacpp
build 11549), a cancelled or deadline-cut non-streamed request kept its slot busy 17.4 s after
the client left (generating to the end), while closing a streamed request freed the slot in
3 ms (at the next token). The reply is the same: text, tool calls, finish reason, ``timings``
and usage (the last chunk's, asked for with ``stream_options.include_usage``; servers that
ignore it, like llama-cpp-python's, get usage counted by the router).
"""

from __future__ import annotations

import json

import httpx

from llama_router.backends.base import BackendResult, HealthReport, aggregate, error_info
from llama_router.backends.openai_compatible import OpenAICompatibleBackend
from llama_router.messages import ChatRequest

__all__ = ["LlamaCppBackend"]


class LlamaCppBackend(OpenAICompatibleBackend):
    """``base_url`` is the server root, e.g. ``http://127.0.0.1:8080``."""

    provider = "llamacpp"
    chat_path = "/v1/chat/completions"
    models_path = "/v1/models"

    async def chat(self, request: ChatRequest) -> BackendResult:
        """A stream, aggregated: cancelling the call or a deadline cut closes the stream, and
        that is what stops llama.cpp's server generating (see the module docstring)."""
        return await aggregate(
            self.stream(request), provider=self.provider, deployment=self.target.name
        )

    async def health(self) -> HealthReport:
        try:
            response = await self._client.get(
                self._base + "/health", headers=self._headers, timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            return HealthReport(ok=False, detail=f"unreachable: {type(exc).__name__}")
        if response.status_code == 200:
            total, busy, window, sleeping = await self._server_state()
            return HealthReport(
                ok=True,
                # a sleeping server unloaded its model when idle: the next call reloads it
                detail="GET /health: ok"
                + (" (sleeping: the model is unloaded)" if sleeping else ""),
                loaded=not sleeping,
                slots_total=total,
                slots_busy=busy,
                context_window=window,
            )
        if response.status_code == 503:
            message, _, _ = error_info(response.content)
            return HealthReport(ok=False, detail=f"loading: {message}", loaded=False)
        if response.status_code == 404:  # no /health on this server: ask /v1/models instead
            return await self._models_health()
        return HealthReport(ok=False, detail=f"GET /health: HTTP {response.status_code}")

    async def _server_state(self) -> tuple[int | None, int | None, int | None, bool]:
        """(slots, busy slots, each slot's window, sleeping), ``None`` for what the server
        does not say. ``GET /slots`` lists every slot with ``is_processing`` and its
        ``n_ctx`` (refused with ``--no-slots``); ``GET /props`` has ``total_slots``,
        ``default_generation_settings.n_ctx`` and ``is_sleeping`` (the model was unloaded
        after ``--sleep-idle-seconds``). llama-cpp-python's server has neither."""
        props = await self._get_json("/props")  # first: /slots counts as activity
        slots = await self._get_json("/slots")
        total = busy = window = None
        if isinstance(slots, list) and slots and all(isinstance(s, dict) for s in slots):
            total = len(slots)
            busy = sum(1 for s in slots if s.get("is_processing") is True)
            window = _positive(slots[0].get("n_ctx"))
        sleeping = False
        if isinstance(props, dict):
            settings = props.get("default_generation_settings")
            if total is None:
                total = _positive(props.get("total_slots"))
            if window is None and isinstance(settings, dict):
                window = _positive(settings.get("n_ctx"))
            sleeping = props.get("is_sleeping") is True
        return total, busy, window, sleeping

    async def _get_json(self, path: str) -> object:
        """A GET's JSON body, or ``None`` when the server does not answer it with one."""
        try:
            response = await self._client.get(
                self._base + path, headers=self._headers, timeout=self._timeout
            )
            return json.loads(response.content) if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError, RecursionError):
            return None


def _positive(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None
