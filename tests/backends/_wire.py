"""Small helpers shared by the backend wire tests (respx in, router objects out)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

import httpx
import pytest
import respx

from llama_router import (
    AllDeploymentsFailedError,
    ProviderError,
    Router,
    StreamDone,
    StreamEvent,
)
from tests.conftest import USER_HI, drain

MODEL = "llama-3.1-8b"
MODES = ("chat", "stream")
Mode = Literal["chat", "stream"]

NS = 1e-9  # Ollama durations
MS = 1e-3  # llama.cpp timings


def sent_json(route: respx.Route, index: int = -1) -> dict[str, Any]:
    """The JSON body of a request the route recorded (the last one by default)."""
    body: dict[str, Any] = json.loads(route.calls[index].request.content)
    return body


async def stream_all(router: Router, messages: Sequence[Any] = USER_HI, **settings: Any) -> Any:
    """Stream one call to the end; return ``(events, stream.response)``."""
    events: list[StreamEvent] = []
    stream = router.stream(MODEL, messages, **settings)
    await drain(stream, events)
    assert isinstance(events[-1], StreamDone)
    assert events[-1].response is stream.response
    return events, stream.response


async def call(router: Router, mode: Mode, **settings: Any) -> Any:
    """One chat call, or one stream drained to its end; returns the ChatResponse."""
    if mode == "chat":
        return await router.chat(MODEL, USER_HI, **settings)
    _, response = await stream_all(router, **settings)
    return response


async def provider_failure(router: Router, mode: Mode, **settings: Any) -> ProviderError:
    """The provider error of a failed call on a one-deployment router.

    Invalid requests reach the caller as they are; every other provider error arrives
    inside ``AllDeploymentsFailedError.errors`` (one entry per attempt)."""
    try:
        await call(router, mode, **settings)
    except AllDeploymentsFailedError as exc:
        (error,) = exc.errors
        assert isinstance(error, ProviderError), error
        return error
    except ProviderError as exc:
        return exc
    pytest.fail(f"the {mode} call succeeded; an error was expected")


def chat_as_sse(data: dict[str, Any], *, usage: bool = True) -> str:
    """The SSE stream a chat-completions server sends for the non-streamed reply ``data``
    (a ``chat.completion`` object): a role chunk, the content, each tool call, a finish chunk
    carrying ``timings`` (llama.cpp's), then, with ``usage``, a usage-only chunk
    (``stream_options.include_usage``), and ``[DONE]``."""
    head = {k: data[k] for k in ("created", "id", "model", "system_fingerprint") if k in data}
    head["object"] = "chat.completion.chunk"
    (choice,) = data["choices"]
    message = choice["message"]

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        body = {"choices": [{"finish_reason": finish, "index": 0, "delta": delta}], **head}
        return f"data: {json.dumps(body | extra)}\n\n"

    lines = [chunk({"role": "assistant", "content": None})]
    if message.get("content"):
        lines.append(chunk({"content": message["content"]}))
    for index, tool_call in enumerate(message.get("tool_calls") or []):
        lines.append(chunk({"tool_calls": [{"index": index, **tool_call}]}))
    timings = {"timings": data["timings"]} if "timings" in data else {}
    lines.append(chunk({}, choice["finish_reason"], **timings))
    if usage and "usage" in data:
        lines.append(f"data: {json.dumps({'choices': [], **head, 'usage': data['usage']})}\n\n")
    lines.append("data: [DONE]\n\n")
    return "".join(lines)


def sse_response(text: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        200, text=text, headers={"content-type": "text/event-stream", **(headers or {})}
    )


def answer_chat(data: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    """A respx side effect answering like a chat-completions server: ``data`` as JSON to a
    non-streamed request, as its SSE chunks (:func:`chat_as_sse`) to a streamed one."""

    def answer(request: httpx.Request) -> httpx.Response:
        sent = json.loads(request.content)
        if sent.get("stream"):
            usage = bool(sent.get("stream_options", {}).get("include_usage"))
            return sse_response(chat_as_sse(data, usage=usage), headers)
        return httpx.Response(200, json=data, headers=headers)

    return answer
