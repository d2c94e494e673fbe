"""One classification for HTTP error replies and in-stream error events (issue: wire
fidelity). The same failure gets the same class, status and retry decision whichever way
it arrives; a per-minute token quota is a rate limit, not a context overflow. Fixture
sources: tests/fixtures/SOURCES.md."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from llama_router import (
    AllDeploymentsFailedError,
    ContextLengthExceededError,
    Deployment,
    InvalidRequestError,
    ProviderUnavailableError,
    RateLimitedError,
    TextDelta,
)
from llama_router.backends.base import error_for_status, retry_hint
from llama_router.routing.options import RetryPolicy
from llama_router.routing.outcomes import failover_scope, retry_here
from tests.conftest import USER_HI, RouterFactory, fixture_text, sse

FIXTURES = Path(__file__).parents[1] / "fixtures"
GROQ_CHAT = "https://api.groq.com/openai/v1/chat/completions"
TOGETHER_CHAT = "https://api-inference.together.ai/v1/chat/completions"
TGI_CHAT = "http://127.0.0.1:9/v1/chat/completions"
MODEL = "llama-3.1-8b"


def together_text(text: str) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "id": "x",
            "object": "chat.completion",
            "created": 1,
            "model": "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
        },
    )


def together_stream(text: str) -> httpx.Response:
    chunk = {
        "id": "x",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": "stop"}],
    }
    return httpx.Response(
        200, text=sse(json.dumps(chunk)), headers={"content-type": "text/event-stream"}
    )


def deployments() -> list[Deployment]:
    return [
        Deployment(provider="groq", model=MODEL),
        Deployment(provider="together", model=MODEL),
    ]


async def stream_text(router: Any) -> tuple[str, Any]:
    async with router.stream(MODEL, USER_HI) as stream:
        text = "".join([e.text async for e in stream if isinstance(e, TextDelta)])
    return text, stream.response


# -- a token quota is not a context overflow ---------------------------------------------------


def test_groq_413_for_the_token_quota_is_a_rate_limit_not_a_context_overflow() -> None:
    body = fixture_text("groq/errors/413_tpm_quota.json")
    error = error_for_status(413, body, provider="groq", deployment="g")
    assert type(error) is RateLimitedError
    assert error.status_code == 413
    assert failover_scope(error) == "any"
    # a plain 413 (request body too large for the gateway) stays a context overflow
    plain = fixture_text("groq/errors/413_request_too_large.json")
    assert type(error_for_status(413, plain, provider="groq", deployment="g")) is (
        ContextLengthExceededError
    )


async def test_groq_413_token_quota_fails_over_to_together_in_chat(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    body = json.loads(fixture_text("groq/errors/413_tpm_quota.json"))
    groq = mock_http.post(GROQ_CHAT).mock(return_value=httpx.Response(413, json=body))
    together = mock_http.post(TOGETHER_CHAT).mock(return_value=together_text("from together"))
    reply = await make_router(deployments()).chat(MODEL, USER_HI)
    assert reply.text == "from together"
    assert (groq.call_count, together.call_count) == (1, 1)
    assert [(a.error, a.status_code) for a in reply.route] == [
        ("RateLimitedError", 413),
        (None, None),
    ]


async def test_groq_413_token_quota_fails_over_to_together_in_a_stream(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    body = json.loads(fixture_text("groq/errors/413_tpm_quota.json"))
    mock_http.post(GROQ_CHAT).mock(return_value=httpx.Response(413, json=body))
    mock_http.post(TOGETHER_CHAT).mock(return_value=together_stream("from together"))
    text, response = await stream_text(make_router(deployments()))
    assert text == "from together"
    assert response.route[0].error == "RateLimitedError"


# -- the same failure, the same class, in a body and in a stream -------------------------------


async def test_groq_tool_use_failed_is_an_invalid_request_in_chat_and_in_stream_alike(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    body = json.loads(fixture_text("groq/errors/400_tool_use_failed.json"))
    groq = mock_http.post(GROQ_CHAT).mock(return_value=httpx.Response(400, json=body))
    together = mock_http.post(TOGETHER_CHAT).mock(return_value=together_text("unused"))
    router = make_router(deployments(), retry=RetryPolicy(max_retries=2))
    with pytest.raises(InvalidRequestError, match="Failed to call a function") as chat:
        await router.chat(MODEL, USER_HI)

    groq.mock(
        return_value=httpx.Response(
            200,
            text=fixture_text("groq/stream_error_tool_use_failed.sse"),
            headers={"content-type": "text/event-stream"},
        )
    )
    with pytest.raises(InvalidRequestError, match="Failed to call a function") as streamed:
        await stream_text(router)

    for error in (chat.value, streamed.value):
        assert type(error) is InvalidRequestError
        assert error.status_code == 400
    assert groq.call_count == 2  # once each: no retry
    assert together.call_count == 0  # no failover


async def test_tgi_in_stream_validation_error_is_an_invalid_request(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    tgi = mock_http.post(TGI_CHAT).mock(
        return_value=httpx.Response(
            200,
            text=fixture_text("openai_compatible/stream_error_tgi_validation.sse"),
            headers={"content-type": "text/event-stream"},
        )
    )
    spare = mock_http.post(TOGETHER_CHAT).mock(return_value=together_stream("unused"))
    router = make_router(
        [
            Deployment(provider="openai_compatible", model=MODEL, base_url="http://127.0.0.1:9/v1"),
            Deployment(provider="together", model=MODEL),
        ],
        retry=RetryPolicy(max_retries=2),
    )
    with pytest.raises(InvalidRequestError, match="Input validation error"):
        await stream_text(router)
    assert (tgi.call_count, spare.call_count) == (1, 0)
    tgi.mock(
        return_value=httpx.Response(
            422, text=fixture_text("openai_compatible/error_tgi_validation.json")
        )
    )
    with pytest.raises(InvalidRequestError, match="Input validation error") as chat:
        await router.chat(MODEL, USER_HI)
    assert chat.value.status_code == 422


def error_fixtures() -> Iterator[tuple[str, int, dict[str, Any]]]:
    """Every OpenAI-style error body fixture with its HTTP status (from its name)."""
    for path in sorted(FIXTURES.glob("*/errors/*.json")):
        body = json.loads(path.read_text())
        status = int(path.name.split("_", 1)[0])
        if isinstance(body.get("error"), dict):
            yield f"{path.parent.parent.name}/{path.name}", status, body


@pytest.mark.parametrize(("name", "status", "body"), list(error_fixtures()))
def test_a_body_and_its_in_stream_form_classify_alike(
    name: str, status: int, body: dict[str, Any]
) -> None:
    in_stream = {"error": {**body["error"], "status_code": status}}
    whole = error_for_status(status, body, provider="p", deployment="d")
    streamed = error_for_status(None, in_stream, provider="p", deployment="d")
    assert type(whole) is type(streamed), name
    assert whole.status_code == streamed.status_code == status
    assert whole.retry_after == streamed.retry_after
    policy = RetryPolicy()
    assert retry_here(whole, policy) == retry_here(streamed, policy)
    assert failover_scope(whole) == failover_scope(streamed)


def test_an_in_stream_error_with_an_integer_code_takes_it_as_its_status() -> None:
    error = error_for_status(
        None, {"error": {"code": 503, "message": "busy"}}, provider="p", deployment="d"
    )
    assert (type(error), error.status_code) == (ProviderUnavailableError, 503)


# -- the retry hint only a message carries ---------------------------------------------------


@pytest.mark.parametrize(
    ("message", "seconds"),
    [
        ("Rate limit reached ... Please try again in 4.77s. Need more tokens?", 4.77),
        ("... on tokens per day (TPD): Limit 100000. Please try again in 9m38.016s.", 578.016),
        ("Please try again in 1m30.002s.", 90.002),
        ("please try again in 250ms", 0.25),
        ("please reduce your message size and try again.", None),
        ("Rate limit reached.", None),
    ],
)
def test_retry_hint_reads_go_durations_from_the_message(
    message: str, seconds: float | None
) -> None:
    hint = retry_hint(message)
    assert hint == (None if seconds is None else pytest.approx(seconds))


def test_a_429_with_no_headers_takes_its_retry_after_from_the_message() -> None:
    body = {
        "error": {"message": "Rate limit reached. Please try again in 1m30s.", "type": "tokens"}
    }
    error = error_for_status(429, body, provider="groq", deployment="g", headers={})
    assert isinstance(error, RateLimitedError)
    assert error.retry_after == pytest.approx(90.0)


def test_the_message_hint_never_overrides_a_header_and_never_picks_the_class() -> None:
    body = {"error": {"message": "Please try again in 30s.", "type": "server_error"}}
    headed = error_for_status(429, body, provider="g", deployment="g", headers={"retry-after": "2"})
    assert headed.retry_after == 2.0
    unavailable = error_for_status(503, body, provider="g", deployment="g", headers={})
    assert (type(unavailable), unavailable.retry_after) == (ProviderUnavailableError, None)


async def test_a_quota_error_everywhere_is_raised_as_a_rate_limit(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    body = json.loads(fixture_text("groq/errors/413_tpm_quota.json"))
    mock_http.post(GROQ_CHAT).mock(return_value=httpx.Response(413, json=body))
    with pytest.raises(AllDeploymentsFailedError) as info:
        await make_router([Deployment(provider="groq", model=MODEL)]).chat(MODEL, USER_HI)
    assert [type(e) for e in info.value.errors] == [RateLimitedError]


# -- the quota is learned: later large requests skip the deployment ----------------------------


def test_the_quota_comes_from_the_limit_header_else_the_message() -> None:
    body = fixture_text("groq/errors/413_tpm_quota.json")
    headed = error_for_status(
        413, body, provider="groq", deployment="g", headers={"x-ratelimit-limit-tokens": "5000"}
    )
    assert isinstance(headed, RateLimitedError)
    assert headed.token_quota == 5000
    bare = error_for_status(413, body, provider="groq", deployment="g", headers={})
    assert isinstance(bare, RateLimitedError)
    assert bare.token_quota == 6000  # "(TPM): Limit 6000" in the message
    ordinary = error_for_status(429, body, provider="groq", deployment="g", headers={})
    assert isinstance(ordinary, RateLimitedError)
    assert ordinary.token_quota is None


async def test_after_a_quota_413_large_requests_skip_groq_and_small_ones_still_use_it(
    mock_http: respx.MockRouter, make_router: RouterFactory
) -> None:
    body = json.loads(fixture_text("groq/errors/413_tpm_quota.json"))
    groq = mock_http.post(GROQ_CHAT).mock(return_value=httpx.Response(413, json=body))
    together = mock_http.post(TOGETHER_CHAT).mock(return_value=together_text("from together"))
    router = make_router(deployments())
    big = [{"role": "user", "content": "x" * 28_000}]  # ~7,000 tokens: over the 6,000 quota
    assert (await router.chat(MODEL, big)).text == "from together"
    assert groq.call_count == 1

    assert (await router.chat(MODEL, big)).text == "from together"
    assert together.call_count == 2
    assert groq.call_count == 1  # skipped: the request is larger than the learned quota
    explained = {row.deployment: row for row in (await router.explain(MODEL, big)).rows}
    assert "per-minute token quota (6000" in explained["groq/llama-3.1-8b-instant"].reason

    groq.mock(return_value=together_text("from groq"))
    assert (await router.chat(MODEL, USER_HI)).text == "from groq"  # small: no cooldown
