"""Provenance and rate-limit headers, from the wire to the router's decisions.

Provenance: every attempt in a route carries the provider's request id, the region that
served it and the server build, for successes and failures alike, and the response exposes
the answering attempt's. Rate limits: Replicate's unprefixed ``ratelimit-*`` headers and
Together's ``retry-after`` on a *successful* reply change where the next request goes.

Fixtures are shaped from recorded replies (``tests/fixtures/SOURCES.md``).
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
    Provenance,
    ProviderUnavailableError,
    RateLimitedError,
    Router,
    StreamInterruptedError,
)
from llama_router.routing.policy import ordered
from tests.backends._wire import answer_chat
from tests.conftest import (
    FAKE_KEYS,
    USER_HI,
    FakeClock,
    RouterFactory,
    fixture_text,
)

GROQ_CHAT = "https://api.groq.com/openai/v1/chat/completions"
TOGETHER_CHAT = "https://api-inference.together.ai/v1/chat/completions"
LLAMACPP_CHAT = "http://127.0.0.1:8080/v1/chat/completions"
OLLAMA_CHAT = "http://127.0.0.1:11434/api/chat"
REPLICATE_CREATE = "https://api.replicate.com/v1/models/meta/meta-llama-3-8b-instruct/predictions"
REPLICATE_GET = "https://api.replicate.com/v1/predictions/zjq6f3h0sdrj00cgvrtrnsyhwc"
REPLICATE_STREAM = "https://streaming.api.replicate.com/v1/predictions/zjq6f3h0sdrj00cgvrtrnsyhwc"
SPARE_URL = "http://127.0.0.1:8099/v1/chat/completions"
MODEL = "llama-3.1-8b"
REPLICATE_MODEL = "llama-3-8b"


def _json(relative: str) -> Any:
    return json.loads(fixture_text(relative))


def _headers(relative: str) -> dict[str, str]:
    headers: dict[str, str] = _json(relative)
    return headers


def _sse(body: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        200, text=body, headers={"content-type": "text/event-stream", **(headers or {})}
    )


def _spare(model: str = MODEL) -> Deployment:
    return Deployment(
        provider="openai_compatible",
        model=model,
        model_id="spare-model",
        name="spare",
        base_url=SPARE_URL.removesuffix("/chat/completions"),
    )


def _mock_spare(mock: respx.MockRouter) -> respx.Route:
    return mock.post(SPARE_URL).respond(200, json=_json("openai_compatible/chat.json"))


def _ordered(make_router: RouterFactory, *deployments: Deployment, **kw: Any) -> Router:
    return make_router(list(deployments), policy=ordered(), **kw)


# -- provenance -------------------------------------------------------------------------------


async def test_groq_chat_records_request_id_region_and_build(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(GROQ_CHAT).respond(
        200, json=_json("groq/chat_completion.json"), headers=_headers("groq/success_headers.json")
    )
    router = make_router([Deployment(provider="groq", model=MODEL)])
    reply = await router.chat(MODEL, USER_HI)
    assert reply.request_id == "req_01jbd6g2qdfw2adyrt2az8hz4w"
    assert reply.region == "dls"
    assert reply.server_build == "fp_9ceb5c3fd0"
    (attempt,) = reply.route
    assert (attempt.request_id, attempt.region, attempt.server_build) == (
        "req_01jbd6g2qdfw2adyrt2az8hz4w",
        "dls",
        "fp_9ceb5c3fd0",
    )


async def test_groq_stream_takes_the_request_id_from_x_groq_without_headers(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(GROQ_CHAT).mock(return_value=_sse(fixture_text("groq/chat_stream.sse")))
    router = make_router([Deployment(provider="groq", model=MODEL)])
    async with router.stream(MODEL, USER_HI) as stream:
        reply = await stream.get_response()
    assert reply.request_id == "req_01jbd6m8y2t4h6k8n0q2s4v6x8"  # x_groq.id of chunk one
    assert reply.server_build == "fp_9ceb5c3fd0"
    assert reply.region is None


async def test_groq_header_request_id_wins_over_the_body(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(GROQ_CHAT).mock(
        return_value=_sse(
            fixture_text("groq/chat_stream.sse"),
            {"x-request-id": "req_header", "x-groq-region": "fra"},
        )
    )
    router = make_router([Deployment(provider="groq", model=MODEL)])
    async with router.stream(MODEL, USER_HI) as stream:
        reply = await stream.get_response()
    assert (reply.request_id, reply.region) == ("req_header", "fra")


async def test_failed_attempt_keeps_the_error_replys_request_id(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(GROQ_CHAT).respond(
        429,
        json=_json("groq/errors/429_rate_limited.json"),
        headers=_headers("groq/errors/429_headers.json"),
    )
    # a chat is read from llama.cpp as a stream: the recorded reply as its SSE chunks
    mock_http.post(LLAMACPP_CHAT).mock(
        side_effect=answer_chat(_json("llamacpp/chat_fingerprint.json"))
    )
    router = _ordered(
        make_router,
        Deployment(provider="groq", model=MODEL),
        Deployment(provider="llamacpp", model=MODEL),
    )
    reply = await router.chat(MODEL, USER_HI)
    failed, answered = reply.route
    assert failed.outcome == "error"
    assert failed.error == "RateLimitedError"
    assert (failed.request_id, failed.region) == ("req_01jbd6m8y2t4h6k8n0q2s4v6x8", "fra")
    assert failed.retry_after == 35.0
    # llama.cpp sends no request id, but its build in system_fingerprint.
    assert (answered.request_id, answered.region) == (None, None)
    assert answered.server_build == "b9436-d6588daa8"
    assert reply.server_build == "b9436-d6588daa8"
    assert reply.request_id is None


async def test_error_raised_to_the_caller_carries_provenance(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(GROQ_CHAT).respond(
        429,
        json=_json("groq/errors/429_rate_limited.json"),
        headers=_headers("groq/errors/429_headers.json"),
    )
    router = make_router([Deployment(provider="groq", model=MODEL)])
    with pytest.raises(AllDeploymentsFailedError) as info:
        await router.chat(MODEL, USER_HI)
    (error,) = info.value.errors
    assert isinstance(error, RateLimitedError)
    assert error.provenance == Provenance(request_id="req_01jbd6m8y2t4h6k8n0q2s4v6x8", region="fra")
    assert info.value.route[0].request_id == "req_01jbd6m8y2t4h6k8n0q2s4v6x8"


async def test_error_event_in_a_stream_is_named_by_the_replys_headers(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(GROQ_CHAT).mock(
        return_value=_sse(
            fixture_text("groq/stream_error_tool_use_failed.sse"), {"x-request-id": "req_stream"}
        )
    )
    router = make_router([Deployment(provider="groq", model=MODEL)])
    with pytest.raises(InvalidRequestError) as info:
        async with router.stream(MODEL, USER_HI) as stream:
            await stream.get_response()
    assert info.value.provenance == Provenance(request_id="req_stream")
    assert info.value.route[0].request_id == "req_stream"


async def test_stream_broken_after_text_names_the_reply(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(GROQ_CHAT).mock(
        return_value=_sse(fixture_text("groq/stream_error_midway.sse"), {"x-request-id": "req_mid"})
    )
    router = make_router([Deployment(provider="groq", model=MODEL)])
    with pytest.raises(StreamInterruptedError) as info:
        async with router.stream(MODEL, USER_HI) as stream:
            await stream.get_response()
    assert info.value.provenance is not None
    assert info.value.provenance.request_id == "req_mid"
    assert info.value.route[0].request_id == "req_mid"


async def test_llamacpp_stream_build_from_system_fingerprint(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(LLAMACPP_CHAT).mock(
        return_value=_sse(fixture_text("llamacpp/stream_fingerprint.sse"))
    )
    router = make_router([Deployment(provider="llamacpp", model=MODEL)])
    async with router.stream(MODEL, USER_HI) as stream:
        reply = await stream.get_response()
    assert reply.text == "Hi!"
    assert reply.server_build == "b9020-a4701c98f"
    assert reply.request_id is None


async def test_together_request_id_and_engine_version(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(TOGETHER_CHAT).respond(
        200,
        json=_json("together/chat_completion.json"),
        headers=_headers("together/success_headers.json"),
    )
    router = make_router([Deployment(provider="together", model=MODEL)])
    reply = await router.chat(MODEL, USER_HI)
    assert reply.request_id == "8f2c1a9b7d4e6a3c-SJC"
    assert reply.server_build == "v2.7.1"
    assert reply.region is None


async def test_replicate_request_id_is_the_prediction_id(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(REPLICATE_CREATE).respond(201, json=_json("replicate/prediction_succeeded.json"))
    router = make_router([Deployment(provider="replicate", model=REPLICATE_MODEL, poll_interval=0)])
    reply = await router.chat(REPLICATE_MODEL, USER_HI)
    assert reply.request_id == "zjq6f3h0sdrj00cgvrtrnsyhwc"
    assert (reply.region, reply.server_build) == (None, None)


async def test_replicate_stream_request_id_is_the_prediction_id(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(REPLICATE_CREATE).respond(201, json=_json("replicate/prediction_starting.json"))
    mock_http.get(REPLICATE_STREAM).mock(return_value=_sse(fixture_text("replicate/stream_ok.sse")))
    mock_http.get(REPLICATE_GET).respond(200, json=_json("replicate/prediction_succeeded.json"))
    router = make_router([Deployment(provider="replicate", model=REPLICATE_MODEL, poll_interval=0)])
    async with router.stream(REPLICATE_MODEL, USER_HI) as stream:
        reply = await stream.get_response()
    assert reply.request_id == "zjq6f3h0sdrj00cgvrtrnsyhwc"


async def test_failed_replicate_prediction_names_its_id(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    failed = _json("replicate/prediction_failed.json")
    mock_http.post(REPLICATE_CREATE).respond(201, json=failed)
    router = make_router([Deployment(provider="replicate", model=REPLICATE_MODEL, poll_interval=0)])
    with pytest.raises(AllDeploymentsFailedError) as info:
        await router.chat(REPLICATE_MODEL, USER_HI)
    (error,) = info.value.errors
    assert isinstance(error, ProviderUnavailableError)
    assert error.provenance is not None
    assert error.provenance.request_id == failed["id"]
    assert info.value.route[0].request_id == failed["id"]


async def test_ollama_sends_no_provenance(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(OLLAMA_CHAT).respond(200, json=_json("ollama/chat.json"))
    router = make_router([Deployment(provider="ollama", model=MODEL)])
    reply = await router.chat(MODEL, USER_HI)
    assert (reply.request_id, reply.region, reply.server_build) == (None, None, None)


async def test_keys_never_appear_in_provenance(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    headers = {
        **_headers("groq/success_headers.json"),
        "set-cookie": "__cf_bm=secret",
        "authorization": f"Bearer {FAKE_KEYS['GROQ_API_KEY']}",
    }
    mock_http.post(GROQ_CHAT).respond(200, json=_json("groq/chat_completion.json"), headers=headers)
    router = make_router([Deployment(provider="groq", model=MODEL)])
    reply = await router.chat(MODEL, USER_HI)
    dumped = reply.model_dump_json()
    assert "secret" not in dumped
    assert all(key not in dumped for key in FAKE_KEYS.values())


# -- rate-limit headers and routing ---------------------------------------------------------------


async def test_together_retry_after_on_a_success_deprioritises_it_for_that_long(
    mock_http: respx.MockRouter, make_router: RouterFactory, clock: FakeClock
) -> None:
    together = mock_http.post(TOGETHER_CHAT).respond(
        200,
        json=_json("together/chat_completion.json"),
        headers=_headers("together/success_headers.json"),  # retry-after: 2 on a 200
    )
    spare = _mock_spare(mock_http)
    router = _ordered(
        make_router, Deployment(provider="together", model=MODEL), _spare(), clock=clock
    )
    assert (await router.chat(MODEL, USER_HI)).deployment.startswith("together/")
    assert (await router.chat(MODEL, USER_HI)).deployment == "spare"  # asked to back off
    clock.advance(2.0)
    assert (await router.chat(MODEL, USER_HI)).deployment.startswith("together/")
    assert (together.call_count, spare.call_count) == (2, 1)


async def test_together_retry_after_on_a_success_never_blocks_the_only_deployment(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(TOGETHER_CHAT).respond(
        200,
        json=_json("together/chat_completion.json"),
        headers=_headers("together/success_headers.json"),
    )
    router = make_router([Deployment(provider="together", model=MODEL)])
    await router.chat(MODEL, USER_HI)
    assert (await router.chat(MODEL, USER_HI)).deployment.startswith("together/")


async def test_replicate_ratelimit_remaining_zero_on_a_success_deprioritises_until_reset(
    mock_http: respx.MockRouter, make_router: RouterFactory, clock: FakeClock
) -> None:
    mock_http.post(REPLICATE_CREATE).respond(
        201,
        json=_json("replicate/prediction_succeeded.json"),
        headers=_headers("replicate/ratelimit_headers.json"),  # remaining 0 of 600, reset 12
    )
    _mock_spare(mock_http)
    router = _ordered(
        make_router,
        Deployment(provider="replicate", model=REPLICATE_MODEL, poll_interval=0),
        _spare(REPLICATE_MODEL),
        clock=clock,
    )
    first = await router.chat(REPLICATE_MODEL, USER_HI)
    assert first.deployment.startswith("replicate/")
    assert (await router.chat(REPLICATE_MODEL, USER_HI)).deployment == "spare"
    clock.advance(12.0)
    assert (await router.chat(REPLICATE_MODEL, USER_HI)).deployment.startswith("replicate/")


async def test_replicate_429_with_ratelimit_reset_cools_down_for_the_reset(
    mock_http: respx.MockRouter, make_router: RouterFactory, clock: FakeClock
) -> None:
    create = mock_http.post(REPLICATE_CREATE).respond(
        429,
        json={"detail": "Request was throttled. Expected available in 1 second."},
        headers=_headers("replicate/ratelimit_headers.json"),
    )
    _mock_spare(mock_http)
    router = _ordered(
        make_router,
        Deployment(provider="replicate", model=REPLICATE_MODEL, poll_interval=0),
        _spare(REPLICATE_MODEL),
        clock=clock,
    )
    reply = await router.chat(REPLICATE_MODEL, USER_HI)
    assert [a.outcome for a in reply.route] == ["error", "ok"]
    clock.advance(11.0)
    assert (await router.chat(REPLICATE_MODEL, USER_HI)).route[0].deployment == "spare"
    assert create.call_count == 1  # still cooling down: not even tried
    clock.advance(1.0)
    create.respond(201, json=_json("replicate/prediction_succeeded.json"))
    assert (await router.chat(REPLICATE_MODEL, USER_HI)).deployment.startswith("replicate/")


async def test_groq_headers_with_quota_left_change_nothing(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(GROQ_CHAT).respond(
        200, json=_json("groq/chat_completion.json"), headers=_headers("groq/success_headers.json")
    )
    _mock_spare(mock_http)
    router = _ordered(make_router, Deployment(provider="groq", model=MODEL), _spare())
    for _ in range(2):
        assert (await router.chat(MODEL, USER_HI)).deployment.startswith("groq/")


# -- the pieces ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            {"x-request-id": "req_1", "x-groq-region": "dls"},
            Provenance(request_id="req_1", region="dls"),
        ),
        (
            {"x-request-id": "8f2c-SJC", "x-inference-version": "v2.7.1"},
            Provenance(request_id="8f2c-SJC", server_build="v2.7.1"),
        ),
        ({"x-request-id": "  ", "x-groq-region": "bad\nvalue"}, None),
        ({"authorization": "Bearer gsk_x", "set-cookie": "a=b"}, None),
        ({}, None),
    ],
)
def test_provenance_from_headers(headers: dict[str, str], expected: Provenance | None) -> None:
    from llama_router.provenance import provenance_from_headers

    assert provenance_from_headers(httpx.Headers(headers)) == expected


def test_body_provenance_fills_what_headers_lack() -> None:
    from llama_router.backends.openai_wire import body_provenance

    body = {"system_fingerprint": "fp_9ceb5c3fd0", "x_groq": {"id": "req_body"}}
    assert body_provenance(body) == Provenance(request_id="req_body", server_build="fp_9ceb5c3fd0")
    headed = Provenance(request_id="req_header", region="fra")
    assert body_provenance(body, headed) == Provenance(
        request_id="req_header", region="fra", server_build="fp_9ceb5c3fd0"
    )
    assert body_provenance({"system_fingerprint": 12, "x_groq": "x"}) is None
    assert body_provenance("not a dict", headed) is headed


def test_long_ids_are_trimmed() -> None:
    from llama_router.provenance import clean_id

    assert clean_id("x" * 1000) == "x" * 200
    assert clean_id(None) is None
    assert clean_id(123) is None
