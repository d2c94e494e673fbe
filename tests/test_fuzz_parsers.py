"""Property-based fuzzing of every reply parser: random JSON, random bytes and random
SSE / NDJSON framing go in; only a result or one of our typed errors comes out."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator
from typing import Any

import httpx
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llama_router import Deployment, LlamaRouterError, ProviderError, Router
from llama_router.backends.base import BackendResult, error_for_status, error_info
from llama_router.backends.openai_wire import OpenAIStreamParser, parse_chat_completion
from llama_router.ratelimits import parse_duration, parse_rate_limits, parse_retry_after
from llama_router.responses import TextDelta
from llama_router.routing.options import RetryPolicy
from tests.conftest import FAKE_KEYS

FAST = settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
WIRE = settings(
    max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)

scalars = (
    st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.floats() | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "choices",
                    "message",
                    "content",
                    "delta",
                    "usage",
                    "error",
                    "code",
                    "prompt_tokens",
                    "completion_tokens",
                    "finish_reason",
                    "timings",
                    "x_groq",
                    "model",
                    "text",
                ]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)


def check_result(result: BackendResult) -> None:
    assert isinstance(result.text, str)
    assert result.usage.prompt_tokens >= 0
    assert result.usage.completion_tokens >= 0
    for value in (
        result.timings.total_s,
        result.timings.generation_s,
        result.timings.output_tokens_per_second,
    ):
        assert value is None or (math.isfinite(value) and value >= 0)


@FAST
@given(json_values)
def test_chat_completion_bodies(data: Any) -> None:
    with contextlib.suppress(LlamaRouterError):
        check_result(parse_chat_completion(data, provider="p", deployment="d"))


@FAST
@given(json_values | st.binary(max_size=40), st.none() | st.integers(100, 599))
def test_error_bodies(body: Any, status: int | None) -> None:
    message, etype, code = error_info(body)
    assert isinstance(message, str)
    assert etype is None or isinstance(etype, str)
    assert code is None or isinstance(code, str)
    assert isinstance(error_for_status(status, body, provider="p", deployment="d"), ProviderError)


lines = st.lists(
    st.one_of(
        st.builds(lambda v: "data: " + __import__("json").dumps(v), json_values),
        st.just("data: [DONE]"),
        st.builds(lambda v: "error: " + __import__("json").dumps(v), json_values),
        st.sampled_from(["", ": ping", "event: output", "id: 1", "data: {", "data:"]),
        st.text(max_size=30),
    ),
    max_size=12,
)


async def _aiter(items: list[str]) -> AsyncIterator[str]:
    for item in items:
        yield item


@FAST
@given(lines)
def test_openai_stream_framing(framing: list[str]) -> None:
    async def run() -> None:
        texts: list[str] = []
        results: list[BackendResult] = []
        try:
            async for item in OpenAIStreamParser(provider="p", deployment="d").events(
                _aiter(framing)
            ):
                if isinstance(item, BackendResult):
                    results.append(item)
                elif isinstance(item, TextDelta):
                    texts.append(item.text)
        except LlamaRouterError:
            return
        assert len(results) == 1
        assert results[0].text == "".join(texts)
        check_result(results[0])

    asyncio.run(run())


@FAST
@given(st.text(max_size=30))
def test_rate_limit_headers(value: str) -> None:
    seconds = parse_duration(value)
    assert seconds is None or seconds >= 0
    headers = {  # a plain mapping: httpx.Headers itself refuses non-ASCII values
        "retry-after": value,
        "x-ratelimit-reset-tokens": value,
        "x-ratelimit-remaining-tokens": value,
    }
    after = parse_retry_after(headers)
    assert after is None or after >= 0
    parse_rate_limits(headers)


BODIES = st.binary(max_size=200) | lines.map(lambda ls: "\n".join(ls).encode())
CHAT_URLS = {
    "ollama": "http://127.0.0.1:11434/api/chat",
    "llamacpp": "http://127.0.0.1:8080/v1/chat/completions",
    "groq": "https://api.groq.com/openai/v1/chat/completions",
}


@WIRE
@given(st.sampled_from(sorted(CHAT_URLS)), BODIES, st.booleans())
def test_whole_backends_over_random_replies(provider: str, body: bytes, stream: bool) -> None:
    async def run() -> None:
        with respx.MockRouter(assert_all_called=False) as mock:
            mock.post(CHAT_URLS[provider]).mock(return_value=httpx.Response(200, content=body))
            router = Router(
                [Deployment(provider=provider, model="llama-3.1-8b")],  # type: ignore[arg-type]
                transport=httpx.MockTransport(mock.async_handler),
                env=FAKE_KEYS,
                retry=RetryPolicy(max_retries=0),
            )
            async with router:
                try:
                    if stream:
                        async with router.stream(
                            "llama-3.1-8b", [{"role": "user", "content": "x"}]
                        ) as s:
                            check_result_response = await s.get_response()
                    else:
                        check_result_response = await router.chat(
                            "llama-3.1-8b", [{"role": "user", "content": "x"}]
                        )
                except LlamaRouterError:
                    return
                assert check_result_response.usage.completion_tokens >= 0

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(run())
    finally:
        loop.close()
