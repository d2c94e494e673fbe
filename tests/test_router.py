"""Router behaviour over real backends on a mocked wire: ordered failover, the no-failover
rules, request validation, stream failover before the first token, and lifecycle."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from llama_router import (
    AllDeploymentsFailedError,
    ConfigurationError,
    ContextLengthExceededError,
    Deployment,
    InvalidRequestError,
    Message,
    ProviderUnavailableError,
    ProviderUnreachableError,
    RequestValidationError,
    Router,
    StreamDone,
    StreamEvent,
    StreamInterruptedError,
    TextDelta,
    UnknownModelError,
)

from .backends._wire import chat_as_sse, sse_response
from .conftest import USER_HI, FakeClock, RouterFactory, drain, sse, text_of

A = "http://127.0.0.1:8081"
B = "http://127.0.0.1:8082"
C = "http://127.0.0.1:8083"


def cpp(base: str, name: str, **kw: Any) -> Deployment:
    return Deployment(provider="llamacpp", model="llama-3.1-8b", base_url=base, name=name, **kw)


def completion(text: str, prompt_tokens: int = 5, completion_tokens: int = 2) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1757141666,
        "model": "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf",
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def answered(text: str, prompt_tokens: int = 5, completion_tokens: int = 2) -> httpx.Response:
    """llama.cpp's reply to a chat: :func:`completion` as its SSE chunks (a non-streamed chat
    is sent to llama.cpp as a stream, so cancelling it stops the server generating)."""
    return sse_response(chat_as_sse(completion(text, prompt_tokens, completion_tokens)))


def chunk(content: str | None = None, finish: str | None = None) -> str:
    delta = {} if content is None else {"content": content}
    return json.dumps(
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
    )


def err(status: int, etype: str, message: str, **extra: Any) -> httpx.Response:
    return httpx.Response(
        status, json={"error": {"code": status, "message": message, "type": etype, **extra}}
    )


# -- chat failover ----------------------------------------------------------------------------


async def test_fails_over_in_order_and_records_the_route(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    first = mock_http.post(f"{A}/v1/chat/completions").mock(
        return_value=err(503, "unavailable_error", "Loading model")
    )
    second = mock_http.post(f"{B}/v1/chat/completions").mock(return_value=answered("from B"))
    router = make_router([cpp(A, "a"), cpp(B, "b")])

    reply = await router.chat("llama-3.1-8b", USER_HI)

    assert reply.text == "from B"
    assert reply.deployment == "b"
    assert (first.call_count, second.call_count) == (1, 1)
    assert [(a.deployment, a.outcome, a.error, a.status_code) for a in reply.route] == [
        ("a", "error", "ProviderUnavailableError", 503),
        ("b", "ok", None, None),
    ]


async def test_invalid_request_is_raised_without_failover(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(f"{A}/v1/chat/completions").mock(
        return_value=err(400, "invalid_request_error", "bad grammar")
    )
    second = mock_http.post(f"{B}/v1/chat/completions").mock(return_value=answered("never"))
    router = make_router([cpp(A, "a"), cpp(B, "b")])

    with pytest.raises(InvalidRequestError) as info:
        await router.chat("llama-3.1-8b", USER_HI)

    assert info.value.status_code == 400
    assert info.value.deployment == "a"
    assert second.call_count == 0


async def test_context_length_fails_over_only_to_larger_windows(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    too_small = err(
        400,
        "exceed_context_size_error",
        "request (9412 tokens) exceeds the available context size (8192 tokens)",
        n_prompt_tokens=9412,
        n_ctx=8192,
    )
    small = mock_http.post(f"{A}/v1/chat/completions").mock(return_value=too_small)
    same = mock_http.post(f"{B}/v1/chat/completions").mock(return_value=too_small)
    large = mock_http.post(f"{C}/v1/chat/completions").mock(return_value=answered("fits"))
    router = make_router(
        [
            cpp(A, "a", context_window=8192),
            cpp(B, "b", context_window=8192),
            cpp(C, "c", context_window=131072),
        ]
    )

    reply = await router.chat("llama-3.1-8b", USER_HI)

    assert reply.deployment == "c"
    assert (small.call_count, same.call_count, large.call_count) == (1, 0, 1)
    assert reply.route[0].error == "ContextLengthExceededError"


async def test_context_length_with_no_larger_window_is_raised(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(f"{A}/v1/chat/completions").mock(
        return_value=err(400, "exceed_context_size_error", "too long")
    )
    router = make_router([cpp(A, "a", context_window=8192), cpp(B, "b", context_window=8192)])
    with pytest.raises(ContextLengthExceededError) as info:
        await router.chat("llama-3.1-8b", USER_HI)
    assert info.value.deployment == "a"


async def test_all_failed_carries_every_error_and_the_route(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(f"{A}/v1/chat/completions").mock(side_effect=httpx.ConnectError("refused"))
    mock_http.post(f"{B}/v1/chat/completions").mock(return_value=err(500, "server_error", "boom"))
    router = make_router([cpp(A, "a"), cpp(B, "b")])

    with pytest.raises(AllDeploymentsFailedError) as info:
        await router.chat("llama-3.1-8b", USER_HI)

    errors = info.value.errors
    assert [type(e) for e in errors] == [ProviderUnreachableError, ProviderUnavailableError]
    assert isinstance(errors[0].__cause__, httpx.ConnectError)
    assert [a.deployment for a in info.value.route] == ["a", "b"]
    assert "boom" in str(info.value)


async def test_unsupported_feature_skips_to_a_capable_deployment(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    replicate = mock_http.post(url__startswith="https://api.replicate.com/")
    local = mock_http.post(f"{A}/v1/chat/completions").mock(return_value=answered('{"ok": true}'))
    router = make_router(
        [
            Deployment(provider="replicate", model="llama-3-8b"),
            Deployment(provider="llamacpp", model="llama-3-8b", base_url=A),
        ]
    )

    reply = await router.chat("llama-3-8b", USER_HI, response_format="json")

    assert reply.text == '{"ok": true}'
    assert replicate.call_count == 0
    assert local.call_count == 1
    assert [a.deployment for a in reply.route] == ["llamacpp/llama-3-8b"]
    explanation = await router.explain("llama-3-8b", USER_HI, response_format="json")
    (filtered,) = [r for r in explanation.rows if r.status == "filtered"]
    assert filtered.deployment == "replicate/meta/meta-llama-3-8b-instruct"
    assert "does not support JSON mode" in filtered.reason


async def test_latency_comes_from_the_injected_clock(
    mock_http: respx.MockRouter, make_router: RouterFactory, clock: FakeClock
) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        clock.advance(0.25)
        return answered("hi", 10, 4)

    mock_http.post(f"{A}/v1/chat/completions").mock(side_effect=slow)
    router = make_router([cpp(A, "a")], clock=clock)
    reply = await router.chat("llama-3.1-8b", USER_HI)
    assert reply.latency_s == pytest.approx(0.25)
    assert reply.route[0].elapsed_s == pytest.approx(0.25)
    assert reply.usage.total_tokens == 14
    assert reply.cost_usd == 0.0  # llama.cpp is local


# -- request validation -------------------------------------------------------------------------


async def test_unknown_model_lists_what_is_served(make_router: RouterFactory) -> None:
    router = make_router([cpp(A, "a")])
    with pytest.raises(UnknownModelError) as info:
        await router.chat("llama-3.3-70b", USER_HI)
    assert "llama-3.1-8b" in str(info.value)


async def test_model_aliases_resolve_to_the_canonical_name(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(f"{A}/v1/chat/completions").mock(return_value=answered("ok"))
    router = make_router([cpp(A, "a")])
    reply = await router.chat("Llama-3.1-8B-Instruct", USER_HI)
    assert reply.model == "llama-3.1-8b"


@pytest.mark.parametrize(
    ("messages", "settings", "mentions"),
    [
        (USER_HI, {"temperature": 5}, "temperature"),
        (USER_HI, {"max_token": 10}, "max_token"),
        (USER_HI, {"max_tokens": 0}, "max_tokens"),
        ([{"role": "robot", "content": "x"}], {}, "role"),
        ([], {}, "messages"),
        ([{"role": "tool", "content": "42"}], {}, "tool_call_id"),
        (USER_HI, {"tool_choice": "lookup"}, "tool_choice"),
    ],
)
async def test_bad_arguments_raise_a_typed_error_naming_the_field(
    make_router: RouterFactory, messages: Any, settings: dict[str, Any], mentions: str
) -> None:
    router = make_router([cpp(A, "a")])
    with pytest.raises(RequestValidationError) as info:
        await router.chat("llama-3.1-8b", messages, **settings)
    assert mentions in str(info.value)
    assert info.value.__cause__ is None  # no pydantic traceback chained for the user to read


async def test_message_objects_and_dicts_are_equivalent(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    route = mock_http.post(f"{A}/v1/chat/completions").mock(return_value=answered("ok"))
    router = make_router([cpp(A, "a")])
    await router.chat("llama-3.1-8b", [Message.system("Be brief."), Message.user("Hi")])
    await router.chat(
        "llama-3.1-8b",
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    )
    bodies = [json.loads(call.request.content) for call in route.calls]
    assert bodies[0] == bodies[1]
    assert bodies[0]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]


# -- streams ------------------------------------------------------------------------------------


async def test_stream_fails_over_before_the_first_token(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(f"{A}/v1/chat/completions").mock(
        return_value=err(503, "unavailable_error", "Loading model")
    )
    mock_http.post(f"{B}/v1/chat/completions").mock(
        return_value=httpx.Response(
            200,
            text=sse(chunk("Hel"), chunk("lo"), chunk(finish="stop")),
            headers={"content-type": "text/event-stream"},
        )
    )
    router = make_router([cpp(A, "a"), cpp(B, "b")])

    async with router.stream("llama-3.1-8b", USER_HI) as stream:
        events = [event async for event in stream]

    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hel", "lo"]
    assert isinstance(events[-1], StreamDone)
    assert stream.response.text == "Hello"
    assert stream.response.deployment == "b"
    assert [a.outcome for a in stream.response.route] == ["error", "ok"]


async def test_stream_does_not_fail_over_once_text_reached_the_caller(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    broken = sse(
        chunk("Hel"),
        '{"error": {"code": 500, "message": "boom", "type": "server_error"}}',
        done=False,
    )
    mock_http.post(f"{A}/v1/chat/completions").mock(
        return_value=httpx.Response(200, text=broken, headers={"content-type": "text/event-stream"})
    )
    second = mock_http.post(f"{B}/v1/chat/completions")
    router = make_router([cpp(A, "a"), cpp(B, "b")])

    events: list[StreamEvent] = []
    with pytest.raises(StreamInterruptedError) as info:
        await drain(router.stream("llama-3.1-8b", USER_HI), events)

    assert text_of(events) == "Hel"
    assert info.value.partial_text == "Hel"
    assert isinstance(info.value.__cause__, ProviderUnavailableError)
    assert second.call_count == 0


async def test_stream_response_before_the_end_is_an_error(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(f"{A}/v1/chat/completions").mock(
        return_value=httpx.Response(
            200,
            text=sse(chunk("a"), chunk("b"), chunk(finish="length")),
            headers={"content-type": "text/event-stream"},
        )
    )
    router = make_router([cpp(A, "a")])
    async with router.stream("llama-3.1-8b", USER_HI) as stream:
        with pytest.raises(RuntimeError, match="not finished"):
            _ = stream.response
        response = await stream.get_response()
    assert response.text == "ab"
    assert response.finish_reason == "length"


async def test_leaving_a_stream_early_releases_it(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(f"{A}/v1/chat/completions").mock(
        return_value=httpx.Response(
            200,
            text=sse(chunk("one"), chunk("two"), chunk(finish="stop")),
            headers={"content-type": "text/event-stream"},
        )
    )
    router = make_router([cpp(A, "a")])
    async with router.stream("llama-3.1-8b", USER_HI) as stream:
        async for event in stream:
            assert isinstance(event, TextDelta)
            break
    # the router is still usable afterwards
    async with router.stream("llama-3.1-8b", USER_HI) as again:
        assert (await again.get_response()).text == "onetwo"


# -- lifecycle -----------------------------------------------------------------------------------


class RecordingTransport(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.closed = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return answered("ok")

    async def aclose(self) -> None:
        self.closed += 1


async def test_async_with_closes_the_shared_pool_once() -> None:
    transport = RecordingTransport()
    async with Router([cpp(A, "a"), cpp(B, "b")], transport=transport, env={}) as router:
        assert (await router.chat("llama-3.1-8b", USER_HI)).text == "ok"
    assert transport.closed == 1
    await router.aclose()  # idempotent
    assert transport.closed == 1
    with pytest.raises(ConfigurationError, match="closed"):
        await router.chat("llama-3.1-8b", USER_HI)


async def test_health_reports_every_deployment(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.get(f"{A}/health").mock(return_value=httpx.Response(200, json={"status": "ok"}))
    mock_http.get(f"{A}/slots").mock(return_value=httpx.Response(200, json=[{"id": 0}]))
    mock_http.get(f"{A}/props").mock(return_value=httpx.Response(404))
    mock_http.get(f"{B}/health").mock(side_effect=httpx.ConnectError("refused"))
    router = make_router([cpp(A, "a"), cpp(B, "b")])
    reports = await router.health()
    assert reports["a"].ok
    assert (reports["a"].slots_total, reports["a"].slots_busy) == (1, 0)
    assert not reports["b"].ok
