"""A generic OpenAI-compatible server (vLLM-shaped payloads) on the wire (respx):
``POST {base_url}/chat/completions``, SSE streams with a usage chunk, Bearer auth, error
mapping, failover and health (``GET {base_url}/models``). See providers.md section 1."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from llama_router import (
    AllDeploymentsFailedError,
    AuthenticationError,
    ContextLengthExceededError,
    Deployment,
    InvalidRequestError,
    MalformedResponseError,
    ModelNotFoundError,
    ProviderError,
    ProviderTimeoutError,
    ProviderTimings,
    ProviderUnavailableError,
    ProviderUnreachableError,
    RateLimitedError,
    Router,
    StreamEvent,
    StreamInterruptedError,
    TextDelta,
)
from llama_router.routing.options import RetryPolicy
from tests.backends._wire import (
    MODEL,
    MODES,
    Mode,
    call,
    closed_port,
    drain,
    provider_failure,
    sent_json,
    stream_all,
    text_of,
)
from tests.conftest import USER_HI, fixture_text, sse

MODEL_ID = "meta-llama/Llama-3.1-8B-Instruct"
BASE = "http://127.0.0.1:8000/v1"
CHAT = f"{BASE}/chat/completions"
SPARE_BASE = "http://127.0.0.1:8001/v1"
SPARE_CHAT = f"{SPARE_BASE}/chat/completions"
NAME = f"openai_compatible/{MODEL_ID}"
API_KEY = "vllm-TESTKEY-0123456789abcdef"


# -- helpers ------------------------------------------------------------------------------


def compat_deployment(**kw: Any) -> Deployment:
    kw.setdefault("base_url", BASE)
    return Deployment(provider="openai_compatible", model=MODEL, model_id=MODEL_ID, **kw)


def spare_deployment() -> Deployment:
    return compat_deployment(name="vllm-spare", base_url=SPARE_BASE)


def payload(name: str) -> dict[str, Any]:
    return json.loads(fixture_text(f"openai_compatible/{name}"))


def chunks(name: str) -> list[dict[str, Any]]:
    out = []
    for line in fixture_text(f"openai_compatible/{name}").splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            out.append(json.loads(line.removeprefix("data: ")))
    return out


def streamed_text(name: str) -> str:
    return "".join(
        c["choices"][0]["delta"].get("content") or "" for c in chunks(name) if c["choices"]
    )


def sse_reply(text: str) -> httpx.Response:
    return httpx.Response(200, text=text, headers={"content-type": "text/event-stream"})


def ok_reply(mode: Mode) -> httpx.Response:
    if mode == "chat":
        return httpx.Response(200, json=payload("chat.json"))
    return sse_reply(fixture_text("openai_compatible/stream.sse"))


def ok_text(mode: Mode) -> str:
    if mode == "chat":
        return str(payload("chat.json")["choices"][0]["message"]["content"])
    return streamed_text("stream.sse")


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

    async def test_request_url_body_and_bearer_key(
        self, mock_http: respx.MockRouter, make_router: Any
    ) -> None:
        route = mock_http.post(CHAT).mock(return_value=ok_reply("chat"))
        router = make_router([compat_deployment(api_key=API_KEY)])

        await router.chat(MODEL, USER_HI, max_tokens=64, temperature=0.0)

        request = route.calls.last.request
        assert request.headers["authorization"] == f"Bearer {API_KEY}"
        assert sent_json(route) == {
            "model": MODEL_ID,
            "messages": [{"role": "user", "content": "Say hi."}],
            "max_tokens": 64,
            "temperature": 0.0,
        }

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
    async def test_deltas_then_usage_chunk(
        self, mock_http: respx.MockRouter, make_router: Any
    ) -> None:
        usage_chunk = chunks("stream.sse")[-1]
        assert usage_chunk["choices"] == []
        route = mock_http.post(CHAT).mock(return_value=ok_reply("stream"))
        router = make_router([compat_deployment(api_key=API_KEY)])

        events, response = await stream_all(router, max_tokens=64)

        body = sent_json(route)
        assert (body["stream"], body["stream_options"]) == (True, {"include_usage": True})
        assert route.calls.last.request.headers["authorization"] == f"Bearer {API_KEY}"
        assert [e.text for e in events if isinstance(e, TextDelta)] == [
            "Hi",
            "!",
            " How",
            " can",
            " I",
            " help",
            "?",
        ]
        assert response.text == streamed_text("stream.sse")
        assert response.finish_reason == "stop"
        assert response.usage.prompt_tokens == usage_chunk["usage"]["prompt_tokens"]
        assert response.usage.completion_tokens == usage_chunk["usage"]["completion_tokens"]
        assert response.provider_model == MODEL_ID

    async def test_error_event_after_text_interrupts_with_partial_text(
        self, mock_http: respx.MockRouter, make_router: Any
    ) -> None:
        error = {
            "error": {"message": "EngineCore died", "type": "InternalServerError", "code": 500}
        }
        body = sse(content_chunk("Once"), content_chunk(" upon"), json.dumps(error), done=False)
        mock_http.post(CHAT).mock(return_value=sse_reply(body))
        spare = mock_http.post(SPARE_CHAT).mock(return_value=ok_reply("stream"))
        router = make_router([compat_deployment(), spare_deployment()])
        events: list[StreamEvent] = []

        with pytest.raises(StreamInterruptedError) as info:
            await drain(router.stream(MODEL, USER_HI), events)

        assert info.value.partial_text == text_of(events) == "Once upon"
        assert isinstance(info.value.__cause__, ProviderUnavailableError)
        assert info.value.__cause__.status_code == 500
        assert not spare.called

    async def test_truncated_stream_is_interrupted(
        self, mock_http: respx.MockRouter, make_router: Any
    ) -> None:
        body = sse(content_chunk("The"), content_chunk(" answer"), done=False)
        mock_http.post(CHAT).mock(return_value=sse_reply(body))
        router = make_router([compat_deployment()])
        events: list[StreamEvent] = []

        with pytest.raises(StreamInterruptedError) as info:
            await drain(router.stream(MODEL, USER_HI), events)

        assert info.value.partial_text == text_of(events) == "The answer"

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


STATUS_CASES = [
    pytest.param(400, payload("error_invalid.json"), InvalidRequestError, id="400"),
    pytest.param(
        401, vllm_error(401, "Unauthorized", "AuthenticationError"), AuthenticationError, id="401"
    ),
    pytest.param(
        404,
        vllm_error(404, f"The model `{MODEL_ID}` does not exist.", "NotFoundError"),
        ModelNotFoundError,
        id="404",
    ),
    pytest.param(
        413,
        vllm_error(413, "Request Entity Too Large", "RequestEntityTooLarge"),
        ContextLengthExceededError,
        id="413",
    ),
    pytest.param(
        422,
        vllm_error(422, "Field required: messages", "UnprocessableEntity"),
        InvalidRequestError,
        id="422",
    ),
    pytest.param(
        429,
        vllm_error(429, "Rate limit reached", "RateLimitError"),
        RateLimitedError,
        id="429",
    ),
    pytest.param(
        500,
        vllm_error(500, "EngineCore encountered an issue", "InternalServerError"),
        ProviderUnavailableError,
        id="500",
    ),
    pytest.param(
        503,
        vllm_error(503, "The server is overloaded", "ServiceUnavailableError"),
        ProviderUnavailableError,
        id="503",
    ),
]


class TestErrors:
    @pytest.mark.parametrize("mode", MODES)
    @pytest.mark.parametrize(("status", "body", "expected"), STATUS_CASES)
    async def test_http_status_maps_to_error_class(
        self,
        mock_http: respx.MockRouter,
        make_router: Any,
        mode: Mode,
        status: int,
        body: dict[str, Any],
        expected: type[ProviderError],
    ) -> None:
        mock_http.post(CHAT).mock(return_value=httpx.Response(status, json=body))
        router = make_router([compat_deployment()])

        error = await provider_failure(router, mode)

        assert type(error) is expected
        assert error.status_code == status
        assert (error.provider, error.deployment) == ("openai_compatible", NAME)
        assert error.message == body["error"]["message"]

    @pytest.mark.parametrize("mode", MODES)
    async def test_http_error_chains_the_original_exception(
        self, mock_http: respx.MockRouter, make_router: Any, mode: Mode
    ) -> None:
        mock_http.post(CHAT).mock(
            return_value=httpx.Response(
                503, json=vllm_error(503, "The server is overloaded", "ServiceUnavailableError")
            )
        )
        router = make_router([compat_deployment()])

        error = await provider_failure(router, mode)

        assert isinstance(error, ProviderUnavailableError)
        assert isinstance(error.__cause__, httpx.HTTPStatusError)
        assert error.__cause__.response.status_code == 503

    @pytest.mark.parametrize("mode", MODES)
    async def test_429_retry_after_header_reaches_the_error(
        self, mock_http: respx.MockRouter, make_router: Any, mode: Mode
    ) -> None:
        mock_http.post(CHAT).mock(
            return_value=httpx.Response(
                429,
                json=vllm_error(429, "Rate limit reached", "RateLimitError"),
                headers={"Retry-After": "2"},
            )
        )
        router = make_router([compat_deployment()])

        error = await provider_failure(router, mode)

        assert isinstance(error, RateLimitedError)
        assert error.retry_after == 2.0

    @pytest.mark.parametrize("mode", MODES)
    async def test_bad_request_is_raised_without_failover(
        self, mock_http: respx.MockRouter, make_router: Any, mode: Mode
    ) -> None:
        first = mock_http.post(CHAT).mock(
            return_value=httpx.Response(400, json=payload("error_invalid.json"))
        )
        spare = mock_http.post(SPARE_CHAT).mock(return_value=ok_reply(mode))
        router = make_router([compat_deployment(), spare_deployment()])

        with pytest.raises(InvalidRequestError) as info:
            await call(router, mode)

        assert type(info.value) is InvalidRequestError
        assert info.value.status_code == 400
        assert first.call_count == 1
        assert not spare.called

    @pytest.mark.parametrize("mode", MODES)
    async def test_model_not_found_fails_over(
        self, mock_http: respx.MockRouter, make_router: Any, mode: Mode
    ) -> None:
        mock_http.post(CHAT).mock(
            return_value=httpx.Response(
                404, json=vllm_error(404, f"The model `{MODEL_ID}` does not exist.", "NotFound")
            )
        )
        spare = mock_http.post(SPARE_CHAT).mock(return_value=ok_reply(mode))
        router = make_router([compat_deployment(), spare_deployment()])

        response = await call(router, mode)

        assert spare.call_count == 1
        assert response.deployment == "vllm-spare"
        assert response.text == ok_text(mode)
        assert [(a.error, a.status_code) for a in response.route] == [
            ("ModelNotFoundError", 404),
            (None, None),
        ]

    @pytest.mark.parametrize("mode", MODES)
    @pytest.mark.parametrize(
        ("side_effect", "expected"),
        [
            pytest.param(httpx.ConnectError, ProviderUnreachableError, id="connect-refused"),
            pytest.param(httpx.ReadTimeout, ProviderTimeoutError, id="read-timeout"),
        ],
    )
    async def test_transport_failures(
        self,
        mock_http: respx.MockRouter,
        make_router: Any,
        mode: Mode,
        side_effect: type[Exception],
        expected: type[ProviderError],
    ) -> None:
        mock_http.post(CHAT).mock(side_effect=side_effect)
        router = make_router([compat_deployment()])

        error = await provider_failure(router, mode)

        assert type(error) is expected
        assert error.status_code is None
        assert (error.provider, error.deployment) == ("openai_compatible", NAME)
        assert isinstance(error.__cause__, side_effect)

    async def test_connection_refused_by_a_real_closed_port(self) -> None:
        port = closed_port()
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
            pytest.param(httpx.Response(200, text="Internal Server Error"), id="not-json"),
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
        port = closed_port()
        async with Router(
            [compat_deployment(base_url=f"http://127.0.0.1:{port}/v1")],
            env={},
            retry=RetryPolicy(max_retries=0),
        ) as router:
            report = (await router.health())[NAME]

        assert report.ok is False
