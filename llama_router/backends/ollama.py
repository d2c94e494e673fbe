"""Ollama through the ``ollama`` SDK's ``AsyncClient`` on the native ``/api/chat``.

The SDK resolves the host (``OLLAMA_HOST``), sets its headers (and ``OLLAMA_API_KEY`` auth
for Ollama's cloud) and builds the httpx client, to which we hand the router's shared
transport. Its public ``chat()`` builds one pydantic object per streamed line, so for chat
we send through that same SDK client's httpx client (``AsyncClient._client``, ollama 0.6.x;
the extra pins ``<0.7``) and parse the replies ourselves; this also keeps the response
headers (``Retry-After``) that the SDK's ``ResponseError`` drops. Health uses the public ``list()``
(``/api/tags``: is the model pulled?) and ``ps()`` (``/api/ps``: is it loaded, with which
``context_length``, and until when: a model whose ``expires_at`` is under 10 s away counts as
not loaded, since its keep-alive runs out before the next call is likely to land).

Wire notes: ``stream`` defaults to true on the native API, so it is always sent; durations
are nanoseconds; tool-call arguments are JSON objects (we re-serialise them to text); an
error can arrive as ``{"error": "..."}`` on an HTTP 200 stream; the SDK has no timeout and no
retries of its own (we pass the deployment's timeout).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator, Callable
from datetime import datetime, timezone
from typing import Any

import httpx

from llama_router.backends.base import (
    Backend,
    BackendResult,
    HealthReport,
    StreamItem,
    count_field,
    drain,
    error_for_response,
    error_for_status,
    error_from_httpx,
    require_sdk,
    seconds_field,
)
from llama_router.backends.openai_wire import sampling_fields, tool_definitions
from llama_router.deployments import Target
from llama_router.exceptions import (
    ProviderError,
    ProviderUnreachableError,
    StreamInterruptedError,
    UnsupportedFeatureError,
)
from llama_router.messages import ChatRequest, Message, ToolCall
from llama_router.providers import OllamaOptions
from llama_router.responses import (
    FinishReason,
    ProviderTimings,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from llama_router.transport import HttpPool

__all__ = ["OllamaBackend", "build_ollama_body"]

_NS = 1e-9


def _message(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [
            {"function": {"name": c.name, "arguments": _json_object(c.arguments)}}
            for c in message.tool_calls
        ]
    if message.role == "tool" and message.name:
        out["tool_name"] = message.name
    return out


def _json_object(text: str) -> object:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return {}


def build_ollama_body(
    request: ChatRequest,
    model_id: str,
    *,
    stream: bool,
    keep_alive: str | float | None = None,
    num_ctx: int | None = None,
) -> dict[str, Any]:
    """The JSON body of ``POST /api/chat``."""
    settings = request.settings
    options = sampling_fields(settings, max_tokens_field="num_predict")
    if num_ctx is not None:
        options["num_ctx"] = num_ctx
    body: dict[str, Any] = {
        "model": model_id,
        "messages": [_message(m) for m in request.messages],
        "stream": stream,
    }
    if options:
        body["options"] = options
    if keep_alive is not None:
        body["keep_alive"] = keep_alive
    fmt = settings.response_format
    if fmt is not None and fmt.type == "json_object":
        body["format"] = "json"
    elif fmt is not None and fmt.type == "json_schema":
        body["format"] = fmt.json_schema
    if settings.tools:
        body["tools"] = tool_definitions(settings.tools)
    return body


def _seconds(value: object) -> float | None:
    return seconds_field(value, _NS) if type(value) is int else None


_count = count_field


class OllamaBackend(Backend):
    provider = "ollama"

    def __init__(
        self, target: Target, http: HttpPool, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(target, http, clock=clock)
        self._sdk = require_sdk("ollama", "ollama")
        self._options = target.options_as(OllamaOptions)
        timeout = httpx.Timeout(target.timeout, connect=target.connect_timeout)
        headers = None
        if target.api_key is not None:  # Ollama's cloud; local servers need no key
            headers = {"Authorization": f"Bearer {target.api_key.get_secret_value()}"}
        self._client: Any = self._sdk.AsyncClient(
            host=target.base_url, timeout=timeout, headers=headers, transport=http.transport
        )
        # The SDK's own httpx client (base URL, headers, auth) for our streaming reads.
        self._http: httpx.AsyncClient = self._client._client

    def check_supported(self, request: ChatRequest) -> None:
        super().check_supported(request)
        if request.settings.tool_choice not in (None, "auto"):
            raise UnsupportedFeatureError(
                "Ollama's native API has no tool_choice; leave it unset or 'auto', or route "
                "to a provider that supports it.",
                provider=self.provider,
                feature="tool_choice",
            )

    def _body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        options = self._options
        return build_ollama_body(
            request,
            self.target.model_id,
            stream=stream,
            keep_alive=options.keep_alive,
            num_ctx=options.num_ctx,
        )

    def _map_error(self, exc: Exception) -> ProviderError | None:
        name = self.target.name
        if isinstance(exc, self._sdk.ResponseError):
            status = exc.status_code if exc.status_code > 0 else None
            return error_for_status(
                status, {"error": exc.error}, provider=self.provider, deployment=name
            )
        if isinstance(exc, httpx.HTTPError) and not isinstance(exc, httpx.ConnectError):
            return error_from_httpx(exc, provider=self.provider, deployment=name)
        if isinstance(exc, (httpx.ConnectError, ConnectionError)):  # SDK: "Failed to connect"
            return ProviderUnreachableError(
                f"cannot connect to Ollama at {self.target.base_url}; is `ollama serve` running?",
                provider=self.provider,
                deployment=name,
            )
        return None

    def _result(
        self,
        final: dict[str, Any],
        text: str,
        calls: tuple[ToolCall, ...],
        thinking: str | None = None,
    ) -> BackendResult:
        reason = final.get("done_reason")
        finish: FinishReason = "length" if reason == "length" else "stop"
        if calls:
            finish = "tool_calls"
        eval_count = _count(final.get("eval_count"))
        eval_s = _seconds(final.get("eval_duration"))
        model = final.get("model")
        return BackendResult(
            text=text,
            tool_calls=calls,
            finish_reason=finish,
            usage=Usage(
                prompt_tokens=_count(final.get("prompt_eval_count")), completion_tokens=eval_count
            ),
            timings=ProviderTimings(
                load_s=_seconds(final.get("load_duration")),
                prompt_s=_seconds(final.get("prompt_eval_duration")),
                generation_s=eval_s,
                total_s=_seconds(final.get("total_duration")),
                output_tokens_per_second=eval_count / eval_s if eval_s else None,
            ),
            provider_model=model if isinstance(model, str) else None,
            reasoning=thinking or None,
        )

    def _calls(self, message: object, offset: int) -> tuple[ToolCall, ...]:
        raw = message.get("tool_calls") if isinstance(message, dict) else None
        if not raw:
            return ()
        try:
            return tuple(
                ToolCall(
                    id=str(c.get("id") or f"call_{offset + i}"),
                    name=c["function"]["name"],
                    arguments=json.dumps(c["function"].get("arguments", {})),
                )
                for i, c in enumerate(raw)
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:  # ValueError: pydantic
            raise self._malformed(f"unexpected tool_calls shape: {raw!r:.200}") from exc

    async def chat(self, request: ChatRequest) -> BackendResult:
        body = self._body(request, stream=False)
        with self._mapped_errors():
            response = await self._http.post("/api/chat", json=body)
            if response.status_code >= 400:
                raise error_for_response(
                    response, provider=self.provider, deployment=self.target.name
                )
            data = self._json(response)
            if not isinstance(data, dict):
                raise self._malformed("reply is not a JSON object")
            if "error" in data:
                raise error_for_status(
                    None, data, provider=self.provider, deployment=self.target.name
                )
            message = data.get("message")
            content = message.get("content") if isinstance(message, dict) else None
            if not isinstance(content, str):
                raise self._malformed("reply has no message.content")
            thinking = message.get("thinking") if isinstance(message, dict) else None
            return self._result(
                data,
                content,
                self._calls(message, 0),
                thinking if isinstance(thinking, str) else None,
            )

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamItem, None]:
        body = self._body(request, stream=True)
        parts: list[str] = []
        thoughts: list[str] = []
        calls: list[ToolCall] = []
        final: dict[str, Any] | None = None
        with self._mapped_errors():
            async with self._http.stream("POST", "/api/chat", json=body) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise error_for_response(
                        response, provider=self.provider, deployment=self.target.name
                    )
                lines = response.aiter_lines()
                async for line in lines:
                    if not line:
                        continue
                    try:
                        obj = json.loads(line)
                    except (ValueError, RecursionError) as exc:
                        raise self._malformed(f"stream line is not JSON: {line[:200]!r}") from exc
                    if type(obj) is not dict:
                        raise self._malformed("stream line is not a JSON object")
                    if "error" in obj:
                        raise error_for_status(
                            None, obj, provider=self.provider, deployment=self.target.name
                        )
                    message = obj.get("message")
                    if isinstance(message, dict):
                        thinking = message.get("thinking")
                        if thinking and isinstance(thinking, str):
                            thoughts.append(thinking)
                            yield ReasoningDelta(thinking)
                        content = message.get("content")
                        if content and isinstance(content, str):
                            parts.append(content)
                            yield TextDelta(content)
                        for call in self._calls(message, len(calls)):
                            yield ToolCallDelta(
                                index=len(calls),
                                id=call.id,
                                name=call.name,
                                arguments=call.arguments,
                            )
                            calls.append(call)
                    if obj.get("done") is True:
                        final = obj
                        await drain(lines)  # so the connection goes back to the pool
                        break
        if final is None:
            raise StreamInterruptedError(
                "the stream ended before the done:true object (truncated)",
                provider=self.provider,
                deployment=self.target.name,
                partial_text="".join(parts),
            )
        yield self._result(final, "".join(parts), tuple(calls), "".join(thoughts))

    async def health(self) -> HealthReport:
        """``/api/tags`` says whether the model is pulled, ``/api/ps`` whether it is loaded."""
        model_id = self.target.model_id
        try:
            with self._mapped_errors():
                tags = await self._client.list()
                running = await self._client.ps()
        except ProviderError as exc:
            return HealthReport(ok=False, detail=f"{type(exc).__name__}: {exc.message}")
        wanted = _names(model_id)
        pulled = any(_names(m.model or "") & wanted for m in tags.models)
        mine = [m for m in running.models if _names(m.model or "") & wanted]
        loaded = bool(mine)
        window = mine[0].context_length if mine else None  # what it was loaded with
        unloads_in = _seconds_until(mine[0].expires_at) if mine else None
        if not pulled:
            return HealthReport(
                ok=False,
                detail=f"model {model_id!r} is not pulled: run `ollama pull {model_id}`",
                model_available=False,
                loaded=False,
            )
        detail = "loaded" if loaded else "pulled, not loaded (first call pays a cold load)"
        if unloads_in is not None and unloads_in < COLD_SOON_S:
            # keep_alive runs out: the next call is likely to pay a cold load
            loaded = False
            detail = f"loaded, but unloads in {max(unloads_in, 0):.0f} s (keep_alive)"
        return HealthReport(
            ok=True,
            detail=detail,
            model_available=True,
            loaded=loaded,
            context_window=window if isinstance(window, int) and window > 0 else None,
        )


COLD_SOON_S = 10.0
"""A model that Ollama unloads within this many seconds counts as not loaded."""


def _seconds_until(moment: object) -> float | None:
    """Seconds from now to an ``expires_at`` timestamp (wall clock), if it is one."""
    if not isinstance(moment, datetime):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - datetime.now(timezone.utc)).total_seconds()


def _names(model: str) -> set[str]:
    """An untagged name means ``:latest``."""
    return {model, f"{model}:latest"} if ":" not in model else {model}
