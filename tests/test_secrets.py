"""API keys never appear in reprs, exception text, tracebacks or log records, under success
and under every kind of failure."""

from __future__ import annotations

import logging
import traceback
from typing import Any

import httpx
import pytest
import respx

from llama_router import Deployment, LlamaRouterError, Router, TextDelta

from .conftest import FAKE_KEYS, USER_HI, RouterFactory, sse

GROQ = "https://api.groq.com/openai/v1/chat/completions"
TOGETHER = "https://api-inference.together.ai/v1/chat/completions"
REPLICATE = "https://api.replicate.com/v1/models/meta/meta-llama-3-8b-instruct/predictions"
LOCAL = "http://127.0.0.1:8000/v1/chat/completions"
LOCAL_KEY = "sk-local-TESTKEY-0123456789"
ALL_KEYS = [*FAKE_KEYS.values(), LOCAL_KEY]

FAILURES: list[Any] = [
    httpx.Response(
        401,
        json={
            "error": {
                "message": "Invalid API Key",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }
        },
    ),
    httpx.Response(
        429,
        json={
            "error": {
                "message": "Rate limit reached",
                "type": "tokens",
                "code": "rate_limit_exceeded",
            }
        },
        headers={"retry-after": "2", "x-ratelimit-reset-tokens": "7.66s"},
    ),
    httpx.Response(500, text="<html>internal error</html>"),
    httpx.Response(200, text="not json"),
    httpx.ConnectError("connection refused"),
    httpx.ReadTimeout("timed out"),
]


def deployments() -> list[Deployment]:
    return [
        Deployment(provider="groq", model="llama-3-70b", model_id="llama-3.3-70b-versatile"),
        Deployment(provider="together", model="llama-3-70b"),
        Deployment(
            provider="replicate",
            model="llama-3-70b",
            model_id="meta/meta-llama-3-8b-instruct",
            poll_interval=0,
        ),
        Deployment(
            provider="openai_compatible",
            model="llama-3-70b",
            model_id="m",
            base_url="http://127.0.0.1:8000/v1",
            api_key=LOCAL_KEY,
        ),
    ]


def exception_texts(exc: BaseException) -> list[str]:
    texts: list[str] = []
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        texts += [str(current), repr(current)]
        texts.append("".join(traceback.format_exception(current)))
        for attr in ("errors",):
            stack.extend(getattr(current, attr, ()) or ())
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                stack.append(linked)
    return texts


def assert_no_key(texts: list[str]) -> None:
    for text in texts:
        for key in ALL_KEYS:
            assert key not in text, f"key leaked into: {text[:300]}"


@pytest.mark.parametrize(
    "failure", FAILURES, ids=lambda f: getattr(f, "status_code", None) or type(f).__name__
)
async def test_no_key_in_errors_or_logs(
    failure: Any,
    mock_http: respx.MockRouter,
    make_router: RouterFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    for url in (GROQ, TOGETHER, REPLICATE, LOCAL):
        if isinstance(failure, Exception):
            mock_http.post(url).mock(side_effect=failure)
        else:
            mock_http.post(url).mock(return_value=failure)
    router = make_router(deployments())

    texts: list[str] = [repr(router), str(router)]
    texts += [repr(b.target) for b in router.deployments]
    texts += [repr(d) for d in deployments()]
    for call in (router.chat, None):
        try:
            if call is None:
                async with router.stream("llama-3-70b", USER_HI) as stream:
                    async for _ in stream:
                        pass
            else:
                await call("llama-3-70b", USER_HI)
        except LlamaRouterError as exc:
            texts += exception_texts(exc)
            texts += [repr(a) for a in getattr(exc, "route", ())]
        else:
            pytest.fail("expected a failure")

    texts += [record.getMessage() for record in caplog.records]
    texts += [caplog.text]
    assert_no_key(texts)
    # The keys were really sent, to their own hosts only.
    sent = {
        call.request.url.host: call.request.headers.get("authorization") for call in mock_http.calls
    }
    assert sent["api.groq.com"] == f"Bearer {FAKE_KEYS['GROQ_API_KEY']}"
    assert sent["api-inference.together.ai"] == f"Bearer {FAKE_KEYS['TOGETHER_API_KEY']}"
    assert sent["api.replicate.com"] == f"Bearer {FAKE_KEYS['REPLICATE_API_TOKEN']}"
    assert sent["127.0.0.1"] == f"Bearer {LOCAL_KEY}"


async def test_no_key_in_successful_responses_or_logs(
    mock_http: respx.MockRouter, make_router: RouterFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    chunk = (
        '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
        '"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}]}'
    )
    mock_http.post(GROQ).mock(
        return_value=httpx.Response(
            200, text=sse(chunk), headers={"content-type": "text/event-stream"}
        )
    )
    router = make_router([deployments()[0]])
    async with router.stream("llama-3-70b", USER_HI) as stream:
        texts: list[str] = []
        async for event in stream:
            texts.append(repr(event))
            if isinstance(event, TextDelta):
                assert event.text == "hi"
    texts += [stream.response.model_dump_json(), caplog.text]
    assert_no_key(texts)


def test_deployment_repr_and_dump_hide_the_key() -> None:
    deployment = Deployment(
        provider="groq", model="llama-3.1-8b", api_key=FAKE_KEYS["GROQ_API_KEY"]
    )
    assert_no_key(
        [
            repr(deployment),
            str(deployment),
            deployment.model_dump_json(),
            str(deployment.model_dump()),
        ]
    )


async def test_router_repr_hides_keys() -> None:
    router = Router([Deployment(provider="groq", model="llama-3.1-8b")], env=FAKE_KEYS)
    try:
        assert_no_key([repr(router), repr(router.deployments[0].target), str(vars(router))])
    finally:
        await router.aclose()


@pytest.mark.parametrize("provider", ["groq", "together", "replicate"])
def test_plain_http_to_a_remote_host_is_refused_for_keyed_deployments(provider: str) -> None:
    from llama_router import ConfigurationError, ModelCatalog
    from llama_router.deployments import resolve_deployment

    model = "llama-3-8b" if provider == "replicate" else "llama-3.1-8b"
    insecure = Deployment(provider=provider, model=model, base_url="http://gateway.example.com")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError) as info:
        resolve_deployment(insecure, ModelCatalog.default(), FAKE_KEYS)
    assert "clear text" in str(info.value)
    assert "allow_insecure_http=True" in str(info.value)
    assert_no_key([str(info.value)])
    allowed = insecure.model_copy(update={"allow_insecure_http": True})
    assert resolve_deployment(allowed, ModelCatalog.default(), FAKE_KEYS).base_url
    loopback = insecure.model_copy(update={"base_url": "http://127.0.0.1:9000"})
    assert resolve_deployment(loopback, ModelCatalog.default(), FAKE_KEYS).base_url


def test_keyless_local_servers_may_use_plain_http() -> None:
    from llama_router import ConfigurationError, ModelCatalog
    from llama_router.deployments import resolve_deployment

    lan = Deployment(provider="llamacpp", model="m", base_url="http://192.0.2.10:8080")
    assert resolve_deployment(lan, ModelCatalog.default(), {}).base_url == "http://192.0.2.10:8080"
    keyed = lan.model_copy(update={"api_key": LOCAL_KEY})
    with pytest.raises(ConfigurationError, match="clear text"):
        resolve_deployment(keyed, ModelCatalog.default(), {})
