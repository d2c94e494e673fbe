"""Ollama's native ``POST /api/chat`` on the wire (respx): the request body, replies with
nanosecond timings, NDJSON streams, error mapping, failover and health (``/api/tags`` and
``/api/ps``). Payloads are shaped like providers.md section 5.

What every backend does alike (chat, stream, request body, status mapping, broken and
malformed streams, failover) is in ``test_contract.py``; this file keeps what is Ollama's own.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import respx

from llama_router import (
    AllDeploymentsFailedError,
    Deployment,
    MalformedResponseError,
    Message,
    NoDeploymentAvailableError,
    ProviderTimings,
    ProviderUnavailableError,
    ResponseFormat,
    Router,
    StreamDone,
    TextDelta,
    Tool,
    ToolCall,
    ToolCallDelta,
)
from llama_router.routing.options import RetryPolicy
from llama_router.testing.servers import free_port
from tests.backends._wire import (
    MODEL,
    MODES,
    NS,
    Mode,
    call,
    provider_failure,
    sent_json,
    stream_all,
)
from tests.conftest import USER_HI, fixture_text, ndjson, text_of

BASE = "http://127.0.0.1:11434"
CHAT = f"{BASE}/api/chat"
SPARE_BASE = "http://127.0.0.1:11435"
MODEL_ID = "llama3.1:8b"  # the catalog's Ollama tag for llama-3.1-8b
NAME = f"ollama/{MODEL_ID}"

WEATHER = Tool(
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


def ollama_deployment(**kw: Any) -> Deployment:
    return Deployment(provider="ollama", model=MODEL, **kw)


def spare_deployment() -> Deployment:
    """A second Ollama server for the same model, to fail over to."""
    return ollama_deployment(name="ollama-spare", base_url=SPARE_BASE)


def payload(name: str) -> dict[str, Any]:
    return json.loads(fixture_text(f"ollama/{name}"))


def lines(name: str) -> list[dict[str, Any]]:
    """The objects of an NDJSON fixture."""
    return [json.loads(line) for line in fixture_text(f"ollama/{name}").splitlines() if line]


def streamed_text(name: str) -> str:
    return "".join(o["message"]["content"] for o in lines(name) if "message" in o)


def ndjson_reply(name: str) -> httpx.Response:
    return httpx.Response(
        200, text=fixture_text(f"ollama/{name}"), headers={"content-type": "application/x-ndjson"}
    )


def ok_reply(mode: Mode) -> httpx.Response:
    if mode == "chat":
        return httpx.Response(200, json=payload("chat.json"))
    return ndjson_reply("stream.ndjson")


def expected_timings(final: dict[str, Any]) -> dict[str, Any]:
    """ProviderTimings fields computed from a done object's nanosecond durations."""
    generation_s = final["eval_duration"] * NS
    return {
        "queue_s": None,
        "load_s": final["load_duration"] * NS,
        "prompt_s": final["prompt_eval_duration"] * NS,
        "generation_s": generation_s,
        "total_s": final["total_duration"] * NS,
        "time_to_first_token_s": None,
        "output_tokens_per_second": final["eval_count"] / generation_s,
    }


def assert_timings(actual: ProviderTimings, final: dict[str, Any]) -> None:
    assert actual.model_dump() == pytest.approx(expected_timings(final))


# -- non-streaming replies ----------------------------------------------------------------


class TestChatReply:
    async def test_text_usage_timings_cost_and_provider_model(
        self, mock_http: respx.MockRouter, make_router: Any
    ) -> None:
        data = payload("chat.json")
        mock_http.post(CHAT).mock(return_value=httpx.Response(200, json=data))
        router = make_router([ollama_deployment()])

        reply = await router.chat(MODEL, USER_HI, max_tokens=64)

        assert reply.text == data["message"]["content"]
        assert reply.finish_reason == "stop"
        assert reply.usage.prompt_tokens == data["prompt_eval_count"]
        assert reply.usage.completion_tokens == data["eval_count"]
        assert reply.usage.total_tokens == data["prompt_eval_count"] + data["eval_count"]
        assert_timings(reply.provider_timings, data)
        assert reply.cost_usd == 0.0
        assert (reply.provider, reply.deployment, reply.model) == ("ollama", NAME, MODEL)
        assert reply.provider_model == data["model"]
        assert reply.tool_calls == ()

    async def test_done_reason_length_is_finish_reason_length(
        self, mock_http: respx.MockRouter, make_router: Any
    ) -> None:
        data = payload("chat_length.json")
        mock_http.post(CHAT).mock(return_value=httpx.Response(200, json=data))
        router = make_router([ollama_deployment()])

        reply = await router.chat(MODEL, USER_HI, max_tokens=data["eval_count"])

        assert reply.finish_reason == "length"
        assert reply.text == data["message"]["content"]
        assert reply.usage.completion_tokens == data["eval_count"]

    async def test_tool_call_argument_object_becomes_json_text(
        self, mock_http: respx.MockRouter, make_router: Any
    ) -> None:
        data = payload("chat_tool_calls.json")
        wire_call = data["message"]["tool_calls"][0]["function"]
        mock_http.post(CHAT).mock(return_value=httpx.Response(200, json=data))
        router = make_router([ollama_deployment()])

        reply = await router.chat(MODEL, USER_HI, tools=[WEATHER])

        assert data["done_reason"] == "stop"  # Ollama says stop even when it calls a tool
        assert reply.finish_reason == "tool_calls"
        (tool_call,) = reply.tool_calls
        assert tool_call.name == wire_call["name"]
        assert isinstance(tool_call.arguments, str)
        assert json.loads(tool_call.arguments) == wire_call["arguments"]
        assert tool_call.id  # Ollama sends no id; one is made up so results can refer to it
        assert reply.usage.completion_tokens == data["eval_count"]


# -- what is sent ---------------------------------------------------------------------------


class TestRequestBody:
    @pytest.mark.parametrize("mode", MODES)
    async def test_native_body_with_options_keep_alive_and_num_ctx(
        self, mock_http: respx.MockRouter, make_router: Any, mode: Mode
    ) -> None:
        route = mock_http.post(CHAT).mock(return_value=ok_reply(mode))
        router = make_router([ollama_deployment(keep_alive="10m", num_ctx=8192)])

        await call(
            router,
            mode,
            max_tokens=128,
            temperature=0.2,
            top_p=0.9,
            stop=["<|eot_id|>", "\n\nUser:"],
            seed=42,
        )

        assert sent_json(route) == {
            "model": MODEL_ID,
            "messages": [{"role": "user", "content": "Say hi."}],
            "stream": mode == "stream",  # always explicit: the native API defaults to true
            "options": {
                "num_predict": 128,
                "temperature": 0.2,
                "top_p": 0.9,
                "stop": ["<|eot_id|>", "\n\nUser:"],
                "seed": 42,
                "num_ctx": 8192,
            },
            "keep_alive": "10m",
        }

    @pytest.mark.parametrize("mode", MODES)
    async def test_deployment_timeouts_reach_the_request(
        self, mock_http: respx.MockRouter, make_router: Any, mode: Mode
    ) -> None:
        route = mock_http.post(CHAT).mock(return_value=ok_reply(mode))
        router = make_router([ollama_deployment(timeout=12.5, connect_timeout=2.0)])

        await call(router, mode)

        # the ollama SDK's own default is no timeout at all
        assert route.calls.last.request.extensions["timeout"] == {
            "connect": 2.0,
            "read": 12.5,
            "write": 12.5,
            "pool": 12.5,
        }

    async def test_plain_call_sends_stream_false_and_no_extras(
        self, mock_http: respx.MockRouter, make_router: Any
    ) -> None:
        route = mock_http.post(CHAT).mock(return_value=ok_reply("chat"))
        router = make_router([ollama_deployment()])

        await router.chat(MODEL, USER_HI)

        body = sent_json(route)
        assert body["stream"] is False
        assert "max_tokens" not in body
        assert not {"options", "keep_alive", "format", "tools"} & body.keys()

    @pytest.mark.parametrize(
        ("response_format", "wire_format"),
        [
            pytest.param("json", "json", id="json-mode"),
            pytest.param(
                ResponseFormat(
                    type="json_schema",
                    json_schema={
                        "type": "object",
                        "properties": {"greeting": {"type": "string"}},
                        "required": ["greeting"],
                    },
                ),
                {
                    "type": "object",
                    "properties": {"greeting": {"type": "string"}},
                    "required": ["greeting"],
                },
                id="json-schema",
            ),
        ],
    )
    async def test_response_format_becomes_format(
        self,
        mock_http: respx.MockRouter,
        make_router: Any,
        response_format: Any,
        wire_format: Any,
    ) -> None:
        route = mock_http.post(CHAT).mock(return_value=ok_reply("chat"))
        router = make_router([ollama_deployment()])

        await router.chat(MODEL, USER_HI, response_format=response_format)

        body = sent_json(route)
        assert body["format"] == wire_format
        assert "response_format" not in body

    async def test_tools_tool_calls_and_tool_results_in_native_shape(
        self, mock_http: respx.MockRouter, make_router: Any
    ) -> None:
        route = mock_http.post(CHAT).mock(return_value=ok_reply("chat"))
        router = make_router([ollama_deployment()])
        history = [
            Message.user("What's the weather in Paris?"),
            Message.assistant(
                tool_calls=(
                    ToolCall(
                        id="call_0",
                        name="get_weather",
                        arguments='{"city": "Paris", "unit": "celsius"}',
                    ),
                )
            ),
            Message.tool(
                '{"temperature": 18, "sky": "cloudy"}', tool_call_id="call_0", name="get_weather"
            ),
        ]

        await router.chat(MODEL, history, tools=[WEATHER])

        body = sent_json(route)
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
        assert body["messages"] == [
            {"role": "user", "content": "What's the weather in Paris?"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "function": {
                            "name": "get_weather",
                            "arguments": {"city": "Paris", "unit": "celsius"},  # an object
                        }
                    }
                ],
            },
            {
                "role": "tool",
                "content": '{"temperature": 18, "sky": "cloudy"}',
                "tool_name": "get_weather",
            },
        ]
        assert "tool_choice" not in body

    @pytest.mark.parametrize("mode", MODES)
    async def test_tool_choice_required_is_refused_and_nothing_is_sent(
        self, mock_http: respx.MockRouter, make_router: Any, mode: Mode
    ) -> None:
        route = mock_http.post(CHAT).mock(return_value=ok_reply(mode))
        router = make_router([ollama_deployment()])

        with pytest.raises(NoDeploymentAvailableError) as info:
            await call(router, mode, tools=[WEATHER], tool_choice="required")

        assert "no tool_choice" in info.value.reasons[NAME]
        assert not route.called


class TestHost:
    @pytest.mark.parametrize("mode", MODES)
    async def test_ollama_host_from_router_env(
        self, mock_http: respx.MockRouter, make_router: Any, mode: Mode
    ) -> None:
        default = mock_http.post(CHAT).mock(return_value=ok_reply(mode))
        custom = mock_http.post("http://127.0.0.1:11500/api/chat").mock(return_value=ok_reply(mode))
        router = make_router([ollama_deployment()], env={"OLLAMA_HOST": "http://127.0.0.1:11500"})

        await call(router, mode)

        assert custom.call_count == 1
        assert not default.called

    async def test_explicit_base_url_beats_ollama_host(
        self, mock_http: respx.MockRouter, make_router: Any
    ) -> None:
        from_env = mock_http.post("http://127.0.0.1:11500/api/chat").mock(
            return_value=ok_reply("chat")
        )
        explicit = mock_http.post(f"{SPARE_BASE}/api/chat").mock(return_value=ok_reply("chat"))
        router = make_router(
            [ollama_deployment(base_url=SPARE_BASE)], env={"OLLAMA_HOST": "127.0.0.1:11500"}
        )

        await router.chat(MODEL, USER_HI)

        assert explicit.call_count == 1
        assert not from_env.called

    @pytest.mark.parametrize("mode", MODES)
    async def test_no_authorization_header_for_a_local_server(
        self, mock_http: respx.MockRouter, make_router: Any, mode: Mode
    ) -> None:
        route = mock_http.post(CHAT).mock(return_value=ok_reply(mode))
        await call(make_router([ollama_deployment()], env={}), mode)
        assert "authorization" not in route.calls[0].request.headers

    @pytest.mark.parametrize("mode", MODES)
    async def test_cloud_key_from_router_env_or_deployment_is_sent(
        self, mock_http: respx.MockRouter, make_router: Any, mode: Mode
    ) -> None:
        route = mock_http.post(CHAT).mock(return_value=ok_reply(mode))
        await call(make_router([ollama_deployment()], env={"OLLAMA_API_KEY": "ol-env"}), mode)
        await call(make_router([ollama_deployment(api_key="ol-explicit")], env={}), mode)
        sent = [c.request.headers.get("authorization") for c in route.calls]
        assert sent == ["Bearer ol-env", "Bearer ol-explicit"]


# -- streaming ----------------------------------------------------------------------------


class TestStream:
    async def test_text_deltas_then_usage_and_timings_from_the_done_object(
        self, mock_http: respx.MockRouter, make_router: Any
    ) -> None:
        final = lines("stream.ndjson")[-1]
        assert final["done"] is True
        mock_http.post(CHAT).mock(return_value=ndjson_reply("stream.ndjson"))
        router = make_router([ollama_deployment()])

        events, response = await stream_all(router, max_tokens=64)

        deltas = [e for e in events if isinstance(e, TextDelta)]
        assert [d.text for d in deltas] == [
            o["message"]["content"] for o in lines("stream.ndjson") if o["message"]["content"]
        ]
        assert isinstance(events[-1], StreamDone)
        assert len(events) == len(deltas) + 1
        assert response.text == streamed_text("stream.ndjson")
        assert response.finish_reason == "stop"
        assert response.usage.prompt_tokens == final["prompt_eval_count"]
        assert response.usage.completion_tokens == final["eval_count"]
        assert_timings(response.provider_timings, final)
        assert response.cost_usd == 0.0
        assert response.provider_model == final["model"]
        assert response.time_to_first_token_s is not None

    async def test_tool_call_in_a_stream(
        self, mock_http: respx.MockRouter, make_router: Any
    ) -> None:
        wire_call = lines("stream_tool_calls.ndjson")[0]["message"]["tool_calls"][0]["function"]
        final = lines("stream_tool_calls.ndjson")[-1]
        mock_http.post(CHAT).mock(return_value=ndjson_reply("stream_tool_calls.ndjson"))
        router = make_router([ollama_deployment()])

        events, response = await stream_all(router, tools=[WEATHER])

        (delta,) = [e for e in events if isinstance(e, ToolCallDelta)]
        assert (delta.index, delta.name) == (0, wire_call["name"])
        assert json.loads(delta.arguments) == wire_call["arguments"]
        assert response.finish_reason == "tool_calls"
        (tool_call,) = response.tool_calls
        assert json.loads(tool_call.arguments) == wire_call["arguments"]
        assert tool_call.id == delta.id
        assert response.usage.completion_tokens == final["eval_count"]

    async def test_error_line_before_text_fails_over_transparently(
        self, mock_http: respx.MockRouter, make_router: Any
    ) -> None:
        broken = mock_http.post(CHAT).mock(
            return_value=httpx.Response(
                200, text=ndjson('{"error":"llama runner process has terminated: signal: killed"}')
            )
        )
        mock_http.post(f"{SPARE_BASE}/api/chat").mock(return_value=ok_reply("stream"))
        router = make_router([ollama_deployment(), spare_deployment()])

        events, response = await stream_all(router)

        assert broken.call_count == 1
        assert text_of(events) == streamed_text("stream.ndjson")
        assert response.deployment == "ollama-spare"
        assert [(a.deployment, a.outcome, a.error) for a in response.route] == [
            (NAME, "error", "ProviderUnavailableError"),
            ("ollama-spare", "ok", None),
        ]


# -- errors -------------------------------------------------------------------------------


class TestErrors:
    async def test_connection_refused_by_a_real_closed_port(self) -> None:
        port = free_port()
        async with Router(
            [ollama_deployment(base_url=f"http://127.0.0.1:{port}")],
            env={},
            retry=RetryPolicy(max_retries=0),
        ) as router:
            with pytest.raises(AllDeploymentsFailedError) as info:
                await router.chat(MODEL, USER_HI, max_tokens=8)

        (error,) = info.value.errors
        assert isinstance(error, ProviderUnavailableError)
        assert (error.provider, error.status_code) == ("ollama", None)
        assert isinstance(error.__cause__, httpx.ConnectError)


class TestMalformed:
    @pytest.mark.parametrize(
        "reply",
        [
            pytest.param(
                httpx.Response(
                    200,
                    json={"model": MODEL_ID, "created_at": "2025-10-17T23:14:07Z", "done": True},
                ),
                id="no-message",
            ),
            pytest.param(httpx.Response(200, json=["not", "an", "object"]), id="json-array"),
        ],
    )
    async def test_unparseable_chat_reply(
        self, mock_http: respx.MockRouter, make_router: Any, reply: httpx.Response
    ) -> None:
        mock_http.post(CHAT).mock(return_value=reply)
        router = make_router([ollama_deployment()])

        error = await provider_failure(router, "chat")

        assert isinstance(error, MalformedResponseError)
        assert (error.provider, error.deployment) == ("ollama", NAME)


# -- health -------------------------------------------------------------------------------


def health_routes(
    mock_http: respx.MockRouter, *, tags: str = "tags.json", ps: str = "ps.json"
) -> tuple[respx.Route, respx.Route]:
    tags_route = mock_http.get(f"{BASE}/api/tags").mock(
        return_value=httpx.Response(200, text=fixture_text(f"ollama/{tags}"))
    )
    ps_route = mock_http.get(f"{BASE}/api/ps").mock(
        return_value=httpx.Response(200, text=fixture_text(f"ollama/{ps}"))
    )
    return tags_route, ps_route


class TestHealth:
    async def test_pulled_and_loaded(self, mock_http: respx.MockRouter, make_router: Any) -> None:
        tags, ps = health_routes(mock_http)
        router = make_router([ollama_deployment()])

        report = (await router.health())[NAME]

        assert (report.ok, report.model_available, report.loaded) == (True, True, True)
        assert (tags.call_count, ps.call_count) == (1, 1)

    async def test_pulled_but_not_loaded(
        self, mock_http: respx.MockRouter, make_router: Any
    ) -> None:
        health_routes(mock_http, ps="ps_empty.json")
        router = make_router([ollama_deployment()])

        report = (await router.health())[NAME]

        assert (report.ok, report.model_available, report.loaded) == (True, True, False)

    async def test_not_pulled(self, mock_http: respx.MockRouter, make_router: Any) -> None:
        health_routes(mock_http)
        router = make_router([Deployment(provider="ollama", model="llama-3.2-3b")])

        report = (await router.health())["ollama/llama3.2:3b"]

        assert (report.ok, report.model_available, report.loaded) == (False, False, False)
        assert "llama3.2:3b" in report.detail

    async def test_untagged_name_matches_latest(
        self, mock_http: respx.MockRouter, make_router: Any
    ) -> None:
        health_routes(mock_http, ps="ps_llama3_latest.json")
        router = make_router([Deployment(provider="ollama", model="llama-3-8b", model_id="llama3")])

        report = (await router.health())["ollama/llama3"]

        assert (report.ok, report.model_available, report.loaded) == (True, True, True)

    async def test_untagged_name_pulled_but_not_loaded(
        self, mock_http: respx.MockRouter, make_router: Any
    ) -> None:
        health_routes(mock_http)  # /api/ps lists llama3.1:8b only
        router = make_router([Deployment(provider="ollama", model="llama-3-8b", model_id="llama3")])

        report = (await router.health())["ollama/llama3"]

        assert (report.ok, report.model_available, report.loaded) == (True, True, False)

    @pytest.mark.parametrize(
        "tags_reply",
        [
            pytest.param(httpx.ConnectError, id="refused"),
            pytest.param(httpx.Response(500, json={"error": "internal error"}), id="500"),
        ],
    )
    async def test_server_not_answering_is_not_ok(
        self, mock_http: respx.MockRouter, make_router: Any, tags_reply: Any
    ) -> None:
        route = mock_http.get(f"{BASE}/api/tags")
        if isinstance(tags_reply, httpx.Response):
            route.mock(return_value=tags_reply)
        else:
            route.mock(side_effect=tags_reply)
        mock_http.get(f"{BASE}/api/ps").mock(
            return_value=httpx.Response(200, text=fixture_text("ollama/ps.json"))
        )
        router = make_router([ollama_deployment()])

        report = (await router.health())[NAME]

        assert report.ok is False
        assert route.call_count == 1

    async def test_real_closed_port_is_not_ok(self) -> None:
        port = free_port()
        async with Router(
            [ollama_deployment(base_url=f"http://127.0.0.1:{port}")],
            env={},
            retry=RetryPolicy(max_retries=0),
        ) as router:
            report = (await router.health())[NAME]

        assert report.ok is False


class TestUnloading:
    """``/api/ps`` ``expires_at``: a model about to be unloaded counts as cold soon."""

    @pytest.mark.parametrize(
        ("seconds", "loaded"),
        [(3600.0, True), (60.0, True), (5.0, False), (-1.0, False)],
    )
    async def test_expires_at_decides_whether_the_model_counts_as_loaded(
        self, mock_http: respx.MockRouter, make_router: Any, seconds: float, loaded: bool
    ) -> None:
        ps = json.loads(fixture_text("ollama/ps.json"))
        moment = datetime.now(timezone.utc) + timedelta(seconds=seconds)
        ps["models"][0]["expires_at"] = moment.isoformat()
        mock_http.get(f"{BASE}/api/tags").mock(
            return_value=httpx.Response(200, text=fixture_text("ollama/tags.json"))
        )
        mock_http.get(f"{BASE}/api/ps").mock(return_value=httpx.Response(200, json=ps))
        router = make_router([ollama_deployment()])

        report = (await router.health())[NAME]

        assert report.ok is True
        assert report.loaded is loaded
        assert report.context_window == 8192  # the loaded context_length
        if not loaded:
            assert "unloads in" in report.detail
