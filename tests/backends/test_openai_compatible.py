"""A generic OpenAI-compatible server (vLLM-shaped payloads) on the wire (respx):
``POST {base_url}/chat/completions``, SSE streams with a usage chunk, Bearer auth, error
mapping, failover and health (``GET {base_url}/models``). See providers.md section 1.

What every backend does alike (chat, stream, request body, status mapping, broken and
malformed streams, failover) is in ``test_contract.py``; this file keeps what is this backend's own.
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
    MalformedResponseError,
    ProviderTimings,
    ProviderUnavailableError,
    Router,
)
from llama_router.routing.options import RetryPolicy
from llama_router.testing.servers import free_port
from tests.backends._wire import (
    MODEL,
    MODES,
    Mode,
    call,
    provider_failure,
    sent_json,
    stream_all,
)
from tests.conftest import USER_HI, fixture_text, sse

MODEL_ID = "meta-llama/Llama-3.1-8B-Instruct"
BASE = "http://127.0.0.1:8000/v1"
CHAT = f"{BASE}/chat/completions"
NAME = f"openai_compatible/{MODEL_ID}"
API_KEY = "vllm-TESTKEY-0123456789abcdef"


# -- helpers ------------------------------------------------------------------------------


def compat_deployment(**kw: Any) -> Deployment:
    kw.setdefault("base_url", BASE)
    return Deployment(provider="openai_compatible", model=MODEL, model_id=MODEL_ID, **kw)


def payload(name: str) -> dict[str, Any]:
    return json.loads(fixture_text(f"openai_compatible/{name}"))


def sse_reply(text: str) -> httpx.Response:
    return httpx.Response(200, text=text, headers={"content-type": "text/event-stream"})


def ok_reply(mode: Mode) -> httpx.Response:
    if mode == "chat":
        return httpx.Response(200, json=payload("chat.json"))
    return sse_reply(fixture_text("openai_compatible/stream.sse"))


def content_chunk(text: str, finish: str | None = None) -> str:
    return json.dumps(
        {
            "id": "chatcmpl-0d6b",
            "object": "chat.completion.chunk",
            "created": 1757142050,
            "model": MODEL_ID,
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}],
        }
    )


# -- chat ---------------------------------------------------------------------------------


class TestChat:
    async def test_reply_text_usage_and_provider_model(
        self, mock_http: respx.MockRouter, make_router: Any
    ) -> None:
        data = payload("chat.json")
        mock_http.post(CHAT).mock(return_value=httpx.Response(200, json=data))
        router = make_router([compat_deployment()])

        reply = await router.chat(MODEL, USER_HI, max_tokens=64)

        assert reply.text == data["choices"][0]["message"]["content"]
        assert reply.finish_reason == "stop"
        assert reply.tool_calls == ()  # vLLM sends "tool_calls": []
        assert reply.usage.prompt_tokens == data["usage"]["prompt_tokens"]
        assert reply.usage.completion_tokens == data["usage"]["completion_tokens"]
        assert reply.provider_timings == ProviderTimings()  # vLLM reports no timings
        assert reply.cost_usd is None  # no price known for a self-hosted id
        assert (reply.provider, reply.deployment) == ("openai_compatible", NAME)
        assert reply.provider_model == data["model"]

    @pytest.mark.parametrize("mode", MODES)
    async def test_bearer_key_and_a_zero_temperature_are_sent(
        self, mock_http: respx.MockRouter, make_router: Any, mode: Mode
    ) -> None:
        route = mock_http.post(CHAT).mock(return_value=ok_reply(mode))
        router = make_router([compat_deployment(api_key=API_KEY)])

        await call(router, mode, temperature=0.0)

        assert route.calls.last.request.headers["authorization"] == f"Bearer {API_KEY}"
        assert sent_json(route)["temperature"] == 0.0  # zero is a value, not "unset"

    async def test_no_key_no_authorization_header(
        self, mock_http: respx.MockRouter, make_router: Any
    ) -> None:
        route = mock_http.post(CHAT).mock(return_value=ok_reply("chat"))
        router = make_router([compat_deployment()])

        await router.chat(MODEL, USER_HI)

        assert "authorization" not in route.calls.last.request.headers

    async def test_trailing_slash_in_base_url(
        self, mock_http: respx.MockRouter, make_router: Any
    ) -> None:
        route = mock_http.post(CHAT).mock(return_value=ok_reply("chat"))
        router = make_router([compat_deployment(base_url=BASE + "/")])

        await router.chat(MODEL, USER_HI)

        assert route.call_count == 1


# -- streaming ----------------------------------------------------------------------------


class TestStream:
    async def test_finish_reason_without_done_is_complete(
        self, mock_http: respx.MockRouter, make_router: Any
    ) -> None:
        body = sse(content_chunk("Hi"), content_chunk("", finish="length"), done=False)
        mock_http.post(CHAT).mock(return_value=sse_reply(body))
        router = make_router([compat_deployment()])

        _, response = await stream_all(router)

        assert (response.text, response.finish_reason) == ("Hi", "length")


# -- errors -------------------------------------------------------------------------------


def vllm_error(status: int, message: str, etype: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": etype, "param": None, "code": status}}


class TestErrors:
    async def test_connection_refused_by_a_real_closed_port(self) -> None:
        port = free_port()
        async with Router(
            [compat_deployment(base_url=f"http://127.0.0.1:{port}/v1")],
            env={},
            retry=RetryPolicy(max_retries=0),
        ) as router:
            with pytest.raises(AllDeploymentsFailedError) as info:
                await router.chat(MODEL, USER_HI, max_tokens=8)

        (error,) = info.value.errors
        assert isinstance(error, ProviderUnavailableError)
        assert (error.provider, error.status_code) == ("openai_compatible", None)
        assert isinstance(error.__cause__, httpx.ConnectError)


class TestMalformed:
    @pytest.mark.parametrize(
        "reply",
        [
            pytest.param(httpx.Response(200, json={"object": "chat.completion"}), id="no-choices"),
            pytest.param(
                httpx.Response(
                    200, json={"choices": [{"index": 0, "message": {"content": ["a", "b"]}}]}
                ),
                id="content-not-text",
            ),
        ],
    )
    async def test_unparseable_chat_reply(
        self, mock_http: respx.MockRouter, make_router: Any, reply: httpx.Response
    ) -> None:
        mock_http.post(CHAT).mock(return_value=reply)
        router = make_router([compat_deployment()])

        error = await provider_failure(router, "chat")

        assert isinstance(error, MalformedResponseError)
        assert (error.provider, error.deployment) == ("openai_compatible", NAME)

    async def test_stream_chunk_that_is_not_a_json_object(
        self, mock_http: respx.MockRouter, make_router: Any
    ) -> None:
        mock_http.post(CHAT).mock(return_value=sse_reply(sse("[1, 2, 3]")))
        router = make_router([compat_deployment()])

        error = await provider_failure(router, "stream")

        assert isinstance(error, MalformedResponseError)


# -- health -------------------------------------------------------------------------------


class TestHealth:
    async def test_models_200_is_ok(self, mock_http: respx.MockRouter, make_router: Any) -> None:
        route = mock_http.get(f"{BASE}/models").mock(
            return_value=httpx.Response(200, json=payload("models.json"))
        )
        router = make_router([compat_deployment(api_key=API_KEY)])

        report = (await router.health())[NAME]

        assert report.ok is True
        assert route.call_count == 1
        assert route.calls.last.request.headers["authorization"] == f"Bearer {API_KEY}"

    async def test_models_401_is_not_ok(
        self, mock_http: respx.MockRouter, make_router: Any
    ) -> None:
        mock_http.get(f"{BASE}/models").mock(
            return_value=httpx.Response(401, json=vllm_error(401, "Unauthorized", "Auth"))
        )
        router = make_router([compat_deployment()])

        report = (await router.health())[NAME]

        assert report.ok is False
        assert "401" in report.detail

    async def test_connection_refused_is_not_ok(
        self, mock_http: respx.MockRouter, make_router: Any
    ) -> None:
        mock_http.get(f"{BASE}/models").mock(side_effect=httpx.ConnectError)
        router = make_router([compat_deployment()])

        report = (await router.health())[NAME]

        assert report.ok is False

    async def test_real_closed_port_is_not_ok(self) -> None:
        port = free_port()
        async with Router(
            [compat_deployment(base_url=f"http://127.0.0.1:{port}/v1")],
            env={},
            retry=RetryPolicy(max_retries=0),
        ) as router:
            report = (await router.health())[NAME]

        assert report.ok is False
