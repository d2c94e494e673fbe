from __future__ import annotations

import httpx
import pytest

from llama_router.ratelimits import parse_duration, parse_rate_limits, parse_retry_after


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2", 2.0),
        ("0.5", 0.5),
        ("7.66s", 7.66),
        ("2m59.56s", 179.56),
        ("940ms", 0.94),
        ("1h2m3s", 3723.0),
        ("250us", 0.00025),
    ],
)
def test_go_durations_and_plain_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "5 minutes", "2m-3s", "s", None])
def test_unparseable_durations_are_none(text: str | None) -> None:
    assert parse_duration(text) is None


def test_retry_after_forms() -> None:
    assert parse_retry_after(httpx.Headers({"retry-after": "30"})) == 30.0
    assert parse_retry_after(httpx.Headers({"retry-after-ms": "1500", "retry-after": "9"})) == 1.5
    date = "Wed, 21 Oct 2015 07:28:30 GMT"  # 30 s after "now" below
    assert parse_retry_after(httpx.Headers({"retry-after": date}), now=1445412480.0) == 30.0
    assert parse_retry_after(httpx.Headers({"retry-after": "garbage"})) is None
    assert parse_retry_after(httpx.Headers({})) is None


def test_groq_headers_requests_per_day_tokens_per_minute() -> None:
    info = parse_rate_limits(
        httpx.Headers(
            {
                "x-ratelimit-limit-requests": "14400",
                "x-ratelimit-remaining-requests": "14370",
                "x-ratelimit-reset-requests": "2m59.56s",
                "x-ratelimit-limit-tokens": "18000",
                "x-ratelimit-remaining-tokens": "17997",
                "x-ratelimit-reset-tokens": "7.66s",
                "retry-after": "2",
            }
        )
    )
    assert (info.limit_requests, info.remaining_requests) == (14400, 14370)
    assert info.reset_requests == pytest.approx(179.56)
    assert (info.limit_tokens, info.remaining_tokens) == (18000, 17997)
    assert info.reset_tokens == pytest.approx(7.66)
    assert info.retry_after == 2.0
    assert not info.is_empty


def test_together_headers() -> None:
    info = parse_rate_limits(
        httpx.Headers(
            {
                "x-ratelimit-limit": "10",
                "x-ratelimit-remaining": "3",
                "x-ratelimit-reset": "1",
                "x-tokenlimit-limit": "2000",
                "x-tokenlimit-remaining": "150",
            }
        )
    )
    assert (info.limit_requests, info.remaining_requests, info.reset_requests) == (10, 3, 1.0)
    assert (info.limit_tokens, info.remaining_tokens) == (2000, 150)


def test_no_headers_is_empty() -> None:
    assert parse_rate_limits(httpx.Headers({"content-type": "application/json"})).is_empty
