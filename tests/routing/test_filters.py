"""Every filter as a pure function over a synthetic routing context."""

from __future__ import annotations

import pytest

from llama_router.routing.filters import (
    AllOf,
    AnyOf,
    ExcludeTags,
    FitsContext,
    HasTags,
    Healthy,
    P95TtftBelow,
    Supported,
    WithinBudget,
    WithinTokenQuota,
    default_filters,
    first_rejection,
)

from .helpers import T0, make_candidate, make_context, rejections

# -- Healthy -------------------------------------------------------------------------------


def test_healthy_keeps_closed_and_past_cooldowns() -> None:
    ctx = make_context(
        [
            make_candidate("fresh"),
            make_candidate("cooled", available_at=T0, last_error="RateLimitedError"),
            make_candidate("half_open", circuit="half_open"),
        ]
    )
    assert rejections(Healthy(), ctx) == {"fresh": None, "cooled": None, "half_open": None}


def test_healthy_reasons() -> None:
    ctx = make_context(
        [
            make_candidate(
                "open", circuit="open", available_at=T0 + 12.5, last_error="ProviderTimeoutError"
            ),
            make_candidate("cooling", available_at=T0 + 30, last_error="RateLimitedError"),
            make_candidate("probing", circuit="half_open", probe_in_flight=True),
        ]
    )
    assert rejections(Healthy(), ctx) == {
        "open": "circuit open for 12.5 s more (ProviderTimeoutError)",
        "cooling": "cooling down for 30.0 s more (RateLimitedError)",
        "probing": "half-open: its one probe request is in flight",
    }


def test_healthy_uses_the_context_clock() -> None:
    cand = make_candidate("cooling", available_at=T0 + 30, last_error="RateLimitedError")
    assert Healthy().reject(make_context([cand], now=T0 + 29.9), cand) is not None
    assert Healthy().reject(make_context([cand], now=T0 + 30), cand) is None


# -- Supported / FitsContext ------------------------------------------------------------------


def test_supported_passes_through_the_unsupported_reason() -> None:
    ctx = make_context(
        [make_candidate("ok"), make_candidate("no_tools", unsupported="groq cannot do tools")]
    )
    assert rejections(Supported(), ctx) == {"ok": None, "no_tools": "groq cannot do tools"}


def test_fits_context_rejects_prompt_plus_output_over_the_window() -> None:
    ctx = make_context(
        [
            make_candidate("small", window=2047),
            make_candidate("exact", window=2048),
            make_candidate("large", window=131_072),
            make_candidate("unknown", window=None),
        ],
        prompt_tokens=1536,
        output_tokens=512,
    )
    assert rejections(FitsContext(), ctx) == {
        "small": "~1536 prompt + 512 output tokens exceed its 2047-token context window",
        "exact": None,
        "large": None,
        "unknown": None,
    }


# -- WithinBudget --------------------------------------------------------------------------

# prompt 1000, output 1000: (0.5, 1.5) per Mtok -> (500 + 1500) / 1e6 = $0.002
PRICED = (0.5, 1.5)


def test_within_budget_without_a_budget_keeps_everything() -> None:
    ctx = make_context(
        [make_candidate("priced", price=(1000.0, 1000.0)), make_candidate("unpriced")],
        prompt_tokens=1000,
        output_tokens=1000,
        budget_remaining=None,
    )
    assert rejections(WithinBudget(), ctx) == {"priced": None, "unpriced": None}


def test_within_budget_rejects_over_budget() -> None:
    cands = [
        make_candidate("priced", price=PRICED),
        make_candidate("free", price=(0.0, 0.0), tags=("local",)),
        make_candidate("unpriced"),
    ]
    tight = make_context(cands, prompt_tokens=1000, output_tokens=1000, budget_remaining=0.0019)
    assert tight.candidates[0].est_cost == pytest.approx(0.002)
    assert rejections(WithinBudget(), tight) == {
        "priced": "estimated $0.002000 exceeds the $0.001900 budget left",
        "free": None,
        "unpriced": None,  # unknown price: kept while some budget is left
    }
    enough = make_context(cands, prompt_tokens=1000, output_tokens=1000, budget_remaining=0.002)
    assert rejections(WithinBudget(), enough)["priced"] is None


def test_within_budget_once_spent_keeps_only_free_deployments() -> None:
    cands = [
        make_candidate("priced", price=PRICED),
        make_candidate("free", price=(0.0, 0.0), tags=("local",)),
        make_candidate("unpriced"),
    ]
    for remaining in (0.0, -0.5):
        ctx = make_context(
            cands, prompt_tokens=1000, output_tokens=1000, budget_remaining=remaining
        )
        assert rejections(WithinBudget(), ctx) == {
            "priced": "estimated $0.002000 exceeds the $0.000000 budget left",
            "free": None,
            "unpriced": "budget spent and its price is unknown",
        }


# -- tags -----------------------------------------------------------------------------------


def test_has_tags_needs_every_tag() -> None:
    ctx = make_context(
        [
            make_candidate("eu_cloud", tags=("cloud", "eu")),
            make_candidate("us_cloud", tags=("cloud",)),
            make_candidate("eu_local", tags=("local", "eu")),
        ]
    )
    assert rejections(HasTags("cloud", "eu"), ctx) == {
        "eu_cloud": None,
        "us_cloud": "lacks tag(s) eu",
        "eu_local": "lacks tag(s) cloud",
    }
    assert rejections(HasTags("gpu", "eu"), ctx)["us_cloud"] == "lacks tag(s) eu, gpu"


def test_exclude_tags_drops_any_match() -> None:
    ctx = make_context(
        [
            make_candidate("eu_cloud", tags=("cloud", "eu")),
            make_candidate("local", tags=("local",)),
        ]
    )
    assert rejections(ExcludeTags("local", "preview"), ctx) == {
        "eu_cloud": None,
        "local": "has excluded tag(s) local",
    }


# -- P95TtftBelow ---------------------------------------------------------------------------


def test_p95_ttft_below_is_strict_and_keeps_unknown() -> None:
    ctx = make_context(
        [
            make_candidate("fast", p95=0.25),
            make_candidate("borderline", p95=0.8),
            make_candidate("slow", p95=1.2),
            make_candidate("unknown"),
        ]
    )
    assert rejections(P95TtftBelow(0.8), ctx) == {
        "fast": None,
        "borderline": "p95 TTFT 800 ms is not under 800 ms",
        "slow": "p95 TTFT 1200 ms is not under 800 ms",
        "unknown": None,
    }


# -- composition ----------------------------------------------------------------------------


def test_and_needs_every_filter_and_reports_the_first_reason() -> None:
    combined = HasTags("eu") & P95TtftBelow(0.5)
    assert isinstance(combined, AllOf)
    ctx = make_context(
        [
            make_candidate("good", tags=("eu",), p95=0.2),
            make_candidate("slow_eu", tags=("eu",), p95=0.9),
            make_candidate("fast_us", tags=("us",), p95=0.2),
            make_candidate("slow_us", tags=("us",), p95=0.9),
        ]
    )
    assert rejections(combined, ctx) == {
        "good": None,
        "slow_eu": "p95 TTFT 900 ms is not under 500 ms",
        "fast_us": "lacks tag(s) eu",
        "slow_us": "lacks tag(s) eu",
    }


def test_or_keeps_if_either_keeps_and_joins_both_reasons() -> None:
    either = HasTags("local") | P95TtftBelow(0.5)
    assert isinstance(either, AnyOf)
    ctx = make_context(
        [
            make_candidate("slow_local", tags=("local",), p95=3.0),
            make_candidate("fast_cloud", p95=0.2),
            make_candidate("slow_cloud", p95=0.9),
        ]
    )
    assert rejections(either, ctx) == {
        "slow_local": None,
        "fast_cloud": None,
        "slow_cloud": "lacks tag(s) local and p95 TTFT 900 ms is not under 500 ms",
    }


def test_composition_nests() -> None:
    flt = (HasTags("eu") | HasTags("local")) & ExcludeTags("preview")
    ctx = make_context(
        [
            make_candidate("eu", tags=("cloud", "eu")),
            make_candidate("local", tags=("local",)),
            make_candidate("eu_preview", tags=("eu", "preview")),
            make_candidate("us", tags=("cloud",)),
        ]
    )
    verdicts = rejections(flt, ctx)
    assert verdicts["eu"] is None
    assert verdicts["local"] is None
    assert verdicts["eu_preview"] == "has excluded tag(s) preview"
    assert verdicts["us"] == "lacks tag(s) eu and lacks tag(s) local"


def test_default_filters_and_first_rejection() -> None:
    assert [type(f) for f in default_filters()] == [
        Healthy,
        Supported,
        FitsContext,
        WithinTokenQuota,
        WithinBudget,
    ]
    ctx = make_context(
        [
            make_candidate(
                "both", circuit="open", available_at=T0 + 5, last_error="E", unsupported="no"
            ),
            make_candidate("unsupported", unsupported="no json"),
            make_candidate("fine"),
        ]
    )
    reasons = {c.name: first_rejection(default_filters(), ctx, c) for c in ctx.candidates}
    assert reasons == {
        "both": "circuit open for 5.0 s more (E)",  # Healthy comes first
        "unsupported": "no json",
        "fine": None,
    }


def test_filter_reprs() -> None:
    assert repr(HasTags("eu", "cloud")) == "HasTags('cloud', 'eu')"
    assert repr(P95TtftBelow(0.8)) == "P95TtftBelow(0.8)"
    assert repr(Healthy()) == "Healthy()"


def test_within_token_quota_drops_only_requests_larger_than_the_learned_quota() -> None:
    quota = WithinTokenQuota()
    small = make_context([make_candidate("g")], prompt_tokens=1000, output_tokens=256)
    assert quota.reject(small, small.candidates[0]) is None
    learned = make_candidate("g", token_quota=6000)
    fits = make_context([learned], prompt_tokens=5000, output_tokens=1000)
    assert quota.reject(fits, learned) is None  # exactly the quota fits
    over = make_context([learned], prompt_tokens=5001, output_tokens=1000)
    assert quota.reject(over, learned) == (
        "~5001 prompt + 1000 output tokens exceed its per-minute token quota (6000, learned "
        "from a 413)"
    )
