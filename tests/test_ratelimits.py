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


# -- every provider's headers, one table ---------------------------------------------------------
# (headers as sent, the figures they must give). Names from recorded replies and the IETF
# RateLimit draft; see tests/fixtures/SOURCES.md.
HEADER_TABLE = [
    pytest.param(
        {
            "x-ratelimit-limit-requests": "14400",
            "x-ratelimit-remaining-requests": "14399",
            "x-ratelimit-reset-requests": "6s",
            "x-ratelimit-limit-tokens": "6000",
            "x-ratelimit-remaining-tokens": "5963",
            "x-ratelimit-reset-tokens": "370ms",
            "x-groq-region": "dls",
            "x-request-id": "req_1",
        },
        {
            "limit_requests": 14400,
            "remaining_requests": 14399,
            "reset_requests": 6.0,
            "limit_tokens": 6000,
            "remaining_tokens": 5963,
            "reset_tokens": 0.37,
        },
        id="groq-success",
    ),
    pytest.param(
        {"retry-after": "35"},
        {"retry_after": 35.0},
        id="groq-429-retry-after",
    ),
    pytest.param(
        {
            "x-ratelimit-limit": "10",
            "x-ratelimit-remaining": "9",
            "x-ratelimit-reset": "1",
            "x-tokenlimit-limit": "200000",
            "x-tokenlimit-remaining": "199952",
            "retry-after": "2",
            "x-inference-version": "v2.7.1",
        },
        {
            "limit_requests": 10,
            "remaining_requests": 9,
            "reset_requests": 1.0,
            "limit_tokens": 200000,
            "remaining_tokens": 199952,
            "retry_after": 2.0,
        },
        id="together-success-with-retry-after",
    ),
    pytest.param(
        {"ratelimit-limit": "600", "ratelimit-remaining": "0", "ratelimit-reset": "12"},
        {"limit_requests": 600, "remaining_requests": 0, "reset_requests": 12.0},
        id="replicate-ietf-draft",
    ),
    pytest.param(
        {"RateLimit-Limit": "10, 10;w=1", "RateLimit-Remaining": "9", "RateLimit-Reset": "5"},
        {"limit_requests": 10, "remaining_requests": 9, "reset_requests": 5.0},
        id="ietf-quota-policy-list",
    ),
    pytest.param(
        {"RateLimit": '"default";r=50;t=30', "RateLimit-Policy": '"default";q=100;w=60'},
        {"limit_requests": 100, "remaining_requests": 50, "reset_requests": 30.0},
        id="ietf-structured",
    ),
    pytest.param(
        {"RateLimit": "limit=100, remaining=0, reset=7"},
        {"limit_requests": 100, "remaining_requests": 0, "reset_requests": 7.0},
        id="ietf-structured-named",
    ),
    pytest.param(
        {
            "x-ratelimit-limit-requests": "100",
            "x-ratelimit-remaining-requests": "1",
            "ratelimit-limit": "600",
            "ratelimit-remaining": "0",
        },
        {"limit_requests": 100, "remaining_requests": 1},
        id="x-prefixed-wins",
    ),
    pytest.param(
        {"ratelimit-remaining": "lots", "ratelimit-reset": "soon"},
        {},
        id="garbage-is-ignored",
    ),
    pytest.param({"x-request-id": "abc", "content-type": "application/json"}, {}, id="none"),
]


@pytest.mark.parametrize(("headers", "expected"), HEADER_TABLE)
def test_header_table(headers: dict[str, str], expected: dict[str, float]) -> None:
    info = parse_rate_limits(httpx.Headers(headers))
    fields = (
        "limit_requests", "remaining_requests", "reset_requests",
        "limit_tokens", "remaining_tokens", "reset_tokens", "retry_after",
    )  # fmt: skip
    for name in fields:
        want = expected.get(name)
        got = getattr(info, name)
        assert got == (pytest.approx(want) if want is not None else None), name


def test_ietf_reset_given_as_a_unix_time_is_made_relative() -> None:
    import time

    info = parse_rate_limits(
        httpx.Headers({"ratelimit-remaining": "0", "ratelimit-reset": str(int(time.time()) + 30)})
    )
    assert info.reset_requests is not None
    assert 28.0 <= info.reset_requests <= 31.0
