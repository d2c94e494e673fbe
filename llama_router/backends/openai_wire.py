"""Pure translation to and from the OpenAI chat-completions wire shape.

Shared by every backend that speaks it: Groq, Together, llama.cpp's server, the embedded
engine and the generic OpenAI-compatible backend. Nothing here does I/O. The stream parser
is :mod:`~llama_router.backends.openai_stream`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from llama_router.backends.base import (
    BackendResult,
    count_field,
    error_for_status,
    seconds_field,
)
from llama_router.exceptions import MalformedResponseError
from llama_router.messages import ChatRequest, GenerationSettings, Message, Tool, ToolCall
from llama_router.provenance import Provenance, clean_id
from llama_router.ratelimits import RateLimitInfo
from llama_router.responses import (
    FinishReason,
    ProviderTimings,
    Usage,
)

__all__ = [
    "FINISH_REASONS",
    "arguments_text",
    "body_provenance",
    "build_chat_body",
    "finish_of",
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


def finish_of(raw: object, has_tool_calls: bool) -> FinishReason:
    """Our finish reason for a provider's (a reply with tool calls and none says so)."""
    if isinstance(raw, str) and raw in FINISH_REASONS:
        return FINISH_REASONS[raw]
    return "tool_calls" if has_tool_calls else "stop"


def arguments_text(raw: object) -> str:
    """Tool-call arguments as JSON text (some servers send an object)."""
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
                arguments=arguments_text(call["function"].get("arguments", "{}")),
            )
            for i, call in enumerate(message.get("tool_calls") or ())
        )
        usage_raw = data.get("usage")
        model = data.get("model")
        return BackendResult(
            text=content,
            tool_calls=calls,
            finish_reason=finish_of(choice.get("finish_reason"), bool(calls)),
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
