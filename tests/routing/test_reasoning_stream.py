"""Reasoning deltas through the request path: passed to the caller, counted as the first
token (they are output), never part of the answer's text or a continuation's prefix."""

from __future__ import annotations

import random
from typing import Any

import pytest

from llama_router import ReasoningDelta, Router, StreamDone, TextDelta
from tests.scripted import MODEL, ScriptedBackend, Step, unavailable

pytestmark = pytest.mark.looptime

HI = [{"role": "user", "content": "Say hi."}]


def router(*backends: ScriptedBackend, **kw: Any) -> Router:
    kw.setdefault("rng", random.Random(1))
    return Router(list(backends), **kw)


async def events_of(r: Router) -> tuple[list[Any], Any]:
    events: list[Any] = []
    async with r.stream(MODEL, HI) as stream:
        async for event in stream:
            events.append(event)
    return events, stream.response


async def test_reasoning_reaches_the_caller_and_is_the_first_token() -> None:
    step = Step(ttft=0.5, reasoning=("Think", "ing."), tokens=("Hi", "!"), token_delay=0.25)
    a = ScriptedBackend("a", step)

    events, response = await events_of(router(a))

    assert [type(e) for e in events] == [
        ReasoningDelta,
        ReasoningDelta,
        TextDelta,
        TextDelta,
        StreamDone,
    ]
    # the first reasoning delta (at 0.5 s), not the first text delta (at 1.0 s)
    assert response.time_to_first_token_s == pytest.approx(0.5)
    assert response.text == "Hi!"
    assert response.reasoning == "Thinking."


async def test_reasoning_is_not_continuation_text() -> None:
    a = ScriptedBackend(
        "a",
        Step(
            reasoning=("Plan.",), tokens=("The", " quick", " fox"), error=unavailable, fail_after=2
        ),
    )
    b = ScriptedBackend("b", Step(tokens=(" fox", ".")))

    events, response = await events_of(router(a, b, continuation=True))

    assert response.text == "The quick fox."
    (resume,) = response.continuations
    assert resume.offset == len("The quick")
    assert b.records[0].request.messages[-1].content == "The quick"
    assert [e.text for e in events if isinstance(e, ReasoningDelta)] == ["Plan."]
