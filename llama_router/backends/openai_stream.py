"""The OpenAI-style SSE chat stream parser: text lines in, deltas and one final result out.

Nothing here does I/O: it consumes an async iterator of text lines, so it is tested with
plain lists. The pieces of a reply it shares with non-streamed replies (usage, timings,
finish reasons, reasoning, provenance) are in :mod:`~llama_router.backends.openai_wire`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from llama_router.backends.base import BackendResult, StreamItem, drain, error_for_status
from llama_router.backends.openai_wire import (
    arguments_text,
    body_provenance,
    finish_of,
    parse_timings,
    parse_usage,
    reasoning_of,
)
from llama_router.exceptions import MalformedResponseError, StreamInterruptedError
from llama_router.messages import ToolCall
from llama_router.provenance import Provenance
from llama_router.ratelimits import RateLimitInfo
from llama_router.responses import ReasoningDelta, TextDelta, ToolCallDelta, Usage

__all__ = ["OpenAIStreamParser"]


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
            finish_reason=finish_of(st.finish_raw, bool(tool_calls)),
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
        args_text = "" if args is None else arguments_text(args)
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
