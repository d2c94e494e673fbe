"""Small helpers shared by the backend wire tests (respx in, router objects out)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

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
