"""Pure translation to and from the OpenAI chat-completions wire shape.

Shared by every backend that speaks it: Groq, Together, llama.cpp's server and the generic
OpenAI-compatible backend. Nothing here does I/O; the stream parser consumes an async
iterator of text lines, so it is tested with plain lists.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from llama_router.backends.base import (
    BackendResult,
    StreamItem,
    count_field,
    drain,
    error_for_status,
    seconds_field,
)
from llama_router.exceptions import MalformedResponseError, StreamInterruptedError
from llama_router.messages import ChatRequest, GenerationSettings, Message, Tool, ToolCall
from llama_router.provenance import Provenance, clean_id
from llama_router.ratelimits import RateLimitInfo
from llama_router.responses import (
    FinishReason,
    ProviderTimings,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    Usage,
)

__all__ = [
    "FINISH_REASONS",
    "OpenAIStreamParser",
    "body_provenance",
    "build_chat_body",
    "message_to_openai",
    "parse_chat_completion",
    "parse_timings",
    "parse_usage",
    "sampling_fields",
    "tool_definitions",
]

#: Provider finish reasons mapped to ours (Together's ``eos`` means ``stop``).
FINISH_REASONS: Mapping[str, FinishReason] = MappingProxyType(
    {
        "stop": "stop",
        "eos": "stop",
        "end_turn": "stop",
        "length": "length",
        "max_tokens": "length",
        "tool_calls": "tool_calls",
        "function_call": "tool_calls",
        "content_filter": "content_filter",
    }
)

JSON = dict[str, Any]


def message_to_openai(message: Message) -> JSON:
    """One message in the OpenAI shape (``name`` is not sent: Groq rejects it)."""
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    if message.tool_calls:
        return {
            "role": "assistant",
            "content": message.content or None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in message.tool_calls
            ],
        }
    return {"role": message.role, "content": message.content}


def sampling_fields(settings: GenerationSettings, max_tokens_field: str = "max_tokens") -> JSON:
    """The sampling settings every provider takes (output cap, temperature, top-p, stop,
    seed), under OpenAI's names; only the ones the caller set. Other wire shapes rename
    from here (Ollama's ``num_predict``, Replicate's ``stop_sequences``)."""
    body: JSON = {}
    if settings.max_tokens is not None:
        body[max_tokens_field] = settings.max_tokens
    if settings.temperature is not None:
        body["temperature"] = settings.temperature
    if settings.top_p is not None:
        body["top_p"] = settings.top_p
    if settings.stop:
        body["stop"] = list(settings.stop)
    if settings.seed is not None:
        body["seed"] = settings.seed
    return body


def tool_definitions(tools: Sequence[Tool]) -> list[JSON]:
    """Tools in the OpenAI ``tools`` shape (Ollama's native API takes the same)."""
    return [
        {
            "type": "function",
            "function": {
                "name": tool.name,
                "description": tool.description,
                "parameters": tool.parameters,
            },
        }
        for tool in tools
    ]


def _settings_fields(settings: GenerationSettings, max_tokens_field: str) -> JSON:
    body = sampling_fields(settings, max_tokens_field)
    fmt = settings.response_format
    if fmt is not None:
        if fmt.type == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": fmt.name, "schema": fmt.json_schema, "strict": True},
            }
        else:
            body["response_format"] = {"type": fmt.type}
    if settings.tools:
        body["tools"] = tool_definitions(settings.tools)
    choice = settings.tool_choice
    if choice is not None:
        if choice in ("auto", "none", "required"):
            body["tool_choice"] = choice
        else:
            body["tool_choice"] = {"type": "function", "function": {"name": choice}}
    return body


def build_chat_body(
    request: ChatRequest,
    model_id: str,
    *,
    stream: bool,
    max_tokens_field: str = "max_tokens",
    include_usage: bool = True,
) -> JSON:
    """The JSON body of ``POST /chat/completions`` for ``request``."""
    body: JSON = {"model": model_id, "messages": [message_to_openai(m) for m in request.messages]}
    body.update(_settings_fields(request.settings, max_tokens_field))
    if stream:
        body["stream"] = True
        if include_usage:
            body["stream_options"] = {"include_usage": True}
    return body


_int = count_field
_float = seconds_field


def _detail(raw: dict[str, Any], key: str, field: str) -> int:
    details = raw.get(key)
    return _int(details.get(field)) if isinstance(details, dict) else 0


def parse_usage(raw: object, timings: object = None) -> Usage:
    """``usage`` (with OpenAI/Groq ``prompt_tokens_details.cached_tokens`` and
    ``completion_tokens_details.reasoning_tokens``); without it, llama.cpp's ``timings``:
    prompt = ``prompt_n`` + ``cache_n`` (``cache_n`` cached), completion = ``predicted_n``."""
    if isinstance(raw, dict):
        return Usage(
            prompt_tokens=_int(raw.get("prompt_tokens")),
            completion_tokens=_int(raw.get("completion_tokens")),
            cached_prompt_tokens=_detail(raw, "prompt_tokens_details", "cached_tokens"),
            reasoning_tokens=_detail(raw, "completion_tokens_details", "reasoning_tokens"),
        )
    if isinstance(timings, dict) and "predicted_n" in timings:
        cached = _int(timings.get("cache_n"))
        return Usage(
            prompt_tokens=_int(timings.get("prompt_n")) + cached,
            completion_tokens=_int(timings.get("predicted_n")),
            cached_prompt_tokens=cached,
        )
    return Usage()


def parse_timings(usage: object, timings: object) -> ProviderTimings:
    """Groq's seconds in ``usage`` and llama.cpp's milliseconds in ``timings``, in seconds."""
    if isinstance(usage, dict) and "total_time" in usage:
        completion_time = _float(usage.get("completion_time"))
        tokens = _int(usage.get("completion_tokens"))
        return ProviderTimings(
            queue_s=_float(usage.get("queue_time")),
            prompt_s=_float(usage.get("prompt_time")),
            generation_s=completion_time,
            total_s=_float(usage.get("total_time")),
            output_tokens_per_second=tokens / completion_time if completion_time else None,
        )
    if isinstance(timings, dict):
        prompt_ms = _float(timings.get("prompt_ms"))
        predicted_ms = _float(timings.get("predicted_ms"))
        total = None
        if prompt_ms is not None and predicted_ms is not None:
            total = (prompt_ms + predicted_ms) / 1000.0
        return ProviderTimings(
            prompt_s=None if prompt_ms is None else prompt_ms / 1000.0,
            generation_s=None if predicted_ms is None else predicted_ms / 1000.0,
            total_s=total,
            output_tokens_per_second=_float(timings.get("predicted_per_second")),
        )
    return ProviderTimings()


def reasoning_of(message: object) -> str | None:
    """The reasoning text of a message or delta: ``reasoning`` (Groq, vLLM) or
    ``reasoning_content`` (llama.cpp, DeepSeek, vLLM); ``None`` when absent or not text."""
    if not isinstance(message, dict):
        return None
    for key in ("reasoning", "reasoning_content"):
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _finish(raw: object, has_tool_calls: bool) -> FinishReason:
    if isinstance(raw, str) and raw in FINISH_REASONS:
        return FINISH_REASONS[raw]
    return "tool_calls" if has_tool_calls else "stop"


def _arguments(raw: object) -> str:
    if isinstance(raw, str):
        return raw
    return json.dumps(raw)


def body_provenance(data: object, headers: Provenance | None = None) -> Provenance | None:
    """The provenance of a reply: its headers' (``headers``), completed from a body or
    stream chunk: ``system_fingerprint`` (llama.cpp's build, e.g. ``b9020-a4701c98f``; Groq's
    ``fp_...``) and Groq's ``x_groq.id`` (the same id as its ``x-request-id`` header)."""
    if not isinstance(data, dict):
        return headers
    x_groq = data.get("x_groq")
    found = Provenance(
        request_id=clean_id(x_groq.get("id")) if isinstance(x_groq, dict) else None,
        server_build=clean_id(data.get("system_fingerprint")),
    )
    merged = found if headers is None else headers.or_else(found)
    return None if merged.is_empty else merged


def parse_chat_completion(
    data: object,
    *,
    provider: str,
    deployment: str,
    rate_limits: RateLimitInfo | None = None,
    provenance: Provenance | None = None,
) -> BackendResult:
    """A non-streaming chat completion body, parsed; anything unexpected is a
    :class:`MalformedResponseError`."""
    try:
        if not isinstance(data, dict):
            raise TypeError("body is not a JSON object")
        if "error" in data:
            raise error_for_status(None, data, provider=provider, deployment=deployment)
        choice = data["choices"][0]
        message = choice["message"]
        content = message.get("content") or ""
        if not isinstance(content, str):
            raise TypeError("message.content is not a string")
        calls = tuple(
            ToolCall(
                id=str(call.get("id") or f"call_{i}"),
                name=call["function"]["name"],
                arguments=_arguments(call["function"].get("arguments", "{}")),
            )
            for i, call in enumerate(message.get("tool_calls") or ())
        )
        usage_raw = data.get("usage")
        model = data.get("model")
        return BackendResult(
            text=content,
            tool_calls=calls,
            finish_reason=_finish(choice.get("finish_reason"), bool(calls)),
            usage=parse_usage(usage_raw, data.get("timings")),
            timings=parse_timings(usage_raw, data.get("timings")),
            provider_model=model if isinstance(model, str) else None,
            rate_limits=rate_limits,
            provenance=body_provenance(data, provenance),
            reasoning=reasoning_of(message),
        )
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
        raise MalformedResponseError(
            f"unexpected chat completion shape ({type(exc).__name__}: {exc})",
            provider=provider,
            deployment=deployment,
        ) from exc


def _parse_json_line(payload: str, provider: str, deployment: str) -> Any:
    try:
        return json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise MalformedResponseError(
            f"stream chunk is not JSON: {payload[:200]!r}", provider=provider, deployment=deployment
        ) from exc


class _StreamState:
    """What one stream has said so far."""

    __slots__ = (
        "calls",
        "done",
        "finish_raw",
        "first",
        "model",
        "parts",
        "thoughts",
        "timings_raw",
        "usage_raw",
    )

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.thoughts: list[str] = []
        self.calls: dict[int, list[str]] = {}  # index -> [id, name, arguments]
        self.finish_raw: object = None
        self.usage_raw: object = None
        self.timings_raw: object = None
        self.model: object = None
        self.first: object = None  # the first chunk naming its model: x_groq.id, fingerprint
        self.done = False


class OpenAIStreamParser:
    """Parses an OpenAI-style SSE chat stream into deltas and a final result.

    Handles ``data: {"error": ...}`` events on an HTTP 200 stream, llama.cpp's older
    ``error: {...}`` lines, usage on the last chunk (``usage`` or Groq's ``x_groq.usage``),
    llama.cpp ``timings``, and a stream that ends without ``[DONE]`` or a finish reason.
    """

    __slots__ = ("deployment", "provenance", "provider", "rate_limits")

    def __init__(
        self,
        *,
        provider: str,
        deployment: str,
        rate_limits: RateLimitInfo | None = None,
        provenance: Provenance | None = None,
    ) -> None:
        self.provider = provider
        self.deployment = deployment
        self.rate_limits = rate_limits
        self.provenance = provenance  # from the reply's headers; chunks complete it

    def _in_stream_error(self, chunk: dict[str, Any]) -> Exception:
        err = chunk.get("error")
        code = err.get("code") if isinstance(err, dict) else None
        status = code if type(code) is int else None
        return error_for_status(status, chunk, provider=self.provider, deployment=self.deployment)

    async def events(self, lines: AsyncIterator[str]) -> AsyncIterator[StreamItem]:
        """The stream's deltas as they arrive, then one :class:`BackendResult`."""
        provider, deployment = self.provider, self.deployment
        st = _StreamState()
        parts, thoughts, calls = st.parts, st.thoughts, st.calls
        async for line in lines:
            if not line.startswith("data:"):
                self._other_line(line)  # raises on llama.cpp's old error: lines
                continue
            payload = line[5:].strip()
            if payload == "[DONE]":
                st.done = True
                await drain(lines)
                break
            chunk = _parse_json_line(payload, provider, deployment)
            if type(chunk) is not dict:
                raise MalformedResponseError(
                    "stream chunk is not a JSON object", provider=provider, deployment=deployment
                )
            if "error" in chunk:
                raise self._in_stream_error(chunk)
            choices = chunk.get("choices")
            if choices:
                delta, content, tool_deltas, reason = self._choice(choices, payload)
                thought = reasoning_of(delta)
                if thought:
                    thoughts.append(thought)
                    yield ReasoningDelta(thought)
                if content:
                    parts.append(content)
                    yield TextDelta(content)
                if tool_deltas:
                    for item in tool_deltas:
                        yield self._tool_delta(item, calls)
                if reason:
                    st.finish_raw = reason
            self._note(chunk, st)
        yield self._result(st)

    def _other_line(self, line: str) -> None:
        """A line that is not ``data:``: llama.cpp before PR #16109 sends ``error: {...}``;
        blank lines, comments and ``event:`` / ``id:`` fields are skipped."""
        if line.startswith("error:"):
            chunk = _parse_json_line(line[6:], self.provider, self.deployment)
            if not (isinstance(chunk, dict) and "error" in chunk):
                chunk = {"error": chunk}  # the old framing sends the bare error object
            raise self._in_stream_error(chunk)

    def _choice(self, choices: Any, payload: str) -> tuple[Any, Any, Any, Any]:
        """(delta, content, tool call deltas, finish reason) of a chunk's first choice."""
        try:
            choice = choices[0]
            delta = choice.get("delta") or {}
            content = delta.get("content")
            tool_deltas = delta.get("tool_calls")
            if content is not None and type(content) is not str:
                raise TypeError("delta.content is not a string")
            if tool_deltas is not None and type(tool_deltas) is not list:
                raise TypeError("delta.tool_calls is not a list")
            return delta, content, tool_deltas, choice.get("finish_reason")
        except (AttributeError, IndexError, KeyError, TypeError) as exc:
            raise MalformedResponseError(
                f"unexpected stream chunk shape: {payload[:200]!r}",
                provider=self.provider,
                deployment=self.deployment,
            ) from exc

    def _note(self, chunk: dict[str, Any], st: _StreamState) -> None:
        """What a chunk says besides its delta: usage (also Groq's ``x_groq.usage``), Groq's
        early-stop error, llama.cpp's ``timings``, the model and the first chunk."""
        usage = chunk.get("usage")
        if usage:
            st.usage_raw = usage
        x_groq = chunk.get("x_groq")
        if x_groq and isinstance(x_groq, dict):
            if x_groq.get("error"):  # Groq: why the stream was stopped early
                raise error_for_status(
                    None,
                    {"error": x_groq["error"]},
                    provider=self.provider,
                    deployment=self.deployment,
                )
            if not usage and x_groq.get("usage"):
                st.usage_raw = x_groq["usage"]
        timings = chunk.get("timings")
        if timings:
            st.timings_raw = timings
        if st.model is None:
            st.model = chunk.get("model")
            st.first = chunk

    def _result(self, st: _StreamState) -> BackendResult:
        """The whole answer once the stream ended; a stream cut before ``[DONE]`` or a finish
        reason is :class:`StreamInterruptedError`, never a silent partial answer."""
        parts = st.parts
        if not st.done and st.finish_raw is None:
            raise StreamInterruptedError(
                "the stream ended before [DONE] or a finish reason (truncated)",
                provider=self.provider,
                deployment=self.deployment,
                partial_text="".join(parts),
            )
        tool_calls = tuple(
            ToolCall(id=c[0] or f"call_{i}", name=c[1], arguments=c[2] or "{}")
            for i, c in sorted(st.calls.items())
        )
        usage = parse_usage(st.usage_raw, st.timings_raw)
        if st.usage_raw is None and not usage.total_tokens and parts:
            # No usage sent (llama-cpp-python's server ignores include_usage): these servers
            # stream one token per chunk, so the chunk count is the completion's token count.
            usage = Usage(completion_tokens=len(parts))
        return BackendResult(
            text="".join(parts),
            tool_calls=tool_calls,
            finish_reason=_finish(st.finish_raw, bool(tool_calls)),
            usage=usage,
            timings=parse_timings(st.usage_raw, st.timings_raw),
            provider_model=st.model if isinstance(st.model, str) else None,
            rate_limits=self.rate_limits,
            provenance=body_provenance(st.first, self.provenance),
            reasoning="".join(st.thoughts) or None,
        )

    def _tool_delta(self, item: object, calls: dict[int, list[str]]) -> ToolCallDelta:
        if not isinstance(item, dict):
            raise MalformedResponseError(
                "tool call delta is not an object",
                provider=self.provider,
                deployment=self.deployment,
            )
        index = item.get("index", len(calls))
        if type(index) is not int:
            index = len(calls)
        function = item.get("function") or {}
        call_id = item.get("id")
        name = function.get("name") if isinstance(function, dict) else None
        args = function.get("arguments") if isinstance(function, dict) else None
        args_text = "" if args is None else _arguments(args)
        slot = calls.setdefault(index, ["", "", ""])
        if call_id:
            slot[0] = str(call_id)
        if name:
            slot[1] = str(name)
        slot[2] += args_text
        return ToolCallDelta(
            index=index,
            id=str(call_id) if call_id else None,
            name=str(name) if name else None,
            arguments=args_text,
        )
