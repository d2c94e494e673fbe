"""Wire tests for the Replicate backend (predictions API), through respx.

Payload shapes follow ``docs/providers.md`` section 4: prediction objects with ``output`` as
an array of string fragments and ``metrics`` for usage, named SSE events on a separate
streaming host, and problem-details error bodies.

What every backend does alike (chat, stream, request body, status mapping, broken and
malformed streams, failover) is in ``test_contract.py``; this file keeps what is Replicate's own.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx

from llama_router import Deployment, Router
from llama_router.exceptions import (
    AllDeploymentsFailedError,
    ColdStartError,
    MalformedResponseError,
    NoDeploymentAvailableError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitedError,
    StreamInterruptedError,
)
from llama_router.messages import ChatRequest, Message
from llama_router.responses import ChatResponse, StreamDone, StreamEvent, TextDelta
from tests.conftest import FAKE_KEYS, USER_HI, FakeClock, drain, fixture_text

RouterFactory = Callable[..., Router]

MODEL = "llama-3-8b"
MODEL_ID = "meta/meta-llama-3-8b-instruct"
NAME = f"replicate/{MODEL_ID}"
API = "https://api.replicate.com/v1"
CREATE_URL = f"{API}/models/{MODEL_ID}/predictions"
PREDICTION_ID = "zjq6f3h0sdrj00cgvrtrnsyhwc"
GET_URL = f"{API}/predictions/{PREDICTION_ID}"
CANCEL_URL = f"{GET_URL}/cancel"
STREAM_URL = f"https://streaming.api.replicate.com/v1/predictions/{PREDICTION_ID}"
ACCOUNT_URL = f"{API}/account"
OLLAMA_CHAT_URL = "http://127.0.0.1:11434/api/chat"
# Catalog price of meta/meta-llama-3-8b-instruct, USD per million tokens.
PRICE_IN, PRICE_OUT = 0.05, 0.25


# -- helpers ----------------------------------------------------------------------------------


def prediction(name: str, **changes: Any) -> dict[str, Any]:
    """A prediction object from ``tests/fixtures/replicate/prediction_<name>.json``."""
    data: dict[str, Any] = json.loads(fixture_text(f"replicate/prediction_{name}.json"))
    data.update(changes)
    return data


def sse_response(name: str) -> httpx.Response:
    return httpx.Response(
        200,
        text=fixture_text(f"replicate/{name}.sse"),
        headers={"content-type": "text/event-stream"},
    )


def replicate(**kw: Any) -> Deployment:
    kw.setdefault("poll_interval", 0)
    return Deployment(provider="replicate", model=MODEL, **kw)


def ollama() -> Deployment:
    return Deployment(provider="ollama", model=MODEL)


def sent_json(route: respx.Route) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(route.calls.last.request.content)
    return body


def user_request(**settings: Any) -> ChatRequest:
    return ChatRequest(model=MODEL, messages=(Message.user("Say hi."),), settings=settings)


OLLAMA_REPLY = {
    "model": "llama3:8b",
    "created_at": "2026-08-01T12:00:00.000000Z",
    "message": {"role": "assistant", "content": "Hi from Ollama."},
    "done": True,
    "done_reason": "stop",
    "total_duration": 412_000_000,
    "load_duration": 2_100_000,
    "prompt_eval_count": 12,
    "prompt_eval_duration": 30_000_000,
    "eval_count": 5,
    "eval_duration": 80_000_000,
}


def ollama_stream_body() -> str:
    lines = [
        {
            "model": "llama3:8b",
            "message": {"role": "assistant", "content": "Hi from"},
            "done": False,
        },
        {
            "model": "llama3:8b",
            "message": {"role": "assistant", "content": " Ollama."},
            "done": False,
        },
        {**OLLAMA_REPLY, "message": {"role": "assistant", "content": ""}},
    ]
    return "".join(json.dumps(line) + "\n" for line in lines)


async def collect(router: Router, **settings: Any) -> tuple[list[str], ChatResponse]:
    """Stream ``USER_HI``; the text deltas and the final response."""
    texts: list[str] = []
    done: ChatResponse | None = None
    async with router.stream(MODEL, USER_HI, **settings) as stream:
        async for event in stream:
            if isinstance(event, TextDelta):
                texts.append(event.text)
            elif isinstance(event, StreamDone):
                done = event.response
    assert done is not None
    return texts, done


def expected_cost(metrics: dict[str, Any]) -> float:
    return (
        metrics["input_token_count"] * PRICE_IN + metrics["output_token_count"] * PRICE_OUT
    ) / 1e6


# -- non-streaming ----------------------------------------------------------------------------


async def test_chat_succeeded_under_prefer_wait_joins_output_fragments(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    payload = prediction("succeeded")
    create = mock_http.post(CREATE_URL).respond(201, json=payload)
    poll = mock_http.get(GET_URL)
    router = make_router([replicate()])

    reply = await router.chat(MODEL, USER_HI)

    assert reply.text == "".join(payload["output"]) == "Hello! How can I help?"
    assert poll.call_count == 0  # finished within Prefer: wait, nothing to poll
    request = create.calls.last.request
    assert request.headers["Prefer"] == "wait=60"
    assert request.headers["Authorization"] == f"Bearer {FAKE_KEYS['REPLICATE_API_TOKEN']}"
    assert sent_json(create) == {"input": {"prompt": "Say hi."}}
    assert (reply.provider, reply.deployment, reply.model) == ("replicate", NAME, MODEL)
    assert reply.provider_model == payload["model"]
    assert reply.provider_timings.load_s is None  # never seen in "starting": no cold boot


async def test_prefer_wait_follows_the_deployment_setting(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    create = mock_http.post(CREATE_URL).respond(201, json=prediction("succeeded"))
    router = make_router([replicate(replicate_wait=15)])

    await router.chat(MODEL, USER_HI)

    assert create.calls.last.request.headers["Prefer"] == "wait=15"


async def test_usage_timings_and_cost_come_from_metrics(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    payload = prediction("succeeded")
    metrics = payload["metrics"]
    mock_http.post(CREATE_URL).respond(201, json=payload)
    router = make_router([replicate()])

    reply = await router.chat(MODEL, USER_HI)

    assert reply.usage.prompt_tokens == metrics["input_token_count"]
    assert reply.usage.completion_tokens == metrics["output_token_count"]
    timings = reply.provider_timings
    assert timings.generation_s == metrics["predict_time"]
    assert timings.total_s == metrics["total_time"]
    assert timings.time_to_first_token_s == metrics["time_to_first_token"]
    assert timings.output_tokens_per_second == metrics["tokens_per_second"]
    assert reply.cost_usd == pytest.approx(expected_cost(metrics))


async def test_missing_metrics_give_unknown_usage_and_no_cost(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(CREATE_URL).respond(201, json=prediction("succeeded", metrics={}))
    router = make_router([replicate()])

    reply = await router.chat(MODEL, USER_HI)

    # Not a silent 0/0: the counts are marked unknown and the cost is unknown, not free.
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (0, 0)
    assert reply.usage.known is False
    assert reply.route[-1].usage.known is False
    assert reply.provider_timings.total_s is None
    assert reply.cost_usd is None


async def test_prediction_starting_is_polled_until_succeeded(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    final = prediction("succeeded", output=["Polled", " answer", "."])
    create = mock_http.post(CREATE_URL).respond(201, json=prediction("starting"))
    poll = mock_http.get(GET_URL)
    poll.side_effect = [
        httpx.Response(200, json=prediction("processing")),
        httpx.Response(200, json=final),
    ]
    router = make_router([replicate()])

    reply = await router.chat(MODEL, USER_HI)

    assert create.call_count == 1
    assert poll.call_count == 2  # processing, then succeeded
    assert reply.text == "Polled answer."
    assert reply.usage.completion_tokens == final["metrics"]["output_token_count"]
    assert poll.calls.last.request.headers["Authorization"] == (
        f"Bearer {FAKE_KEYS['REPLICATE_API_TOKEN']}"
    )
    # The prediction began in "starting": a cold boot, so load time is reported.
    assert reply.provider_timings.load_s is not None
    assert reply.provider_timings.load_s >= 0


async def test_prediction_already_processing_is_not_a_cold_boot(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(CREATE_URL).respond(201, json=prediction("processing"))
    poll = mock_http.get(GET_URL).respond(200, json=prediction("succeeded"))
    router = make_router([replicate()])

    reply = await router.chat(MODEL, USER_HI)

    assert poll.call_count == 1
    assert reply.text == "Hello! How can I help?"
    assert reply.provider_timings.load_s is None


async def test_load_time_covers_the_cold_boot_only_not_generation(
    mock_http: respx.MockRouter, make_router: RouterFactory, clock: FakeClock
) -> None:
    """``ProviderTimings.load_s`` is "time spent loading the model (Replicate cold boot)".

    The prediction is seen in ``starting`` for 3 s (cold boot), then ``processing`` for 4 s
    (generation, already reported as ``generation_s``): load_s must not include the 4 s.
    """
    steps = iter([(3.0, prediction("processing")), (4.0, prediction("succeeded"))])

    def advance_and_answer(request: httpx.Request) -> httpx.Response:
        seconds, body = next(steps)
        clock.advance(seconds)
        return httpx.Response(200, json=body)

    mock_http.post(CREATE_URL).respond(201, json=prediction("starting"))
    mock_http.get(GET_URL).mock(side_effect=advance_and_answer)
    router = make_router([replicate()], clock=clock)

    reply = await router.chat(MODEL, USER_HI)

    assert reply.provider_timings.load_s == 3.0
    assert reply.latency_s == 7.0


@pytest.mark.parametrize(
    ("max_tokens", "finish_reason"),
    [
        (None, "stop"),
        (8, "stop"),  # 7 tokens generated, below the cap
        (7, "length"),  # exactly the cap
        (5, "length"),  # the provider reported more than the cap
    ],
)
async def test_finish_reason_from_output_token_count_and_max_tokens(
    mock_http: respx.MockRouter,
    make_router: RouterFactory,
    max_tokens: int | None,
    finish_reason: str,
) -> None:
    payload = prediction("succeeded")
    assert payload["metrics"]["output_token_count"] == 7
    mock_http.post(CREATE_URL).respond(201, json=payload)
    router = make_router([replicate()])
    settings = {} if max_tokens is None else {"max_tokens": max_tokens}

    reply = await router.chat(MODEL, USER_HI, **settings)

    assert reply.finish_reason == finish_reason


async def test_pinned_version_posts_to_predictions_with_version(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    version = "5a6809ca6288247d06daf6365557e5e429063f32a21146b2a807c682652136b8"
    payload = prediction("succeeded", model="meta/meta-llama-3-8b-instruct", version=version)
    create = mock_http.post(f"{API}/predictions").respond(201, json=payload)
    official = mock_http.post(CREATE_URL)
    router = make_router([replicate(model_id=f"{MODEL_ID}:{version}")])

    reply = await router.chat(MODEL, USER_HI, max_tokens=64)

    assert official.call_count == 0
    assert sent_json(create) == {
        "version": version,
        "input": {"prompt": "Say hi.", "max_tokens": 64},
    }
    assert create.calls.last.request.headers["Prefer"] == "wait=60"
    assert reply.text == "Hello! How can I help?"
    assert reply.cost_usd is None  # a pinned version is not in the catalog: no price


# -- cold boot ---------------------------------------------------------------------------------


async def test_cold_boot_is_cancelled_and_raises_cold_start(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(CREATE_URL).respond(201, json=prediction("starting"))
    cancel = mock_http.post(CANCEL_URL).respond(200, json=prediction("canceled"))
    poll = mock_http.get(GET_URL)
    router = make_router([replicate(cold_boot_timeout=0)])

    with pytest.raises(AllDeploymentsFailedError) as info:
        await router.chat(MODEL, USER_HI)

    (error,) = info.value.errors
    assert isinstance(error, ColdStartError)
    assert isinstance(error, ProviderUnavailableError)
    assert (error.provider, error.deployment) == ("replicate", NAME)
    assert cancel.call_count == 1
    assert cancel.calls.last.request.headers["Authorization"] == (
        f"Bearer {FAKE_KEYS['REPLICATE_API_TOKEN']}"
    )
    assert poll.call_count == 0


async def test_cold_boot_fails_over_to_the_next_deployment(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(CREATE_URL).respond(201, json=prediction("starting"))
    cancel = mock_http.post(CANCEL_URL).respond(200, json=prediction("canceled"))
    local = mock_http.post(OLLAMA_CHAT_URL).respond(200, json=OLLAMA_REPLY)
    router = make_router([replicate(cold_boot_timeout=0), ollama()])

    reply = await router.chat(MODEL, USER_HI)

    assert reply.text == "Hi from Ollama."
    assert reply.provider == "ollama"
    assert [a.error for a in reply.route] == ["ColdStartError", None]
    assert cancel.call_count == 1
    assert local.call_count == 1


async def test_stream_cold_boot_is_cancelled_before_opening_the_stream(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(CREATE_URL).respond(201, json=prediction("starting"))
    cancel = mock_http.post(CANCEL_URL).respond(200, json=prediction("canceled"))
    stream_route = mock_http.get(STREAM_URL)
    mock_http.post(OLLAMA_CHAT_URL).respond(200, text=ollama_stream_body())
    router = make_router([replicate(cold_boot_timeout=0), ollama()])

    texts, reply = await collect(router)

    assert texts == ["Hi from", " Ollama."]
    assert reply.provider == "ollama"
    assert reply.route[0].error == "ColdStartError"
    assert cancel.call_count == 1
    assert stream_route.call_count == 0


# -- terminal failure statuses ------------------------------------------------------------------


@pytest.mark.parametrize("http_status", [200, 201])
async def test_failed_prediction_on_http_success_is_unavailable(
    mock_http: respx.MockRouter, make_router: RouterFactory, http_status: int
) -> None:
    payload = prediction("failed")
    mock_http.post(CREATE_URL).respond(http_status, json=payload)
    router = make_router([replicate()])

    with pytest.raises(AllDeploymentsFailedError) as info:
        await router.chat(MODEL, USER_HI)

    (error,) = info.value.errors
    assert type(error) is ProviderUnavailableError
    assert payload["error"] in error.message
    assert "failed" in error.message
    assert (error.provider, error.deployment) == ("replicate", NAME)


async def test_failed_prediction_seen_while_polling(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(CREATE_URL).respond(201, json=prediction("starting"))
    poll = mock_http.get(GET_URL).respond(200, json=prediction("failed"))
    router = make_router([replicate()])

    with pytest.raises(AllDeploymentsFailedError) as info:
        await router.chat(MODEL, USER_HI)

    assert poll.call_count == 1
    assert isinstance(info.value.errors[0], ProviderUnavailableError)
    assert "CUDA error: out of memory" in str(info.value.errors[0])


async def test_canceled_prediction_is_unavailable(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(CREATE_URL).respond(201, json=prediction("canceled"))
    router = make_router([replicate()])

    with pytest.raises(AllDeploymentsFailedError) as info:
        await router.chat(MODEL, USER_HI)

    (error,) = info.value.errors
    assert type(error) is ProviderUnavailableError
    assert "canceled" in error.message


async def test_failed_prediction_fails_over(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(CREATE_URL).respond(201, json=prediction("failed"))
    mock_http.post(OLLAMA_CHAT_URL).respond(200, json=OLLAMA_REPLY)
    router = make_router([replicate(), ollama()])

    reply = await router.chat(MODEL, USER_HI)

    assert reply.text == "Hi from Ollama."
    assert [a.error for a in reply.route] == ["ProviderUnavailableError", None]


# -- streaming ----------------------------------------------------------------------------------


async def test_stream_output_events_then_usage_from_the_prediction(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    final = prediction("succeeded")
    create = mock_http.post(CREATE_URL).respond(201, json=prediction("starting"))
    stream_route = mock_http.get(STREAM_URL).mock(return_value=sse_response("stream_ok"))
    poll = mock_http.get(GET_URL).respond(200, json=final)
    router = make_router([replicate()])

    texts, reply = await collect(router)

    # "data:  How" keeps the token's own space; two data lines join with "\n".
    assert texts == ["Hello", "!", " How can I help?", " Line one\nline two"]
    assert reply.text == "".join(texts)
    assert "Prefer" not in create.calls.last.request.headers
    assert sent_json(create) == {"input": {"prompt": "Say hi."}, "stream": True}
    stream_request = stream_route.calls.last.request
    assert stream_request.headers["Accept"] == "text/event-stream"
    assert stream_request.headers["Authorization"] == f"Bearer {FAKE_KEYS['REPLICATE_API_TOKEN']}"
    # Usage is read once, after done.
    assert poll.call_count == 1
    assert [call.request.url for call in mock_http.calls] == [
        httpx.URL(CREATE_URL),
        httpx.URL(STREAM_URL),
        httpx.URL(GET_URL),
    ]
    metrics = final["metrics"]
    assert reply.usage.prompt_tokens == metrics["input_token_count"]
    assert reply.usage.completion_tokens == metrics["output_token_count"]
    assert reply.provider_timings.generation_s == metrics["predict_time"]
    assert reply.provider_timings.time_to_first_token_s == metrics["time_to_first_token"]
    assert reply.cost_usd == pytest.approx(expected_cost(metrics))
    assert reply.finish_reason == "stop"
    assert reply.provider_model == final["model"]


async def test_stream_finish_reason_length_at_the_cap(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    final = prediction("succeeded")
    cap = final["metrics"]["output_token_count"]
    create = mock_http.post(CREATE_URL).respond(201, json=prediction("starting"))
    mock_http.get(STREAM_URL).mock(return_value=sse_response("stream_ok"))
    mock_http.get(GET_URL).respond(200, json=final)
    router = make_router([replicate()])

    _, reply = await collect(router, max_tokens=cap)

    assert reply.finish_reason == "length"
    assert sent_json(create)["input"]["max_tokens"] == cap


async def test_stream_error_event_after_text_interrupts_with_partial_text(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(CREATE_URL).respond(201, json=prediction("starting"))
    mock_http.get(STREAM_URL).mock(return_value=sse_response("stream_error_after_text"))
    poll = mock_http.get(GET_URL)
    fallback = mock_http.post(OLLAMA_CHAT_URL)
    router = make_router([replicate(), ollama()])
    events: list[StreamEvent] = []

    with pytest.raises(StreamInterruptedError) as info:
        await drain(router.stream(MODEL, USER_HI), events)

    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hello", " there"]
    assert info.value.partial_text == "Hello there"
    assert "CUDA error: out of memory" in str(info.value)
    assert isinstance(info.value.__cause__, ProviderUnavailableError)
    assert (info.value.provider, info.value.deployment) == ("replicate", NAME)
    assert fallback.call_count == 0  # text was delivered: no transparent failover
    assert poll.call_count == 0


async def test_stream_done_with_reason_canceled_is_an_error(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(CREATE_URL).respond(201, json=prediction("starting"))
    mock_http.get(STREAM_URL).mock(return_value=sse_response("stream_done_canceled"))
    poll = mock_http.get(GET_URL)
    router = make_router([replicate()])

    with pytest.raises(StreamInterruptedError) as info:
        await collect(router)

    assert info.value.partial_text == "Hello"
    assert "canceled" in str(info.value)
    assert isinstance(info.value.__cause__, ProviderUnavailableError)
    assert poll.call_count == 0


async def test_stream_without_done_is_truncated(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(CREATE_URL).respond(201, json=prediction("starting"))
    mock_http.get(STREAM_URL).mock(return_value=sse_response("stream_truncated"))
    poll = mock_http.get(GET_URL)
    router = make_router([replicate()])

    with pytest.raises(StreamInterruptedError) as info:
        await collect(router)

    assert info.value.partial_text == "Hello wor"
    assert "truncated" in str(info.value)
    assert poll.call_count == 0


async def test_stream_408_comment_is_a_timeout(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(CREATE_URL).respond(201, json=prediction("starting"))
    mock_http.get(STREAM_URL).mock(return_value=sse_response("stream_timeout_408"))
    router = make_router([replicate()])

    with pytest.raises(AllDeploymentsFailedError) as info:
        await collect(router)

    (error,) = info.value.errors
    assert isinstance(error, ProviderTimeoutError)
    assert "408" in error.message
    assert (error.provider, error.deployment) == ("replicate", NAME)


async def test_stream_error_before_text_fails_over_transparently(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(CREATE_URL).respond(201, json=prediction("starting"))
    mock_http.get(STREAM_URL).mock(return_value=sse_response("stream_error_first"))
    fallback = mock_http.post(OLLAMA_CHAT_URL).respond(200, text=ollama_stream_body())
    router = make_router([replicate(), ollama()])

    texts, reply = await collect(router)

    assert texts == ["Hi from", " Ollama."]
    assert reply.text == "Hi from Ollama."
    assert reply.provider == "ollama"
    assert [(a.deployment, a.error) for a in reply.route] == [
        (NAME, "ProviderUnavailableError"),
        ("ollama/llama3:8b", None),
    ]
    assert fallback.call_count == 1


async def test_stream_url_http_error_is_mapped(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(CREATE_URL).respond(201, json=prediction("starting"))
    mock_http.get(STREAM_URL).respond(500, json={"detail": "stream backend unavailable"})
    router = make_router([replicate()])

    with pytest.raises(AllDeploymentsFailedError) as info:
        await collect(router)

    (error,) = info.value.errors
    assert type(error) is ProviderUnavailableError
    assert error.status_code == 500
    assert "stream backend unavailable" in error.message


async def test_stream_failed_at_create_never_opens_the_stream(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(CREATE_URL).respond(201, json=prediction("failed"))
    stream_route = mock_http.get(STREAM_URL)
    router = make_router([replicate()])

    with pytest.raises(AllDeploymentsFailedError) as info:
        await collect(router)

    assert isinstance(info.value.errors[0], ProviderUnavailableError)
    assert "CUDA error: out of memory" in str(info.value.errors[0])
    assert stream_route.call_count == 0


# -- HTTP and transport errors on create ---------------------------------------------------------


async def test_reply_without_status_is_malformed(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    payload = prediction("succeeded")
    del payload["status"]
    mock_http.post(CREATE_URL).respond(201, json=payload)
    backend = make_router([replicate()]).deployments[0]

    with pytest.raises(MalformedResponseError) as info:
        await backend.chat(user_request())

    assert "status" in info.value.message
    assert info.value.provider == "replicate"


async def test_succeeded_prediction_without_output_is_malformed(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(CREATE_URL).respond(201, json=prediction("succeeded", output=None))
    backend = make_router([replicate()]).deployments[0]

    with pytest.raises(MalformedResponseError):
        await backend.chat(user_request())


# -- the SDK's retry layer is off -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (503, ProviderUnavailableError),
        (429, RateLimitedError),
        (504, ProviderTimeoutError),
    ],
)
async def test_poll_errors_are_not_retried_by_the_sdk(
    mock_http: respx.MockRouter,
    make_router: RouterFactory,
    status: int,
    expected: type[ProviderError],
) -> None:
    """The SDK's RetryTransport would retry a GET up to 10 times on 429/503/504."""
    mock_http.post(CREATE_URL).respond(201, json=prediction("starting"))
    poll = mock_http.get(GET_URL).respond(status, json={"detail": "try again later"})
    backend = make_router([replicate()]).deployments[0]

    with pytest.raises(ProviderError) as info:
        await backend.chat(user_request())

    assert poll.call_count == 1
    assert type(info.value) is expected
    assert info.value.status_code == status


# -- the exact input sent ------------------------------------------------------------------------


async def test_single_user_turn_sends_prompt_and_system_prompt(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    create = mock_http.post(CREATE_URL).respond(201, json=prediction("succeeded"))
    router = make_router([replicate()])

    await router.chat(
        MODEL,
        [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Say hi."},
        ],
    )

    assert sent_json(create) == {"input": {"prompt": "Say hi.", "system_prompt": "You are terse."}}


async def test_multi_turn_sends_the_rendered_llama3_prompt(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    create = mock_http.post(CREATE_URL).respond(201, json=prediction("succeeded"))
    router = make_router([replicate()])

    await router.chat(
        MODEL,
        [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "4"},
            {"role": "user", "content": "And 3+3?"},
        ],
    )

    assert sent_json(create) == {
        "input": {
            "prompt": (
                "<|begin_of_text|>"
                "<|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
                "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
                "<|start_header_id|>assistant<|end_header_id|>\n\n4<|eot_id|>"
                "<|start_header_id|>user<|end_header_id|>\n\nAnd 3+3?<|eot_id|>"
                "<|start_header_id|>assistant<|end_header_id|>\n\n"
            ),
            "prompt_template": "{prompt}",
        }
    }


async def test_settings_are_sent_as_replicate_inputs(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    create = mock_http.post(CREATE_URL).respond(201, json=prediction("succeeded"))
    router = make_router([replicate()])

    await router.chat(
        MODEL, USER_HI, max_tokens=64, temperature=0.2, top_p=0.9, stop=["</s>", "User:"]
    )

    assert sent_json(create) == {
        "input": {
            "prompt": "Say hi.",
            "max_tokens": 64,
            "temperature": 0.2,
            "top_p": 0.9,
            "stop_sequences": "</s>,User:",
        }
    }


TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.mark.parametrize(
    ("settings", "feature"),
    [
        ({"stop": ["a,b"]}, "cannot contain a comma"),
        ({"tools": [TOOL]}, "does not support tools"),
        ({"response_format": "json"}, "does not support JSON mode"),
        ({"seed": 7}, "does not support seed"),
    ],
)
async def test_unsupported_features_are_refused_before_any_request(
    mock_http: respx.MockRouter,
    make_router: RouterFactory,
    settings: dict[str, Any],
    feature: str,
) -> None:
    create = mock_http.post(CREATE_URL).respond(201, json=prediction("succeeded"))
    router = make_router([replicate()])

    with pytest.raises(NoDeploymentAvailableError) as info:
        await router.chat(MODEL, USER_HI, **settings)

    (reason,) = info.value.reasons.values()
    assert feature in reason
    assert create.call_count == 0
    assert len(mock_http.calls) == 0


# -- health ---------------------------------------------------------------------------------------


async def test_health_ok_when_the_account_answers(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    account = mock_http.get(ACCOUNT_URL).respond(
        200, json=json.loads(fixture_text("replicate/account.json"))
    )
    router = make_router([replicate()])

    reports = await router.health()

    report = reports[NAME]
    assert report.ok is True
    assert account.call_count == 1
    assert account.calls.last.request.headers["Authorization"] == (
        f"Bearer {FAKE_KEYS['REPLICATE_API_TOKEN']}"
    )


async def test_health_not_ok_on_401(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.get(ACCOUNT_URL).respond(
        401,
        json={
            "title": "Unauthenticated",
            "detail": "You did not pass a valid authentication token",
            "status": 401,
        },
    )
    router = make_router([replicate()])

    reports = await router.health()

    report = reports[NAME]
    assert report.ok is False
    assert "AuthenticationError" in report.detail
    assert "valid authentication token" in report.detail


async def test_health_not_ok_when_unreachable(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.get(ACCOUNT_URL).mock(side_effect=httpx.ConnectError("[Errno 111] refused"))
    router = make_router([replicate()])

    report = (await router.health())[NAME]

    assert report.ok is False
    assert "ProviderUnreachableError" in report.detail


async def test_stream_usage_repolls_while_the_prediction_is_still_processing(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    final = prediction("succeeded")
    mock_http.post(CREATE_URL).respond(201, json=prediction("processing"))
    mock_http.get(STREAM_URL).mock(return_value=sse_response("stream_ok"))
    poll = mock_http.get(GET_URL)
    poll.side_effect = [
        httpx.Response(200, json=prediction("processing")),
        httpx.Response(200, json=prediction("processing")),
        httpx.Response(200, json=final),
    ]
    router = make_router([replicate()])

    _, reply = await collect(router)

    assert poll.call_count == 3  # processing twice after done, then the metrics
    assert reply.usage.known is True
    assert reply.usage.completion_tokens == final["metrics"]["output_token_count"]
    assert reply.cost_usd == pytest.approx(expected_cost(final["metrics"]))


async def test_stream_usage_that_never_arrives_is_unknown_not_zero(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    mock_http.post(CREATE_URL).respond(201, json=prediction("processing"))
    mock_http.get(STREAM_URL).mock(return_value=sse_response("stream_ok"))
    poll = mock_http.get(GET_URL).respond(200, json=prediction("processing"))
    router = make_router([replicate()])

    texts, reply = await collect(router)

    assert poll.call_count == 4  # one GET and at most 3 more: bounded
    assert reply.text == "".join(texts)
    assert reply.usage.known is False
    assert reply.route[-1].cost_usd is None
    assert reply.cost_usd is None
