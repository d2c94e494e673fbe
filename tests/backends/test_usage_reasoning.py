"""Usage details and reasoning on the wire (respx), shaped from recorded replies (see
``tests/fixtures/SOURCES.md``): llama.cpp usage from ``timings`` when ``usage`` is absent,
cached and reasoning token counts, cached-token pricing, and reasoning text from Groq
(``reasoning``), llama.cpp (``reasoning_content``) and Ollama (``message.thinking``) in
replies and streams, through the router."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from llama_router import (
    Deployment,
    ReasoningDelta,
    StreamDone,
    TextDelta,
)
from tests.backends._wire import MODEL, MODES, Mode, answer_chat, call, stream_all
from tests.conftest import fixture_text

LLAMACPP_CHAT = "http://127.0.0.1:8080/v1/chat/completions"
GROQ_CHAT = "https://api.groq.com/openai/v1/chat/completions"
OLLAMA_CHAT = "http://127.0.0.1:11434/api/chat"

RouterFactory = Any


def _sse(name: str) -> httpx.Response:
    return httpx.Response(
        200, text=fixture_text(name), headers={"content-type": "text/event-stream"}
    )


def _json(name: str) -> httpx.Response:
    return httpx.Response(200, json=json.loads(fixture_text(name)))


# -- llama.cpp: usage from timings ----------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_llamacpp_usage_from_timings_when_usage_is_absent(
    mock_http: respx.MockRouter, make_router: RouterFactory, mode: Mode
) -> None:
    if mode == "stream":
        mock_http.post(LLAMACPP_CHAT).mock(
            return_value=_sse("llamacpp/stream_timings_no_usage.sse")
        )
    else:  # a llama.cpp chat is sent as a stream: the same reply, as its chunks
        reply = json.loads(fixture_text("llamacpp/chat_timings_no_usage.json"))
        mock_http.post(LLAMACPP_CHAT).mock(side_effect=answer_chat(reply))
    router = make_router([Deployment(provider="llamacpp", model=MODEL)])

    response = await call(router, mode)

    # prompt = prompt_n + cache_n (93 + 236), completion = predicted_n; not a chunk count.
    assert response.usage.prompt_tokens == 329
    assert response.usage.completion_tokens == 35
    assert response.usage.cached_prompt_tokens == 236
    assert response.usage.known is True
    assert response.route[-1].usage == response.usage


async def test_llamacpp_priced_cached_tokens_use_the_cached_price(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(LLAMACPP_CHAT).mock(return_value=_sse("llamacpp/stream_timings_no_usage.sse"))
    router = make_router(
        [
            Deployment(
                provider="llamacpp",
                model=MODEL,
                input_price_per_mtok=1.0,
                output_price_per_mtok=2.0,
            )
        ]
    )

    _, response = await stream_all(router)

    # No cached price on a deployment's own price: cached tokens billed at the input price.
    assert response.cost_usd == pytest.approx((329 * 1.0 + 35 * 2.0) / 1e6)


# -- Groq: cached / reasoning counts and reasoning text --------------------------------------


async def test_groq_reply_reasoning_and_cached_tokens(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(GROQ_CHAT).mock(return_value=_json("groq/chat_reasoning_cached.json"))
    router = make_router([Deployment(provider="groq", model=MODEL)])

    response = await router.chat(MODEL, [{"role": "user", "content": "CAP?"}])

    assert response.text.startswith("The CAP theorem")
    assert response.reasoning == "We need one sentence answer. Keep concise."
    assert "We need" not in response.text
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (3829, 48)
    assert response.usage.cached_prompt_tokens == 3584
    assert response.budget_spent_on_reasoning is False


async def test_groq_stream_reasoning_deltas_and_x_groq_usage_details(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(GROQ_CHAT).mock(return_value=_sse("groq/chat_stream_reasoning.sse"))
    router = make_router([Deployment(provider="groq", model=MODEL)])

    events, response = await stream_all(router)

    kinds = [type(e).__name__ for e in events]
    assert kinds == ["ReasoningDelta", "ReasoningDelta", "TextDelta", "StreamDone"]
    assert [e.text for e in events if isinstance(e, ReasoningDelta)] == [
        "We need one sentence answer.",
        " Keep concise.",
    ]
    assert response.text == "Consistency, Availability, Partition tolerance: pick two."
    assert response.reasoning == "We need one sentence answer. Keep concise."
    assert response.usage.cached_prompt_tokens == 3584
    assert response.usage.reasoning_tokens == 9


async def test_groq_empty_reply_whose_budget_went_to_reasoning_says_so(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(GROQ_CHAT).mock(return_value=_json("groq/chat_reasoning_length.json"))
    router = make_router([Deployment(provider="groq", model=MODEL)])

    response = await router.chat(MODEL, [{"role": "user", "content": "CAP?"}], max_tokens=16)

    assert response.text == ""
    assert response.finish_reason == "length"
    assert response.reasoning
    assert response.usage.reasoning_tokens == 16
    assert response.budget_spent_on_reasoning is True


# -- llama.cpp: reasoning_content ------------------------------------------------------------


async def test_llamacpp_stream_reasoning_content(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(LLAMACPP_CHAT).mock(return_value=_sse("llamacpp/stream_reasoning.sse"))
    router = make_router([Deployment(provider="llamacpp", model=MODEL)])

    events, response = await stream_all(router)

    assert [e.text for e in events if isinstance(e, ReasoningDelta)] == ["Play", "ful"]
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hi"]
    assert response.text == "Hi"
    assert response.reasoning == "Playful"
    # the last chunk's timings: 10 + 7 cached prompt tokens, 3 predicted
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (17, 3)
    assert response.usage.cached_prompt_tokens == 7


# -- Ollama: message.thinking ----------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_ollama_thinking(
    mock_http: respx.MockRouter, make_router: RouterFactory, mode: Mode
) -> None:
    if mode == "stream":
        reply = httpx.Response(
            200,
            text=fixture_text("ollama/stream_thinking.ndjson"),
            headers={"content-type": "application/x-ndjson"},
        )
    else:
        reply = _json("ollama/chat_thinking.json")
    mock_http.post(OLLAMA_CHAT).mock(return_value=reply)
    router = make_router([Deployment(provider="ollama", model=MODEL)])

    if mode == "stream":
        events, response = await stream_all(router)
        assert [e.text for e in events if isinstance(e, ReasoningDelta)] == [
            "The user",
            " says hi.",
        ]
        assert isinstance(events[-1], StreamDone)
    else:
        response = await call(router, mode)
    assert response.text == "Hi!"
    assert response.reasoning == "The user says hi."


async def test_no_reasoning_leaves_reasoning_none(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(LLAMACPP_CHAT).mock(return_value=_sse("llamacpp/stream_timings_no_usage.sse"))
    router = make_router([Deployment(provider="llamacpp", model=MODEL)])

    events, response = await stream_all(router)

    assert not any(isinstance(e, ReasoningDelta) for e in events)
    assert response.reasoning is None
    assert response.budget_spent_on_reasoning is False
