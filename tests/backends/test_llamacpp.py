"""llama.cpp ``llama-server`` on the wire (respx): ``POST /v1/chat/completions`` bodies,
replies with ``timings`` in milliseconds, SSE streams (both mid-stream error framings), error
mapping, failover and health (``/health``, falling back to ``/v1/models``). Payloads are
shaped like providers.md sections 1 and 6.

What every backend does alike (chat, stream, request body, status mapping, broken and
malformed streams, failover) is in ``test_contract.py``; this file keeps what is llama.cpp's own.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from llama_router import (
    AllDeploymentsFailedError,
    Deployment,
    InvalidRequestError,
    MalformedResponseError,
    ProviderError,
    ProviderTimings,
    ProviderUnavailableError,
    Router,
    StreamDone,
    StreamEvent,
    StreamInterruptedError,
    TextDelta,
    Tool,
)
from llama_router.routing.options import RetryPolicy
from llama_router.testing.servers import free_port
from tests.backends._wire import (
    MODEL,
    MODES,
    MS,
    Mode,
    answer_chat,
    call,
    chat_as_sse,
    provider_failure,
    sent_json,
    stream_all,
)
from tests.conftest import USER_HI, drain, fixture_text, text_of

BASE = "http://127.0.0.1:8080"
CHAT = f"{BASE}/v1/chat/completions"
SPARE_BASE = "http://127.0.0.1:8081"
SPARE_CHAT = f"{SPARE_BASE}/v1/chat/completions"
NAME = f"llamacpp/{MODEL}"  # no catalog id for llama.cpp: the canonical name is the model id
API_KEY = "llamacpp-TESTKEY-0123456789"

WEATHER = Tool(
    name="get_weather",
    description="Current weather for a city.",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
        "required": ["city"],
    },
)


# -- helpers ------------------------------------------------------------------------------


def llamacpp_deployment(**kw: Any) -> Deployment:
    return Deployment(provider="llamacpp", model=MODEL, **kw)


def spare_deployment(**kw: Any) -> Deployment:
    """A second llama-server for the same model, to fail over to."""
    return llamacpp_deployment(name="llamacpp-spare", base_url=SPARE_BASE, **kw)


def payload(name: str) -> dict[str, Any]:
    return json.loads(fixture_text(f"llamacpp/{name}"))


def chunks(name: str) -> list[dict[str, Any]]:
    """The JSON payloads of the ``data:`` lines of an SSE fixture (``[DONE]`` excluded)."""
    out = []
    for line in fixture_text(f"llamacpp/{name}").splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            out.append(json.loads(line.removeprefix("data: ")))
    return out


def streamed_text(name: str) -> str:
    return "".join(
        c["choices"][0]["delta"].get("content") or "" for c in chunks(name) if c.get("choices")
    )


def sse_reply(text: str) -> httpx.Response:
    return httpx.Response(200, text=text, headers={"content-type": "text/event-stream"})


def fixture_stream(name: str) -> httpx.Response:
    return sse_reply(fixture_text(f"llamacpp/{name}"))


def ok_reply(mode: Mode) -> httpx.Response:
    """A successful reply to a call of ``mode``. Both are streams: a non-streamed chat is
    sent as a stream (llama.cpp stops generating only when a stream is closed)."""
    if mode == "chat":
        return sse_reply(chat_as_sse(payload("chat.json")))
    return fixture_stream("stream.sse")


def assert_timings(actual: ProviderTimings, timings: dict[str, Any]) -> None:
    """``timings`` (milliseconds) as ProviderTimings (seconds)."""
    prompt_s = timings["prompt_ms"] * MS
    generation_s = timings["predicted_ms"] * MS
    assert actual.model_dump() == pytest.approx(
        {
            "queue_s": None,
            "load_s": None,
            "prompt_s": prompt_s,
            "generation_s": generation_s,
            "total_s": prompt_s + generation_s,
            "time_to_first_token_s": None,
            "output_tokens_per_second": timings["predicted_per_second"],
        }
    )


# -- non-streamed replies (read from a stream) ----------------------------------------------


class TestChatReply:
    """``router.chat`` asks llama.cpp for a stream and aggregates it; the mocks answer like
    the server (:func:`answer_chat`: the fixture's reply as SSE chunks to a streamed request)."""

    async def test_text_usage_timings_cost_and_provider_model(
        self, mock_http: respx.MockRouter, make_router: Any
    ) -> None:
        data = payload("chat.json")
        mock_http.post(CHAT).mock(side_effect=answer_chat(data))
        router = make_router([llamacpp_deployment()])

        reply = await router.chat(MODEL, USER_HI, max_tokens=64)

        assert reply.text == data["choices"][0]["message"]["content"]
        assert reply.finish_reason == "stop"
        assert reply.usage.prompt_tokens == data["usage"]["prompt_tokens"]
        assert reply.usage.completion_tokens == data["usage"]["completion_tokens"]
        assert reply.usage.total_tokens == data["usage"]["total_tokens"]
        assert_timings(reply.provider_timings, data["timings"])
        assert reply.cost_usd == 0.0
        assert (reply.provider, reply.deployment, reply.model) == ("llamacpp", NAME, MODEL)
        assert reply.provider_model == data["model"]  # the GGUF file the server runs

    async def test_finish_reason_length(
        self, mock_http: respx.MockRouter, make_router: Any
    ) -> None:
        data = payload("chat_length.json")
        mock_http.post(CHAT).mock(side_effect=answer_chat(data))
        router = make_router([llamacpp_deployment()])

        reply = await router.chat(MODEL, USER_HI, max_tokens=data["usage"]["completion_tokens"])

        assert reply.finish_reason == "length"
        assert_timings(reply.provider_timings, data["timings"])

    async def test_tool_calls(self, mock_http: respx.MockRouter, make_router: Any) -> None:
        data = payload("chat_tool_calls.json")
        (wire_call,) = data["choices"][0]["message"]["tool_calls"]
        mock_http.post(CHAT).mock(side_effect=answer_chat(data))
        router = make_router([llamacpp_deployment()])

        reply = await router.chat(MODEL, USER_HI, tools=[WEATHER])

        assert reply.finish_reason == "tool_calls"
        assert reply.text == ""  # content was null
        (tool_call,) = reply.tool_calls
        assert tool_call.id == wire_call["id"]
        assert tool_call.name == wire_call["function"]["name"]
        assert tool_call.arguments == wire_call["function"]["arguments"]

    async def test_sent_as_a_stream_asking_for_usage(
        self, mock_http: respx.MockRouter, make_router: Any
    ) -> None:
        """Closing a stream is what stops llama.cpp generating for a cancelled call."""
        route = mock_http.post(CHAT).mock(side_effect=answer_chat(payload("chat.json")))
        router = make_router([llamacpp_deployment()])

        await router.chat(MODEL, USER_HI, max_tokens=64)

        body = sent_json(route)
        assert body["stream"] is True
        assert body["stream_options"] == {"include_usage": True}

    @pytest.mark.parametrize("framing", ["stream_error_data.sse", "stream_error_legacy.sse"])
    async def test_error_mid_answer_fails_over_and_counts_what_was_received(
        self, mock_http: respx.MockRouter, make_router: Any, framing: str
    ) -> None:
        """No text reached the caller of a non-streamed chat: it fails over, and the failed
        attempt records the tokens it had received (the server generated them)."""
        broken = mock_http.post(CHAT).mock(return_value=fixture_stream(framing))
        mock_http.post(SPARE_CHAT).mock(side_effect=answer_chat(payload("chat.json")))
        router = make_router([llamacpp_deployment(), spare_deployment()])

        reply = await router.chat(MODEL, USER_HI)

        assert broken.call_count == 1
        assert reply.text == payload("chat.json")["choices"][0]["message"]["content"]
        failed, answered = reply.route
        assert (failed.deployment, failed.outcome, failed.error) == (
            NAME,
            "error",
            "ProviderUnavailableError",
        )
        assert failed.usage.completion_tokens == 3  # "Once", " upon", " a"
        assert (answered.deployment, answered.outcome) == ("llamacpp-spare", "ok")

    async def test_stream_without_usage_counts_the_chunks(
        self, mock_http: respx.MockRouter, make_router: Any
    ) -> None:
        """llama-cpp-python's server ignores ``include_usage``: no usage chunk, one token
        per content chunk."""
        wire = fixture_text("llamacpp/stream.sse").splitlines(keepends=True)
        no_usage = "".join(line for line in wire if '"usage"' not in line)
        assert '"usage"' not in no_usage
        assert "[DONE]" in no_usage
        mock_http.post(CHAT).mock(return_value=sse_reply(no_usage))
        router = make_router([llamacpp_deployment()])

        reply = await router.chat(MODEL, USER_HI, max_tokens=64)

        assert reply.text == streamed_text("stream.sse")
        assert reply.finish_reason == "stop"
        assert reply.usage.completion_tokens == 7  # the content chunks


# -- what is sent ---------------------------------------------------------------------------


class TestRequestBody:
    async def test_json_mode_and_tools(self, mock_http: respx.MockRouter, make_router: Any) -> None:
        route = mock_http.post(CHAT).mock(return_value=ok_reply("chat"))
        router = make_router([llamacpp_deployment()])

        await router.chat(MODEL, USER_HI, response_format="json", tools=[WEATHER])

        body = sent_json(route)
        assert body["response_format"] == {"type": "json_object"}
        assert body["tools"] == [
            {
                "type": "function",
                "function": {
                    "name": WEATHER.name,
                    "description": WEATHER.description,
                    "parameters": WEATHER.parameters,
                },
            }
        ]

    @pytest.mark.parametrize("mode", MODES)
    async def test_api_key_is_sent_as_bearer(
        self, mock_http: respx.MockRouter, make_router: Any, mode: Mode
    ) -> None:
        route = mock_http.post(CHAT).mock(return_value=ok_reply(mode))
        router = make_router([llamacpp_deployment(api_key=API_KEY)])

        await call(router, mode)

        assert route.calls.last.request.headers["authorization"] == f"Bearer {API_KEY}"

    @pytest.mark.parametrize("mode", MODES)
    async def test_deployment_timeouts_reach_the_request(
        self, mock_http: respx.MockRouter, make_router: Any, mode: Mode
    ) -> None:
        route = mock_http.post(CHAT).mock(return_value=ok_reply(mode))
        router = make_router([llamacpp_deployment(timeout=12.5, connect_timeout=2.0)])

        await call(router, mode)

        assert route.calls.last.request.extensions["timeout"] == {
            "connect": 2.0,
            "read": 12.5,
            "write": 12.5,
            "pool": 12.5,
        }

    async def test_no_key_no_authorization_header(
        self, mock_http: respx.MockRouter, make_router: Any
    ) -> None:
        route = mock_http.post(CHAT).mock(return_value=ok_reply("chat"))
        router = make_router([llamacpp_deployment()])

        await router.chat(MODEL, USER_HI)

        assert "authorization" not in route.calls.last.request.headers

    async def test_base_url_is_the_server_root(
        self, mock_http: respx.MockRouter, make_router: Any
    ) -> None:
        route = mock_http.post("http://127.0.0.1:9090/v1/chat/completions").mock(
            return_value=ok_reply("chat")
        )
        router = make_router([llamacpp_deployment(base_url="http://127.0.0.1:9090/")])

        await router.chat(MODEL, USER_HI)

        assert route.call_count == 1


# -- streaming ----------------------------------------------------------------------------


class TestStream:
    async def test_deltas_then_timings_and_a_usage_only_chunk(
        self, mock_http: respx.MockRouter, make_router: Any
    ) -> None:
        wire = chunks("stream.sse")
        finish_chunk, usage_chunk = wire[-2], wire[-1]
        assert finish_chunk["choices"][0]["finish_reason"] == "stop"
        assert "timings" in finish_chunk
        assert "usage" not in finish_chunk
        assert usage_chunk["choices"] == []
        assert "timings" not in usage_chunk
        mock_http.post(CHAT).mock(return_value=fixture_stream("stream.sse"))
        router = make_router([llamacpp_deployment()])

        events, response = await stream_all(router, max_tokens=64)

        deltas = [e.text for e in events if isinstance(e, TextDelta)]
        assert deltas == ["Hi", "!", " How", " can", " I", " help", "?"]
        assert len(events) == len(deltas) + 1
        assert response.text == streamed_text("stream.sse")
        assert response.finish_reason == "stop"
        assert response.usage.prompt_tokens == usage_chunk["usage"]["prompt_tokens"]
        assert response.usage.completion_tokens == usage_chunk["usage"]["completion_tokens"]
        assert_timings(response.provider_timings, finish_chunk["timings"])
        assert response.cost_usd == 0.0
        assert response.provider_model == wire[0]["model"]

    async def test_error_after_text_in_the_legacy_framing_interrupts(
        self, mock_http: respx.MockRouter, make_router: Any
    ) -> None:
        """Builds before PR #16109 send ``error: {...}``; the ``data:`` framing is in the
        contract suite."""
        framing = "stream_error_legacy.sse"
        mock_http.post(CHAT).mock(return_value=fixture_stream(framing))
        spare = mock_http.post(SPARE_CHAT).mock(return_value=ok_reply("stream"))
        router = make_router([llamacpp_deployment(), spare_deployment()])
        events: list[StreamEvent] = []

        with pytest.raises(StreamInterruptedError) as info:
            await drain(router.stream(MODEL, USER_HI), events)

        error = info.value
        assert error.partial_text == text_of(events) == streamed_text(framing) == "Once upon a"
        assert (error.provider, error.deployment) == ("llamacpp", NAME)
        assert isinstance(error.__cause__, ProviderUnavailableError)
        assert error.__cause__.message == "slot 0: decode failed: out of KV cache memory"
        assert not any(isinstance(e, StreamDone) for e in events)
        assert not spare.called

    @pytest.mark.parametrize("framing", ["stream_error_data.sse", "stream_error_legacy.sse"])
    async def test_in_stream_error_code_becomes_the_status(
        self, mock_http: respx.MockRouter, make_router: Any, framing: str
    ) -> None:
        """Both framings carry the same ``{"code": 500, ...}`` object."""
        mock_http.post(CHAT).mock(return_value=fixture_stream(framing))
        router = make_router([llamacpp_deployment()])

        with pytest.raises(StreamInterruptedError) as info:
            await drain(router.stream(MODEL, USER_HI), [])

        assert isinstance(info.value.__cause__, ProviderError)
        assert info.value.__cause__.status_code == 500
        assert info.value.status_code == 500

    @pytest.mark.parametrize(
        "error_line",
        [
            pytest.param(
                'data: {"error":{"code":400,"message":"Failed to parse grammar",'
                '"type":"invalid_request_error"}}',
                id="data-framing",
            ),
            pytest.param(
                'error: {"code":400,"message":"Failed to parse grammar",'
                '"type":"invalid_request_error"}',
                id="legacy-framing",
            ),
        ],
    )
    async def test_in_stream_invalid_request_is_not_failed_over(
        self, mock_http: respx.MockRouter, make_router: Any, error_line: str
    ) -> None:
        mock_http.post(CHAT).mock(return_value=sse_reply(f"{error_line}\n\n"))
        spare = mock_http.post(SPARE_CHAT).mock(return_value=ok_reply("stream"))
        router = make_router([llamacpp_deployment(), spare_deployment()])

        with pytest.raises(InvalidRequestError) as info:
            await drain(router.stream(MODEL, USER_HI), [])

        assert info.value.status_code == 400
        assert not spare.called

    @pytest.mark.parametrize(
        "error_line",
        [
            pytest.param(
                'data: {"error":{"code":500,"message":"slot unavailable","type":"server_error"}}',
                id="data-framing",
            ),
            pytest.param(
                'error: {"code":500,"message":"slot unavailable","type":"server_error"}',
                id="legacy-framing",
            ),
        ],
    )
    async def test_error_before_text_fails_over_transparently(
        self, mock_http: respx.MockRouter, make_router: Any, error_line: str
    ) -> None:
        role_chunk = json.dumps(chunks("stream.sse")[0])
        broken = mock_http.post(CHAT).mock(
            return_value=sse_reply(f"data: {role_chunk}\n\n{error_line}\n\n")
        )
        mock_http.post(SPARE_CHAT).mock(return_value=ok_reply("stream"))
        router = make_router([llamacpp_deployment(), spare_deployment()])

        events, response = await stream_all(router)

        assert broken.call_count == 1
        assert text_of(events) == streamed_text("stream.sse")
        assert response.deployment == "llamacpp-spare"
        assert [(a.deployment, a.outcome) for a in response.route] == [
            (NAME, "error"),
            ("llamacpp-spare", "ok"),
        ]


# -- errors -------------------------------------------------------------------------------


class TestErrors:
    async def test_context_overflow_fails_over_only_to_a_larger_window(
        self, mock_http: respx.MockRouter, make_router: Any
    ) -> None:
        small = mock_http.post(CHAT).mock(
            return_value=httpx.Response(400, json=payload("error_context.json"))
        )
        smaller = mock_http.post("http://127.0.0.1:8082/v1/chat/completions").mock(
            return_value=ok_reply("chat")
        )
        larger = mock_http.post(SPARE_CHAT).mock(return_value=ok_reply("chat"))
        n_ctx = payload("error_context.json")["error"]["n_ctx"]
        router = make_router(
            [
                llamacpp_deployment(context_window=n_ctx),
                llamacpp_deployment(
                    name="llamacpp-smaller",
                    base_url="http://127.0.0.1:8082",
                    context_window=n_ctx // 2,
                ),
                spare_deployment(context_window=n_ctx * 4),
            ]
        )

        reply = await router.chat(MODEL, USER_HI)

        assert reply.deployment == "llamacpp-spare"
        assert (small.call_count, smaller.call_count, larger.call_count) == (1, 0, 1)
        assert reply.route[0].error == "ContextLengthExceededError"

    async def test_connection_refused_by_a_real_closed_port(self) -> None:
        port = free_port()
        async with Router(
            [llamacpp_deployment(base_url=f"http://127.0.0.1:{port}")],
            env={},
            retry=RetryPolicy(max_retries=0),
        ) as router:
            with pytest.raises(AllDeploymentsFailedError) as info:
                await router.chat(MODEL, USER_HI, max_tokens=8)

        (error,) = info.value.errors
        assert isinstance(error, ProviderUnavailableError)
        assert (error.provider, error.status_code) == ("llamacpp", None)
        assert isinstance(error.__cause__, httpx.ConnectError)


class TestMalformed:
    @pytest.mark.parametrize(
        "reply",
        [
            pytest.param(sse_reply("data: [1, 2]\n\n"), id="not-an-object"),
            pytest.param(sse_reply('data: {"choices": [1]}\n\n'), id="choice-not-an-object"),
            pytest.param(
                sse_reply('data: {"choices": [{"index": 0, "delta": {"content": 7}}]}\n\n'),
                id="content-not-a-string",
            ),
        ],
    )
    async def test_unparseable_chat_reply(
        self, mock_http: respx.MockRouter, make_router: Any, reply: httpx.Response
    ) -> None:
        """A chat is read from a stream: its malformed replies are malformed chunks."""
        mock_http.post(CHAT).mock(return_value=reply)
        router = make_router([llamacpp_deployment()])

        error = await provider_failure(router, "chat")

        assert isinstance(error, MalformedResponseError)
        assert (error.provider, error.deployment) == ("llamacpp", NAME)


# -- health -------------------------------------------------------------------------------


class TestHealth:
    async def test_health_200_is_ok_and_loaded(
        self, mock_http: respx.MockRouter, make_router: Any
    ) -> None:
        health = mock_http.get(f"{BASE}/health").mock(
            return_value=httpx.Response(200, json={"status": "ok"})
        )
        mock_http.get(f"{BASE}/slots").mock(side_effect=httpx.ConnectError)  # --no-slots
        models = mock_http.get(f"{BASE}/v1/models").mock(
            return_value=httpx.Response(200, json=payload("models.json"))
        )
        # upstream's /props: the per-slot window is default_generation_settings.n_ctx
        mock_http.get(f"{BASE}/props").mock(
            return_value=httpx.Response(
                200, json={"default_generation_settings": {"n_ctx": 4096}, "total_slots": 2}
            )
        )
        router = make_router([llamacpp_deployment()])

        report = (await router.health())[NAME]

        assert (report.ok, report.loaded, report.context_window) == (True, True, 4096)
        assert (report.slots_total, report.slots_busy) == (2, None)
        assert health.call_count == 1
        assert not models.called

    @pytest.mark.parametrize(
        ("slots", "props", "expected"),
        [
            (
                httpx.Response(200, json=[{"id": 0, "is_processing": True}, {"id": 1}]),
                None,
                (2, 1),
            ),
            (
                httpx.Response(200, json=[{"id": i, "is_processing": False} for i in range(4)]),
                None,
                (4, 0),
            ),
            # --no-slots: /slots refused, the capacity alone from /props
            (httpx.Response(501), httpx.Response(200, json={"total_slots": 3}), (3, None)),
            (httpx.Response(404), httpx.Response(200, json={"total_slots": 0}), (None, None)),
            (httpx.Response(200, content=b"not json"), httpx.Response(500), (None, None)),
            (httpx.Response(200, json=[]), httpx.Response(200, json={}), (None, None)),
            (
                httpx.Response(200, json=[1, 2]),
                httpx.Response(200, json={"total_slots": True}),
                (None, None),
            ),
        ],
    )
    async def test_health_reports_the_servers_slots(
        self,
        mock_http: respx.MockRouter,
        make_router: Any,
        slots: httpx.Response,
        props: httpx.Response | None,
        expected: tuple[int | None, int | None],
    ) -> None:
        mock_http.get(f"{BASE}/health").mock(return_value=httpx.Response(200, json={}))
        mock_http.get(f"{BASE}/slots").mock(return_value=slots)
        mock_http.get(f"{BASE}/props").mock(return_value=props or httpx.Response(404))
        router = make_router([llamacpp_deployment()])

        report = (await router.health())[NAME]

        assert report.ok is True
        assert (report.slots_total, report.slots_busy) == expected

    @pytest.mark.parametrize(("sleeping", "loaded"), [(True, False), (False, True)])
    async def test_a_sleeping_server_has_unloaded_its_model(
        self, mock_http: respx.MockRouter, make_router: Any, sleeping: bool, loaded: bool
    ) -> None:
        mock_http.get(f"{BASE}/health").mock(return_value=httpx.Response(200, json={}))
        mock_http.get(f"{BASE}/slots").mock(return_value=httpx.Response(501))
        mock_http.get(f"{BASE}/props").mock(
            return_value=httpx.Response(200, json={"total_slots": 1, "is_sleeping": sleeping})
        )
        router = make_router([llamacpp_deployment()])

        report = (await router.health())[NAME]

        assert (report.ok, report.loaded) == (True, loaded)
        assert ("sleeping" in report.detail) is sleeping

    async def test_health_503_while_loading(
        self, mock_http: respx.MockRouter, make_router: Any
    ) -> None:
        mock_http.get(f"{BASE}/health").mock(
            return_value=httpx.Response(503, json=payload("error_loading.json"))
        )
        router = make_router([llamacpp_deployment()])

        report = (await router.health())[NAME]

        assert (report.ok, report.loaded) == (False, False)
        assert "Loading model" in report.detail

    async def test_no_health_endpoint_falls_back_to_models(
        self, mock_http: respx.MockRouter, make_router: Any
    ) -> None:
        mock_http.get(f"{BASE}/health").mock(
            return_value=httpx.Response(404, json={"detail": "Not Found"})
        )
        models = mock_http.get(f"{BASE}/v1/models").mock(
            return_value=httpx.Response(200, json=payload("models.json"))
        )
        router = make_router([llamacpp_deployment()])

        report = (await router.health())[NAME]

        assert report.ok is True
        assert models.call_count == 1

    async def test_fallback_to_models_that_fails(
        self, mock_http: respx.MockRouter, make_router: Any
    ) -> None:
        mock_http.get(f"{BASE}/health").mock(return_value=httpx.Response(404))
        models = mock_http.get(f"{BASE}/v1/models").mock(return_value=httpx.Response(500))
        router = make_router([llamacpp_deployment()])

        report = (await router.health())[NAME]

        assert report.ok is False
        assert models.call_count == 1

    async def test_connection_refused_is_not_ok(
        self, mock_http: respx.MockRouter, make_router: Any
    ) -> None:
        mock_http.get(f"{BASE}/health").mock(side_effect=httpx.ConnectError)
        router = make_router([llamacpp_deployment()])

        report = (await router.health())[NAME]

        assert report.ok is False

    async def test_real_closed_port_is_not_ok(self) -> None:
        port = free_port()
        async with Router(
            [llamacpp_deployment(base_url=f"http://127.0.0.1:{port}")],
            env={},
            retry=RetryPolicy(max_retries=0),
        ) as router:
            report = (await router.health())[NAME]

        assert report.ok is False
