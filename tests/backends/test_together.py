"""The Together backend on a mocked wire.

``together.AsyncTogether`` (the httpx-based 3.x SDK) builds and authenticates each request
(its own retries are off) and our code parses the body, the SSE stream, the error bodies and
the ``x-ratelimit-*`` / ``x-tokenlimit-*`` headers. Payloads follow docs/providers.md sections 1
and 3: the realistic ones live in ``tests/fixtures/together`` and small variants are built with
the chunk helpers below.

What every backend does alike (chat, stream, request body, status mapping, broken and
malformed streams, failover) is in ``test_contract.py``; this file keeps what is
Together's own.
"""

from __future__ import annotations

import json
from contextlib import aclosing
from typing import Any

import httpx
import pytest
import respx

from llama_router import (
    AllDeploymentsFailedError,
    BackendResult,
    ChatRequest,
    ChatResponse,
    ContextLengthExceededError,
    Deployment,
    GenerationSettings,
    MalformedResponseError,
    Message,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitedError,
    Router,
    StreamDone,
    StreamEvent,
    TextDelta,
    Tool,
    ToolCall,
    ToolCallDelta,
)
from tests.conftest import FAKE_KEYS, USER_HI, RouterFactory, fixture_text

TOGETHER_CHAT = "https://api-inference.together.ai/v1/chat/completions"  # SDK 3.x default
TOGETHER_MODELS = "https://api.together.ai/v1/models"
GROQ_CHAT = "https://api.groq.com/openai/v1/chat/completions"  # the fallback

MODEL = "llama-3.1-8b"
TOGETHER_MODEL_ID = "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo"
DEPLOYMENT = f"together/{TOGETHER_MODEL_ID}"
# Catalog price of Meta-Llama-3.1-8B-Instruct-Turbo in USD per million tokens (section 7.2).
INPUT_PER_MTOK, OUTPUT_PER_MTOK = 0.18, 0.18

RATE_LIMIT_HEADERS = {
    "x-ratelimit-limit": "10",
    "x-ratelimit-limit-dynamic": "10",
    "x-ratelimit-remaining": "9",
    "x-ratelimit-reset": "0.1",
    "x-tokenlimit-limit": "200000",
    "x-tokenlimit-remaining": "199952",
    "x-request-id": "8f2c1a9b7d4e6a3c-SJC",
}

WEATHER_TOOL = Tool(
    name="get_weather",
    description="Current weather for a city.",
    parameters={
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city"],
    },
)


# -- helpers ------------------------------------------------------------------------------


def together_deployment(**kw: Any) -> Deployment:
    return Deployment(provider="together", model=MODEL, **kw)


def groq_fallback() -> Deployment:
    return Deployment(provider="groq", model=MODEL)


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(fixture_text(f"together/{name}"))
    return data


def json_reply(
    body: object, status: int = 200, headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def ok_reply() -> httpx.Response:
    """The plain text reply of ``chat_completion.json``."""
    return json_reply(load("chat_completion.json"))


def sse_reply(text: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        200, text=text, headers={"content-type": "text/event-stream", **(headers or {})}
    )


def error_reply(status: int, fixture: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return json_reply(load(f"errors/{fixture}"), status, headers)


def chunk(
    content: str | None = None,
    *,
    finish: str | None = None,
    usage: dict[str, int] | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
) -> str:
    """One Together ``chat.completion.chunk`` as JSON text (``usage`` is null until the end)."""
    body = {
        "id": "8f2c20a1c3e5f7b9-SJC",
        "object": "chat.completion.chunk",
        "created": 1730000700,
        "model": TOGETHER_MODEL_ID,
        "choices": [
            {
                "index": 0,
                "text": content or "",
                "logprobs": None,
                "finish_reason": finish,
                "seed": None,
                "delta": {
                    "token_id": 0,
                    "role": "assistant",
                    "content": content,
                    "tool_calls": tool_calls,
                },
            }
        ],
        "usage": usage,
    }
    return json.dumps(body)


def groq_text_reply(text: str) -> httpx.Response:
    body: dict[str, Any] = json.loads(fixture_text("groq/chat_completion.json"))
    body["choices"][0]["message"]["content"] = text
    return json_reply(body)


def sse_chunks(transcript: str) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in transcript.splitlines() if line.startswith("data: {")]


def sent_json(route: respx.Route, call: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(route.calls[call].request.content)
    return body


def expected_cost(prompt_tokens: int, completion_tokens: int) -> float:
    return (prompt_tokens * INPUT_PER_MTOK + completion_tokens * OUTPUT_PER_MTOK) / 1_000_000


def user_request(**settings: Any) -> ChatRequest:
    return ChatRequest(
        model=MODEL, messages=(Message.user("Say hi."),), settings=GenerationSettings(**settings)
    )


async def run_stream(router: Router, **settings: Any) -> tuple[list[StreamEvent], ChatResponse]:
    async with router.stream(MODEL, USER_HI, **settings) as stream:
        events = [event async for event in stream]
    return events, stream.response


def assert_together_error(err: BaseException, cls: type[ProviderError], status: int | None) -> None:
    assert type(err) is cls
    assert isinstance(err, ProviderError)
    assert err.status_code == status
    assert err.provider == "together"
    assert err.deployment == DEPLOYMENT


# -- non-streaming chat -------------------------------------------------------------------


async def test_chat_reports_the_model_together_actually_served(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    body = load("chat_completion.json")
    body["model"] = "meta-llama/Llama-3.3-70B-Instruct-Turbo"  # an "upgrade" redirect
    mock_http.post(TOGETHER_CHAT).mock(return_value=json_reply(body))
    router = make_router([together_deployment()])

    reply = await router.chat(MODEL, USER_HI)

    assert reply.provider_model == "meta-llama/Llama-3.3-70B-Instruct-Turbo"
    assert reply.model == MODEL


async def test_chat_cost_is_priced_from_the_catalog(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    body = load("chat_completion.json")
    mock_http.post(TOGETHER_CHAT).mock(return_value=json_reply(body))
    router = make_router([together_deployment()])

    reply = await router.chat(MODEL, USER_HI)

    usage = body["usage"]
    expected = expected_cost(usage["prompt_tokens"], usage["completion_tokens"])
    assert reply.cost_usd == pytest.approx(expected, rel=1e-9)
    assert reply.cost_usd > 0


async def test_chat_has_no_provider_timings(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(TOGETHER_CHAT).mock(return_value=ok_reply())
    router = make_router([together_deployment()])

    timings = (await router.chat(MODEL, USER_HI)).provider_timings

    assert all(value is None for value in timings.model_dump().values()), timings


async def test_chat_length_finish_reason(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    body = load("chat_completion.json")
    body["choices"][0]["finish_reason"] = "length"
    mock_http.post(TOGETHER_CHAT).mock(return_value=json_reply(body))
    router = make_router([together_deployment()])

    reply = await router.chat(MODEL, USER_HI, max_tokens=10)

    assert reply.finish_reason == "length"


async def test_backend_result_carries_the_rate_limit_headers(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(TOGETHER_CHAT).mock(
        return_value=json_reply(load("chat_completion.json"), headers=RATE_LIMIT_HEADERS)
    )
    backend = make_router([together_deployment()]).deployments[0]

    result = await backend.chat(user_request(max_tokens=64))

    assert isinstance(result, BackendResult)
    limits = result.rate_limits
    assert limits is not None
    assert limits.limit_requests == 10
    assert limits.remaining_requests == 9
    assert limits.reset_requests == pytest.approx(0.1)
    assert limits.limit_tokens == 200000
    assert limits.remaining_tokens == 199952
    assert limits.reset_tokens is None
    assert limits.retry_after is None


async def test_backend_result_without_rate_limit_headers_has_none(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(TOGETHER_CHAT).mock(return_value=ok_reply())
    backend = make_router([together_deployment()]).deployments[0]

    result = await backend.chat(user_request())

    assert result.rate_limits is None


# -- streaming ----------------------------------------------------------------------------


async def test_stream_yields_deltas_then_done_with_usage_from_the_last_chunk(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    transcript = fixture_text("together/chat_stream.sse")
    mock_http.post(TOGETHER_CHAT).mock(return_value=sse_reply(transcript))
    router = make_router([together_deployment()])

    events, reply = await run_stream(router, max_tokens=64)

    chunks = sse_chunks(transcript)
    pieces = [c["choices"][0]["delta"]["content"] for c in chunks]
    expected_texts = [p for p in pieces if p]
    last_usage = chunks[-1]["usage"]
    assert all(c["usage"] is None for c in chunks[:-1])  # usage only on the last chunk
    assert chunks[-1]["choices"][0]["finish_reason"] == "eos"

    assert [e.text for e in events if isinstance(e, TextDelta)] == expected_texts
    assert isinstance(events[-1], StreamDone)
    assert events[-1].response == reply
    assert reply.text == "".join(expected_texts)
    assert reply.finish_reason == "stop"
    assert reply.usage.prompt_tokens == last_usage["prompt_tokens"]
    assert reply.usage.completion_tokens == last_usage["completion_tokens"]
    assert reply.cost_usd == pytest.approx(
        expected_cost(last_usage["prompt_tokens"], last_usage["completion_tokens"])
    )
    assert reply.provider_model == TOGETHER_MODEL_ID
    assert reply.time_to_first_token_s is not None


async def test_stream_backend_result_carries_rate_limits(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(TOGETHER_CHAT).mock(
        return_value=sse_reply(fixture_text("together/chat_stream.sse"), headers=RATE_LIMIT_HEADERS)
    )
    backend = make_router([together_deployment()]).deployments[0]

    async with aclosing(backend.stream(user_request(max_tokens=64))) as items:
        results = [item async for item in items if isinstance(item, BackendResult)]

    assert len(results) == 1
    limits = results[0].rate_limits
    assert limits is not None
    assert limits.remaining_requests == 9
    assert limits.remaining_tokens == 199952


# -- HTTP errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"error": "Service unavailable: no capacity for this model right now"},
        {"message": "Service unavailable: no capacity for this model right now"},
    ],
    ids=["error-string", "message-only"],
)
async def test_gateway_error_body_shapes_keep_the_message(
    mock_http: respx.MockRouter, make_router: RouterFactory, body: dict[str, str]
) -> None:
    mock_http.post(TOGETHER_CHAT).mock(return_value=json_reply(body, 503))
    router = make_router([together_deployment()])

    with pytest.raises(AllDeploymentsFailedError) as info:
        await router.chat(MODEL, USER_HI)

    (err,) = info.value.errors
    assert_together_error(err, ProviderUnavailableError, 503)
    assert err.message == "Service unavailable: no capacity for this model right now"


async def test_cloudflare_524_is_a_timeout(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    route = mock_http.post(TOGETHER_CHAT).mock(
        return_value=httpx.Response(524, text="error code: 524")
    )
    router = make_router([together_deployment()])

    with pytest.raises(AllDeploymentsFailedError) as info:
        await router.chat(MODEL, USER_HI)

    (err,) = info.value.errors
    assert_together_error(err, ProviderTimeoutError, 524)
    assert err.message == "error code: 524"
    assert isinstance(err.__cause__, httpx.HTTPStatusError)
    assert route.call_count == 1


async def test_403_context_error_fails_over_only_to_a_larger_window(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(TOGETHER_CHAT).mock(return_value=error_reply(403, "403_context_window.json"))
    fallback = mock_http.post(GROQ_CHAT).mock(return_value=groq_text_reply("From Groq."))

    same_window = make_router([together_deployment(), groq_fallback()])
    with pytest.raises(ContextLengthExceededError):  # nowhere larger: raised as is
        await same_window.chat(MODEL, USER_HI)
    assert not fallback.called

    larger = Deployment(provider="groq", model=MODEL, context_window=262_144)
    reply = await make_router([together_deployment(), larger]).chat(MODEL, USER_HI)
    assert reply.text == "From Groq."
    assert [(a.error, a.status_code) for a in reply.route] == [
        ("ContextLengthExceededError", 403),
        (None, None),
    ]


async def test_429_retry_after_is_exposed_and_not_retried(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    headers = {**RATE_LIMIT_HEADERS, "x-ratelimit-remaining": "0", "retry-after": "2"}
    route = mock_http.post(TOGETHER_CHAT).mock(
        return_value=error_reply(429, "429_rate_limited.json", headers)
    )
    router = make_router([together_deployment()])

    with pytest.raises(AllDeploymentsFailedError) as info:
        await router.chat(MODEL, USER_HI)

    err = info.value.errors[0]
    assert isinstance(err, RateLimitedError)
    assert err.retry_after == 2.0
    assert err.rate_limits is not None
    assert err.rate_limits.remaining_requests == 0
    assert route.call_count == 1


async def test_429_with_only_rate_limit_headers(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    headers = {
        "x-ratelimit-limit": "10",
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset": "2",
        "x-tokenlimit-limit": "200000",
        "x-tokenlimit-remaining": "0",
    }
    route = mock_http.post(TOGETHER_CHAT).mock(
        return_value=error_reply(429, "429_rate_limited.json", headers)
    )
    router = make_router([together_deployment()])

    with pytest.raises(AllDeploymentsFailedError) as info:
        await router.chat(MODEL, USER_HI)

    err = info.value.errors[0]
    assert isinstance(err, RateLimitedError)
    assert err.retry_after is None
    assert err.rate_limits is not None
    assert err.rate_limits.remaining_requests == 0
    assert err.rate_limits.reset_requests == 2.0
    assert err.rate_limits.limit_tokens == 200000
    assert err.rate_limits.remaining_tokens == 0
    assert route.call_count == 1


async def test_429_with_go_duration_token_reset(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    # Gateways in front of Together re-emit OpenAI-style headers; they are read too.
    headers = {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "7.66s"}
    mock_http.post(TOGETHER_CHAT).mock(
        return_value=error_reply(429, "429_rate_limited.json", headers)
    )
    router = make_router([together_deployment()])

    with pytest.raises(AllDeploymentsFailedError) as info:
        await router.chat(MODEL, USER_HI)

    err = info.value.errors[0]
    assert isinstance(err, RateLimitedError)
    assert err.rate_limits is not None
    assert err.rate_limits.reset_tokens == pytest.approx(7.66)
    assert err.retry_after is None


async def test_sdk_retry_hints_do_not_cause_a_second_request(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    hints = {"x-should-retry": "true", "retry-after": "0"}
    route = mock_http.post(TOGETHER_CHAT).mock(
        return_value=error_reply(503, "503_unavailable.json", hints)
    )
    router = make_router([together_deployment()])

    with pytest.raises(AllDeploymentsFailedError) as info:
        await router.chat(MODEL, USER_HI)

    assert isinstance(info.value.errors[0], ProviderUnavailableError)
    assert route.call_count == 1


# -- malformed replies --------------------------------------------------------------------


async def test_body_without_choices_is_malformed(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    body = load("chat_completion.json")
    del body["choices"]
    mock_http.post(TOGETHER_CHAT).mock(return_value=json_reply(body))
    router = make_router([together_deployment()])

    with pytest.raises(AllDeploymentsFailedError) as info:
        await router.chat(MODEL, USER_HI)

    (err,) = info.value.errors
    assert_together_error(err, MalformedResponseError, None)
    assert isinstance(err.__cause__, KeyError)


# -- the request on the wire --------------------------------------------------------------


async def test_json_mode_response_format(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    route = mock_http.post(TOGETHER_CHAT).mock(return_value=ok_reply())
    router = make_router([together_deployment()])

    await router.chat(MODEL, USER_HI, response_format={"type": "json_object"})

    assert sent_json(route)["response_format"] == {"type": "json_object"}


async def test_json_schema_response_format(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}, "confidence": {"type": "number"}},
        "required": ["answer"],
    }
    route = mock_http.post(TOGETHER_CHAT).mock(return_value=ok_reply())
    router = make_router([together_deployment()])

    await router.chat(
        MODEL,
        USER_HI,
        response_format={"type": "json_schema", "json_schema": schema, "name": "answer"},
    )

    assert sent_json(route)["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": schema, "strict": True},
    }


@pytest.mark.parametrize(
    ("tool_choice", "wire_choice"),
    [
        ("auto", "auto"),
        ("required", "required"),
        ("none", "none"),
        ("get_weather", {"type": "function", "function": {"name": "get_weather"}}),
    ],
)
async def test_tools_and_tool_choice_shapes(
    mock_http: respx.MockRouter,
    make_router: RouterFactory,
    tool_choice: str,
    wire_choice: object,
) -> None:
    route = mock_http.post(TOGETHER_CHAT).mock(return_value=json_reply(load("tool_call.json")))
    router = make_router([together_deployment()])

    await router.chat(MODEL, USER_HI, tools=[WEATHER_TOOL], tool_choice=tool_choice)

    body = sent_json(route)
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": WEATHER_TOOL.name,
                "description": WEATHER_TOOL.description,
                "parameters": WEATHER_TOOL.parameters,
            },
        }
    ]
    assert body["tool_choice"] == wire_choice


async def test_tool_call_history_is_sent_in_openai_shape(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    route = mock_http.post(TOGETHER_CHAT).mock(return_value=ok_reply())
    router = make_router([together_deployment()])
    call = ToolCall(id="call_x7q2m9v4k1c8n3b6p0t5w2ye", name="get_weather", arguments="{}")

    await router.chat(
        MODEL,
        [
            Message.user("Weather here?"),
            Message.assistant("Let me check.", tool_calls=(call,)),
            Message.tool('{"temp_c": 18}', tool_call_id=call.id),
        ],
        tools=[WEATHER_TOOL],
    )

    messages = sent_json(route)["messages"]
    assert messages[1] == {
        "role": "assistant",
        "content": "Let me check.",
        "tool_calls": [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": "get_weather", "arguments": "{}"},
            }
        ],
    }
    assert messages[2] == {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 18}'}


async def test_tool_call_reply(mock_http: respx.MockRouter, make_router: RouterFactory) -> None:
    body = load("tool_call.json")
    mock_http.post(TOGETHER_CHAT).mock(return_value=json_reply(body))
    router = make_router([together_deployment()])

    reply = await router.chat(MODEL, USER_HI, tools=[WEATHER_TOOL])

    wire_call = body["choices"][0]["message"]["tool_calls"][0]
    assert reply.finish_reason == "tool_calls"
    assert reply.text == ""
    assert reply.tool_calls == (
        ToolCall(
            id=wire_call["id"],
            name=wire_call["function"]["name"],
            arguments=wire_call["function"]["arguments"],
        ),
    )
    assert reply.usage.prompt_tokens == body["usage"]["prompt_tokens"]


async def test_streamed_tool_call_pieces_are_assembled(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    transcript = fixture_text("together/tool_call_stream.sse")
    mock_http.post(TOGETHER_CHAT).mock(return_value=sse_reply(transcript))
    router = make_router([together_deployment()])

    events, reply = await run_stream(router, tools=[WEATHER_TOOL])

    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    call_id = "call_f3n8w1q6z2h9d4k7r0v5m1tb"
    assert [(d.index, d.id, d.name) for d in deltas] == [
        (0, call_id, "get_weather"),
        (0, None, None),
        (0, None, None),
    ]
    assert "".join(d.arguments for d in deltas) == '{"city":"Paris","unit":"celsius"}'
    assert reply.finish_reason == "tool_calls"
    assert reply.tool_calls == (
        ToolCall(id=call_id, name="get_weather", arguments='{"city":"Paris","unit":"celsius"}'),
    )
    assert reply.text == ""
    last_usage = sse_chunks(transcript)[-1]["usage"]
    assert reply.usage.completion_tokens == last_usage["completion_tokens"]


async def test_authorization_header_and_a_single_request(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    route = mock_http.post(TOGETHER_CHAT).mock(return_value=ok_reply())
    router = make_router([together_deployment()])

    await router.chat(MODEL, USER_HI)

    assert route.call_count == 1
    headers = route.calls[0].request.headers
    assert headers["authorization"] == f"Bearer {FAKE_KEYS['TOGETHER_API_KEY']}"
    assert headers["content-type"] == "application/json"
    # The SDK's identity headers are sent; the SDK's retry loop is never entered.
    assert headers["x-stainless-lang"] == "python"
    assert headers["user-agent"].startswith("Async")


# -- base_url -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base_url", "expected_url"),
    [
        (None, TOGETHER_CHAT),
        ("https://api.together.xyz/v1", "https://api.together.xyz/v1/chat/completions"),
        ("https://api.together.xyz/v1/", "https://api.together.xyz/v1/chat/completions"),
        ("https://api.together.ai", "https://api.together.ai/v1/chat/completions"),
    ],
)
async def test_chat_url_for_base_url(
    mock_http: respx.MockRouter,
    make_router: RouterFactory,
    base_url: str | None,
    expected_url: str,
) -> None:
    route = mock_http.post(expected_url).mock(return_value=ok_reply())
    router = make_router([together_deployment(base_url=base_url)])

    reply = await router.chat(MODEL, USER_HI)

    assert route.call_count == 1
    assert str(route.calls[0].request.url) == expected_url
    assert reply.text == load("chat_completion.json")["choices"][0]["message"]["content"]


async def test_stream_url_for_base_url(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    url = "https://api.together.xyz/v1/chat/completions"
    route = mock_http.post(url).mock(
        return_value=sse_reply(fixture_text("together/chat_stream.sse"))
    )
    router = make_router([together_deployment(base_url="https://api.together.xyz/v1")])

    _, reply = await run_stream(router)

    assert route.call_count == 1
    assert reply.text == "Hello! How can I help?"


# -- health -------------------------------------------------------------------------------


async def test_health_ok_on_the_bare_array_models_list(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    route = mock_http.get(TOGETHER_MODELS).mock(return_value=json_reply(load("models.json")))
    router = make_router([together_deployment()])

    report = (await router.health())[DEPLOYMENT]

    assert report.ok is True
    assert route.call_count == 1
    auth = route.calls[0].request.headers["authorization"]
    assert auth == f"Bearer {FAKE_KEYS['TOGETHER_API_KEY']}"


async def test_health_401_is_not_ok_and_names_the_auth_error(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.get(TOGETHER_MODELS).mock(return_value=error_reply(401, "401_invalid_api_key.json"))
    router = make_router([together_deployment()])

    report = (await router.health())[DEPLOYMENT]

    assert report.ok is False
    assert "AuthenticationError" in report.detail
    assert FAKE_KEYS["TOGETHER_API_KEY"] not in report.detail
