"""The Groq backend on a mocked wire.

``groq.AsyncGroq`` builds and authenticates each request (its own retries are off) and our
code parses the body, the SSE stream, the error bodies and the rate-limit headers. Payloads
follow docs/providers.md sections 1 and 2: the realistic ones live in ``tests/fixtures/groq``
and small variants are built with the chunk helpers below.

What every backend does alike (chat, stream, request body, status mapping, broken and
malformed streams, failover) is in ``test_contract.py``; this file keeps what is Groq's own.
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
    ProviderUnreachableError,
    RateLimitedError,
    Router,
    StreamDone,
    StreamEvent,
    StreamInterruptedError,
    TextDelta,
    Tool,
    ToolCall,
    ToolCallDelta,
)
from tests.conftest import FAKE_KEYS, USER_HI, RouterFactory, drain, fixture_text, sse, text_of

GROQ_CHAT = "https://api.groq.com/openai/v1/chat/completions"
GROQ_MODELS = "https://api.groq.com/openai/v1/models"
TOGETHER_CHAT = "https://api-inference.together.ai/v1/chat/completions"  # the fallback

MODEL = "llama-3.1-8b"
GROQ_MODEL_ID = "llama-3.1-8b-instant"
DEPLOYMENT = f"groq/{GROQ_MODEL_ID}"
FALLBACK = "together/meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo"

# Catalog price of llama-3.1-8b-instant in USD per million tokens (docs section 7.1).
INPUT_PER_MTOK, OUTPUT_PER_MTOK = 0.05, 0.08

RATE_LIMIT_HEADERS = {
    "x-ratelimit-limit-requests": "14400",
    "x-ratelimit-remaining-requests": "14370",
    "x-ratelimit-reset-requests": "2m59.56s",
    "x-ratelimit-limit-tokens": "18000",
    "x-ratelimit-remaining-tokens": "17997",
    "x-ratelimit-reset-tokens": "7.66s",
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


def groq_deployment(**kw: Any) -> Deployment:
    return Deployment(provider="groq", model=MODEL, **kw)


def together_fallback() -> Deployment:
    return Deployment(provider="together", model=MODEL)


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(fixture_text(f"groq/{name}"))
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


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> str:
    """One Groq ``chat.completion.chunk`` as JSON text."""
    body = {
        "id": "chatcmpl-3a5c7e9b-1d2f-4e6a-8c0b-2d4f6a8c0e13",
        "object": "chat.completion.chunk",
        "created": 1730000700,
        "model": GROQ_MODEL_ID,
        "system_fingerprint": "fp_9ceb5c3fd0",
        "choices": [{"index": 0, "delta": delta or {}, "logprobs": None, "finish_reason": finish}],
        **extra,
    }
    return json.dumps(body)


def first_chunk() -> str:
    return chunk(
        {"role": "assistant", "content": ""}, x_groq={"id": "req_01jbd6y5b7d9f1h3k5m7p9r1t3"}
    )


def text_chunk(text: str) -> str:
    return chunk({"content": text})


def together_text_reply(text: str) -> httpx.Response:
    body: dict[str, Any] = json.loads(fixture_text("together/chat_completion.json"))
    body["choices"][0]["message"]["content"] = text
    return json_reply(body)


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


def assert_groq_error(err: BaseException, cls: type[ProviderError], status: int | None) -> None:
    assert type(err) is cls
    assert isinstance(err, ProviderError)
    assert err.status_code == status
    assert err.provider == "groq"
    assert err.deployment == DEPLOYMENT


# -- non-streaming chat -------------------------------------------------------------------


async def test_chat_cost_is_priced_from_the_catalog(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    body = load("chat_completion.json")
    mock_http.post(GROQ_CHAT).mock(return_value=json_reply(body))
    router = make_router([groq_deployment()])

    reply = await router.chat(MODEL, USER_HI)

    usage = body["usage"]
    expected = expected_cost(usage["prompt_tokens"], usage["completion_tokens"])
    assert reply.cost_usd == pytest.approx(expected, rel=1e-9)
    assert reply.cost_usd > 0


async def test_chat_timings_come_from_usage_in_seconds(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    body = load("chat_completion.json")
    mock_http.post(GROQ_CHAT).mock(return_value=json_reply(body))
    router = make_router([groq_deployment()])

    timings = (await router.chat(MODEL, USER_HI)).provider_timings

    usage = body["usage"]
    assert timings.queue_s == pytest.approx(usage["queue_time"])
    assert timings.prompt_s == pytest.approx(usage["prompt_time"])
    assert timings.generation_s == pytest.approx(usage["completion_time"])
    assert timings.total_s == pytest.approx(usage["total_time"])
    assert timings.output_tokens_per_second == pytest.approx(
        usage["completion_tokens"] / usage["completion_time"]
    )
    assert timings.load_s is None


async def test_chat_length_finish_reason(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    body = load("chat_length.json")
    mock_http.post(GROQ_CHAT).mock(return_value=json_reply(body))
    router = make_router([groq_deployment()])

    reply = await router.chat(MODEL, USER_HI, max_tokens=8)

    assert reply.finish_reason == "length"
    assert reply.text == body["choices"][0]["message"]["content"]


async def test_backend_result_carries_the_rate_limit_headers(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(GROQ_CHAT).mock(
        return_value=json_reply(load("chat_completion.json"), headers=RATE_LIMIT_HEADERS)
    )
    backend = make_router([groq_deployment()]).deployments[0]

    result = await backend.chat(user_request(max_tokens=64))

    assert isinstance(result, BackendResult)
    limits = result.rate_limits
    assert limits is not None
    assert limits.limit_requests == 14400
    assert limits.remaining_requests == 14370
    assert limits.reset_requests == pytest.approx(2 * 60 + 59.56)
    assert limits.limit_tokens == 18000
    assert limits.remaining_tokens == 17997
    assert limits.reset_tokens == pytest.approx(7.66)
    assert limits.retry_after is None


async def test_backend_result_without_rate_limit_headers_has_none(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(GROQ_CHAT).mock(return_value=ok_reply())
    backend = make_router([groq_deployment()]).deployments[0]

    result = await backend.chat(user_request())

    assert result.rate_limits is None


# -- streaming ----------------------------------------------------------------------------


async def test_stream_yields_deltas_then_done_with_usage_from_the_last_chunk(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    transcript = fixture_text("groq/chat_stream.sse")
    mock_http.post(GROQ_CHAT).mock(return_value=sse_reply(transcript))
    router = make_router([groq_deployment()])

    events, reply = await run_stream(router, max_tokens=64)

    chunks = [
        json.loads(line[6:]) for line in transcript.splitlines() if line.startswith("data: {")
    ]
    pieces = [c["choices"][0]["delta"].get("content") for c in chunks]
    expected_texts = [p for p in pieces if p]
    last_usage = chunks[-1]["x_groq"]["usage"]
    assert all(c.get("usage") is None for c in chunks)  # usage only in x_groq, last chunk

    assert [e.text for e in events if isinstance(e, TextDelta)] == expected_texts
    assert isinstance(events[-1], StreamDone)
    assert events[-1].response == reply
    assert reply.text == "".join(expected_texts)
    assert reply.finish_reason == "stop"
    assert reply.usage.prompt_tokens == last_usage["prompt_tokens"]
    assert reply.usage.completion_tokens == last_usage["completion_tokens"]
    assert reply.provider_timings.queue_s == pytest.approx(last_usage["queue_time"])
    assert reply.provider_timings.total_s == pytest.approx(last_usage["total_time"])
    assert reply.cost_usd == pytest.approx(
        expected_cost(last_usage["prompt_tokens"], last_usage["completion_tokens"])
    )
    assert reply.provider_model == GROQ_MODEL_ID
    assert reply.time_to_first_token_s is not None


async def test_stream_reads_include_usage_chunk_with_empty_choices(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    transcript = fixture_text("groq/chat_stream_include_usage.sse")
    mock_http.post(GROQ_CHAT).mock(return_value=sse_reply(transcript))
    router = make_router([groq_deployment()])

    _, reply = await run_stream(router)

    last = json.loads(
        next(line for line in reversed(transcript.splitlines()) if line.startswith("data: {"))[6:]
    )
    assert last["choices"] == []
    assert reply.text == "Hello!"
    assert reply.finish_reason == "stop"
    assert reply.usage.prompt_tokens == last["usage"]["prompt_tokens"]
    assert reply.usage.completion_tokens == last["usage"]["completion_tokens"]
    assert reply.provider_timings.generation_s == pytest.approx(last["usage"]["completion_time"])


async def test_stream_backend_result_carries_rate_limits(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(GROQ_CHAT).mock(
        return_value=sse_reply(fixture_text("groq/chat_stream.sse"), headers=RATE_LIMIT_HEADERS)
    )
    backend = make_router([groq_deployment()]).deployments[0]

    async with aclosing(backend.stream(user_request(max_tokens=64))) as items:
        results = [item async for item in items if isinstance(item, BackendResult)]

    assert len(results) == 1
    limits = results[0].rate_limits
    assert limits is not None
    assert limits.remaining_tokens == 17997
    assert limits.reset_tokens == pytest.approx(7.66)


# -- HTTP errors --------------------------------------------------------------------------


async def test_context_length_error_does_not_fail_over_to_an_equal_window(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(GROQ_CHAT).mock(return_value=error_reply(413, "413_request_too_large.json"))
    fallback = mock_http.post(TOGETHER_CHAT).mock(return_value=together_text_reply("unused"))
    router = make_router([groq_deployment(), together_fallback()])  # both 131,072 tokens

    with pytest.raises(ContextLengthExceededError) as info:  # nowhere larger: raised as is
        await router.chat(MODEL, USER_HI)

    assert info.value.status_code == 413
    assert not fallback.called


async def test_429_retry_after_is_exposed_and_not_retried(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    headers = {**RATE_LIMIT_HEADERS, "x-ratelimit-remaining-tokens": "0", "retry-after": "2"}
    route = mock_http.post(GROQ_CHAT).mock(
        return_value=error_reply(429, "429_rate_limited.json", headers)
    )
    router = make_router([groq_deployment()])

    with pytest.raises(AllDeploymentsFailedError) as info:
        await router.chat(MODEL, USER_HI)

    err = info.value.errors[0]
    assert isinstance(err, RateLimitedError)
    assert err.retry_after == 2.0
    assert err.rate_limits is not None
    assert err.rate_limits.remaining_tokens == 0
    assert err.rate_limits.retry_after == 2.0
    assert route.call_count == 1


async def test_429_with_only_rate_limit_headers(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    headers = {**RATE_LIMIT_HEADERS, "x-ratelimit-remaining-tokens": "0"}
    mock_http.post(GROQ_CHAT).mock(return_value=error_reply(429, "429_rate_limited.json", headers))
    router = make_router([groq_deployment()])

    with pytest.raises(AllDeploymentsFailedError) as info:
        await router.chat(MODEL, USER_HI)

    err = info.value.errors[0]
    assert isinstance(err, RateLimitedError)
    assert err.retry_after is None
    assert err.rate_limits is not None
    assert err.rate_limits.reset_tokens == pytest.approx(7.66)
    assert err.rate_limits.reset_requests == pytest.approx(2 * 60 + 59.56)
    assert err.rate_limits.remaining_tokens == 0


async def test_sdk_retry_hints_do_not_cause_a_second_request(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    hints = {"x-should-retry": "true", "retry-after-ms": "5"}
    route = mock_http.post(GROQ_CHAT).mock(
        return_value=error_reply(503, "503_unavailable.json", hints)
    )
    router = make_router([groq_deployment()])

    with pytest.raises(AllDeploymentsFailedError) as info:
        await router.chat(MODEL, USER_HI)

    err = info.value.errors[0]
    assert isinstance(err, ProviderUnavailableError)
    assert err.retry_after == pytest.approx(0.005)
    assert route.call_count == 1


# -- transport failures -------------------------------------------------------------------


async def test_every_deployment_failing_reports_each_error_and_attempt(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(GROQ_CHAT).mock(side_effect=httpx.ConnectError("[Errno 111] refused"))
    mock_http.post(TOGETHER_CHAT).mock(side_effect=httpx.ReadTimeout("timed out"))
    router = make_router([groq_deployment(), together_fallback()])

    with pytest.raises(AllDeploymentsFailedError) as info:
        await router.chat(MODEL, USER_HI)

    assert [type(e) for e in info.value.errors] == [
        ProviderUnreachableError,
        ProviderTimeoutError,
    ]
    assert [(a.deployment, a.provider, a.outcome, a.error) for a in info.value.route] == [
        (DEPLOYMENT, "groq", "error", "ProviderUnreachableError"),
        (FALLBACK, "together", "error", "ProviderTimeoutError"),
    ]


# -- stream failures ----------------------------------------------------------------------


async def test_x_groq_error_chunk_is_not_reported_as_a_complete_answer(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    """docs 2.4 (and the SDK's ``XGroq.error``): "``x_groq.error`` (string) explains a stream
    stopped early". Such a stream is interrupted, not a finished answer with reason "stop"."""
    stopped = chunk(
        {},
        None,
        x_groq={
            "id": "req_01jbd6y5b7d9f1h3k5m7p9r1t3",
            "error": "stream stopped early: the model instance was restarted",
        },
    )
    transcript = sse(first_chunk(), text_chunk("Llamas are"), stopped)  # ends with [DONE]
    mock_http.post(GROQ_CHAT).mock(return_value=sse_reply(transcript))
    router = make_router([groq_deployment()])

    events: list[StreamEvent] = []

    with pytest.raises(StreamInterruptedError) as info:
        await drain(router.stream(MODEL, USER_HI), events)

    assert text_of(events) == info.value.partial_text == "Llamas are"
    cause = info.value.__cause__
    assert type(cause) is ProviderUnavailableError
    assert cause.message == "stream stopped early: the model instance was restarted"


async def test_error_event_before_any_text_fails_over(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    error_event = json.dumps(load("errors/503_unavailable.json"))
    mock_http.post(GROQ_CHAT).mock(return_value=sse_reply(sse(first_chunk(), error_event)))
    mock_http.post(TOGETHER_CHAT).mock(
        return_value=sse_reply(fixture_text("together/chat_stream.sse"))
    )
    router = make_router([groq_deployment(), together_fallback()])

    _, reply = await run_stream(router)

    assert reply.deployment == FALLBACK
    assert [(a.deployment, a.error, a.status_code) for a in reply.route] == [
        (DEPLOYMENT, "ProviderUnavailableError", None),
        (FALLBACK, None, None),
    ]


# -- malformed replies --------------------------------------------------------------------


async def test_body_without_choices_is_malformed(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    body = load("chat_completion.json")
    del body["choices"]
    mock_http.post(GROQ_CHAT).mock(return_value=json_reply(body))
    router = make_router([groq_deployment()])

    with pytest.raises(AllDeploymentsFailedError) as info:
        await router.chat(MODEL, USER_HI)

    (err,) = info.value.errors
    assert_groq_error(err, MalformedResponseError, None)
    assert isinstance(err.__cause__, KeyError)


# -- the request on the wire --------------------------------------------------------------


async def test_json_mode_response_format(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    route = mock_http.post(GROQ_CHAT).mock(return_value=ok_reply())
    router = make_router([groq_deployment()])

    await router.chat(MODEL, USER_HI, response_format="json")

    assert sent_json(route)["response_format"] == {"type": "json_object"}


async def test_json_schema_response_format(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    schema = {
        "type": "object",
        "properties": {"greeting": {"type": "string"}},
        "required": ["greeting"],
        "additionalProperties": False,
    }
    route = mock_http.post(GROQ_CHAT).mock(return_value=ok_reply())
    router = make_router([groq_deployment()])

    await router.chat(
        MODEL,
        USER_HI,
        response_format={"type": "json_schema", "json_schema": schema, "name": "greeting"},
    )

    assert sent_json(route)["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "greeting", "schema": schema, "strict": True},
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
    route = mock_http.post(GROQ_CHAT).mock(return_value=json_reply(load("tool_call.json")))
    router = make_router([groq_deployment()])

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
    route = mock_http.post(GROQ_CHAT).mock(return_value=ok_reply())
    router = make_router([groq_deployment()])
    call = ToolCall(id="call_d5wg", name="get_weather", arguments='{"city":"Paris"}')

    await router.chat(
        MODEL,
        [
            Message.user("Weather in Paris?"),
            Message.assistant(tool_calls=(call,)),
            Message.tool('{"temp_c": 18}', tool_call_id="call_d5wg", name="get_weather"),
        ],
        tools=[WEATHER_TOOL],
    )

    assert sent_json(route)["messages"] == [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_d5wg",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_d5wg", "content": '{"temp_c": 18}'},
    ]


async def test_tool_call_reply(mock_http: respx.MockRouter, make_router: RouterFactory) -> None:
    body = load("tool_call.json")
    mock_http.post(GROQ_CHAT).mock(return_value=json_reply(body))
    router = make_router([groq_deployment()])

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
    assert json.loads(reply.tool_calls[0].arguments) == {"city": "Paris", "unit": "celsius"}


async def test_streamed_tool_call_is_assembled(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(GROQ_CHAT).mock(
        return_value=sse_reply(fixture_text("groq/tool_call_stream.sse"))
    )
    router = make_router([groq_deployment()])

    events, reply = await run_stream(router, tools=[WEATHER_TOOL])

    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert [(d.index, d.id, d.name) for d in deltas] == [(0, "call_k3rx", "get_weather")]
    assert reply.finish_reason == "tool_calls"
    assert reply.tool_calls == (
        ToolCall(id="call_k3rx", name="get_weather", arguments='{"city":"Paris","unit":"celsius"}'),
    )
    assert reply.usage.prompt_tokens == 231
    assert reply.usage.completion_tokens == 22


async def test_authorization_header_and_a_single_request(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    route = mock_http.post(GROQ_CHAT).mock(return_value=ok_reply())
    router = make_router([groq_deployment()])

    await router.chat(MODEL, USER_HI)

    assert route.call_count == 1
    headers = route.calls[0].request.headers
    assert headers["authorization"] == f"Bearer {FAKE_KEYS['GROQ_API_KEY']}"
    assert headers["content-type"] == "application/json"
    # The SDK's identity headers are sent; the SDK's retry loop is never entered.
    assert headers["x-stainless-lang"] == "python"
    assert headers["user-agent"].startswith("Async")


async def test_explicit_api_key_wins_over_the_environment(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    route = mock_http.post(GROQ_CHAT).mock(return_value=ok_reply())
    router = make_router([groq_deployment(api_key="gsk_TESTKEY_explicit_fedcba9876543210")])

    await router.chat(MODEL, USER_HI)

    auth = route.calls[0].request.headers["authorization"]
    assert auth == "Bearer gsk_TESTKEY_explicit_fedcba9876543210"


# -- base_url -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base_url", "expected_url"),
    [
        ("https://api.groq.com/openai/v1", GROQ_CHAT),
        ("https://api.groq.com/openai/v1/", GROQ_CHAT),
        ("https://api.groq.com", GROQ_CHAT),
        (
            "https://llm-gateway.example.com/groq/openai/v1",
            "https://llm-gateway.example.com/groq/openai/v1/chat/completions",
        ),
    ],
)
async def test_base_url_does_not_double_the_openai_prefix(
    mock_http: respx.MockRouter, make_router: RouterFactory, base_url: str, expected_url: str
) -> None:
    route = mock_http.post(expected_url).mock(return_value=ok_reply())
    router = make_router([groq_deployment(base_url=base_url)])

    reply = await router.chat(MODEL, USER_HI)

    assert route.call_count == 1
    assert str(route.calls[0].request.url) == expected_url
    assert reply.text == load("chat_completion.json")["choices"][0]["message"]["content"]


# -- health -------------------------------------------------------------------------------


async def test_health_ok_on_models_list(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    route = mock_http.get(GROQ_MODELS).mock(return_value=json_reply(load("models.json")))
    router = make_router([groq_deployment()])

    reports = await router.health()

    assert reports[DEPLOYMENT].ok is True
    assert route.call_count == 1
    auth = route.calls[0].request.headers["authorization"]
    assert auth == f"Bearer {FAKE_KEYS['GROQ_API_KEY']}"


async def test_health_401_is_not_ok_and_names_the_auth_error(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.get(GROQ_MODELS).mock(return_value=error_reply(401, "401_invalid_api_key.json"))
    router = make_router([groq_deployment()])

    report = (await router.health())[DEPLOYMENT]

    assert report.ok is False
    assert "AuthenticationError" in report.detail
    assert "Invalid API Key" in report.detail
    assert FAKE_KEYS["GROQ_API_KEY"] not in report.detail
