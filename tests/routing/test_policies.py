"""Policy.decide over synthetic contexts: filtering with reasons, quota and index ordering,
the built-in policies, bounded exploration (seeded), a convergence simulation driven by
real HealthRecord snapshots, and the explain rows."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from llama_router.explain import explain_decision
from llama_router.routing.context import Candidate
from llama_router.routing.filters import HasTags
from llama_router.routing.policy import (
    Decision,
    Policy,
    best_availability,
    cheapest_under,
    cloud_first,
    local_first,
    lowest_cost,
    lowest_latency,
    ordered,
)
from llama_router.routing.rankers import ByCost, ByLatency
from llama_router.state.health import HealthConfig, HealthRecord

from .helpers import T0, make_candidate, make_context


def names(decision: Decision) -> list[str]:
    return [c.name for c in decision.ranked]


def reasons(decision: Decision) -> dict[str, str]:
    return {r.candidate.name: r.reason for r in decision.rejected}


# -- filtering and ordering ------------------------------------------------------------------


def test_filtered_candidates_are_rejected_with_reasons() -> None:
    ctx = make_context(
        [
            make_candidate("open", index=0, circuit="open", available_at=T0 + 8, last_error="E"),
            make_candidate("ok_b", index=1, ttft=0.9),
            make_candidate("no_tools", index=2, unsupported="groq: tools not supported"),
            make_candidate("tiny", index=3, window=1000),
            make_candidate("dear", index=4, price=(0.0, 100.0)),  # $0.1 for 1000 output
            make_candidate("ok_a", index=5, ttft=0.3),
        ],
        prompt_tokens=100,
        output_tokens=1000,
        budget_remaining=0.05,
    )
    decision = lowest_latency(explore=0.0).decide(ctx)
    assert names(decision) == ["ok_a", "ok_b"]
    assert reasons(decision) == {
        "open": "circuit open for 8.0 s more (E)",
        "no_tools": "groq: tools not supported",
        "tiny": "~100 prompt + 1000 output tokens exceed its 1000-token context window",
        "dear": "estimated $0.100000 exceeds the $0.050000 budget left",
    }
    assert [r.candidate.name for r in decision.rejected] == ["open", "no_tools", "tiny", "dear"]
    assert decision.keys == (pytest.approx((0.3, 0.0, 5.0)), pytest.approx((0.9, 0.0, 1.0)))
    assert decision.explored is None


def test_custom_filters_replace_the_defaults() -> None:
    ctx = make_context(
        [
            make_candidate(
                "open_eu",
                index=0,
                tags=("eu",),
                circuit="open",
                available_at=T0 + 5,
                last_error="E",
            ),
            make_candidate("us", index=1, tags=("us",)),
        ]
    )
    only_eu = Policy(ByCost(), filters=[HasTags("eu")])
    assert names(only_eu.decide(ctx)) == ["open_eu"]  # no Healthy filter any more
    stacked = ordered().with_filters(HasTags("eu"))
    decision = stacked.decide(ctx)
    assert names(decision) == []
    assert reasons(decision) == {
        "open_eu": "circuit open for 5.0 s more (E)",
        "us": "lacks tag(s) eu",
    }
    assert stacked.name == "ordered"


def test_quota_low_candidates_rank_after_all_others() -> None:
    ctx = make_context(
        [
            make_candidate("fastest_low", index=0, ttft=0.1, quota_low=True),
            make_candidate("slow", index=1, ttft=2.0),
            make_candidate("mid_low", index=2, ttft=0.5, quota_low=True),
            make_candidate("mid", index=3, ttft=0.6),
        ]
    )
    decision = lowest_latency(explore=0.0).decide(ctx)
    assert names(decision) == ["mid", "slow", "fastest_low", "mid_low"]
    assert names(ordered().decide(ctx)) == ["slow", "mid", "fastest_low", "mid_low"]


def test_ties_are_broken_by_index_whatever_the_candidate_order() -> None:
    same = (0.1, 0.1)
    ctx = make_context(
        [
            make_candidate("c", index=2, price=same),
            make_candidate("a", index=0, price=same),
            make_candidate("b", index=1, price=same),
        ]
    )
    for _ in range(3):
        assert names(Policy(ByCost()).decide(ctx)) == ["a", "b", "c"]
    assert names(ordered().decide(ctx)) == ["a", "b", "c"]


def test_explore_must_be_a_probability() -> None:
    with pytest.raises(ValueError, match="probability"):
        Policy(ByLatency(), explore=1.5)
    with pytest.raises(ValueError, match="probability"):
        Policy(ByLatency(), explore=-0.1)


# -- built-in policies ---------------------------------------------------------------------


def test_lowest_cost_picks_the_cheapest_that_fits_the_window_and_budget() -> None:
    # prompt 3000 + output 1000; output-only prices: cost = price * 1000 / 1e6
    ctx = make_context(
        [
            make_candidate("cheapest_small", index=0, price=(0.0, 0.05), window=2048),
            make_candidate("cheap", index=1, price=(0.0, 0.2), window=8192),
            make_candidate("unpriced", index=2, window=None),
            make_candidate("mid", index=3, price=(0.0, 0.5), window=131_072),
            make_candidate("dear", index=4, price=(0.0, 5.0), window=131_072),
        ],
        prompt_tokens=3000,
        output_tokens=1000,
        budget_remaining=0.001,  # dear costs $0.005
    )
    decision = lowest_cost().decide(ctx)
    assert names(decision) == ["cheap", "mid", "unpriced"]
    assert reasons(decision) == {
        "cheapest_small": "~3000 prompt + 1000 output tokens exceed its 2048-token context window",
        "dear": "estimated $0.005000 exceeds the $0.001000 budget left",
    }


def test_lowest_cost_with_the_budget_spent_keeps_only_free_deployments() -> None:
    ctx = make_context(
        [
            make_candidate("groq", index=0, price=(0.05, 0.08)),
            make_candidate("unpriced", index=1),
            make_candidate("ollama", index=2, tags=("local",), price=(0.0, 0.0)),
        ],
        budget_remaining=0.0,
    )
    decision = lowest_cost().decide(ctx)
    assert names(decision) == ["ollama"]
    assert set(reasons(decision)) == {"groq", "unpriced"}
    assert reasons(decision)["unpriced"] == "budget spent and its price is unknown"


def test_lowest_cost_ties_go_to_the_faster() -> None:
    ctx = make_context(
        [
            make_candidate("slow", index=0, price=(0.1, 0.1), ttft=1.5),
            make_candidate("fast", index=1, price=(0.1, 0.1), ttft=0.3),
        ]
    )
    assert names(lowest_cost().decide(ctx)) == ["fast", "slow"]


def test_cheapest_under_picks_the_cheapest_fast_enough() -> None:
    ctx = make_context(
        [
            make_candidate("cheap_slow", index=0, price=(0.0, 0.1), p95=1.5),
            make_candidate("mid_fast", index=1, price=(0.0, 0.3), p95=0.5),
            make_candidate("dear_fastest", index=2, price=(0.0, 0.9), p95=0.2),
            make_candidate("cheap_borderline", index=3, price=(0.0, 0.2), p95=0.8),
        ],
        prompt_tokens=0,
        output_tokens=1000,
    )
    decision = cheapest_under(0.8).decide(ctx)
    assert names(decision) == ["mid_fast", "dear_fastest", "cheap_slow", "cheap_borderline"]
    assert decision.rejected == ()
    assert cheapest_under(0.8).name == "cheapest_under(0.8)"


def test_cheapest_under_falls_back_to_the_cheapest_when_none_is_fast_enough() -> None:
    ctx = make_context(
        [
            make_candidate("mid", index=0, price=(0.0, 0.3), p95=1.0),
            make_candidate("cheap", index=1, price=(0.0, 0.1), p95=2.5),
            make_candidate("dear", index=2, price=(0.0, 0.9), p95=0.9),
        ],
        prompt_tokens=0,
        output_tokens=1000,
    )
    assert names(cheapest_under(0.8).decide(ctx)) == ["cheap", "mid", "dear"]


def _mixed() -> list[Candidate]:
    return [
        make_candidate("groq", index=0, tags=("cloud",), ttft=0.4),
        make_candidate("ollama_cold", index=1, tags=("local",), loaded=False),
        make_candidate("together", index=2, tags=("cloud",), ttft=0.2),
        make_candidate("llamacpp", index=3, tags=("local",), loaded=True, p95=0.3, ttft=0.2),
        make_candidate("ollama_slow", index=4, tags=("local",), loaded=True, p95=3.0, ttft=2.0),
    ]


def test_local_first_orders_warm_local_then_cloud_then_cold_or_slow_local() -> None:
    ctx = make_context(_mixed())
    assert names(local_first(slow_ttft=1.0).decide(ctx)) == [
        "llamacpp",
        "groq",
        "together",
        "ollama_cold",
        "ollama_slow",
    ]
    assert names(local_first().decide(ctx)) == [
        "llamacpp",
        "ollama_slow",
        "groq",
        "together",
        "ollama_cold",
    ]


def test_cloud_first_orders_cloud_by_latency_then_local() -> None:
    ctx = make_context(_mixed())
    assert names(cloud_first().decide(ctx)) == [
        "together",  # 0.2 s
        "groq",  # 0.4 s
        "llamacpp",  # 0.2 s
        "ollama_cold",  # unknown: median of 0.4, 0.2, 0.2, 2.0 = 0.3
        "ollama_slow",  # 2.0 s
    ]


def test_best_availability_prefers_the_higher_success_rate_then_the_faster() -> None:
    ctx = make_context(
        [
            make_candidate("flaky_fast", index=0, success_rate=0.7, ttft=0.1),
            make_candidate("solid_slow", index=1, success_rate=1.0, ttft=0.9),
            make_candidate("solid_fast", index=2, success_rate=1.0, ttft=0.3),
        ]
    )
    decision = best_availability(explore=0.0).decide(ctx)
    assert names(decision) == ["solid_fast", "solid_slow", "flaky_fast"]


# -- exploration ---------------------------------------------------------------------------


def _explore_ctx() -> list[Candidate]:
    return [
        make_candidate("fast", index=0, ttft=0.2, samples=10),
        make_candidate("mid", index=1, ttft=0.5, samples=10),
        make_candidate("fresh_bad", index=2, ttft=5.0, samples=1),  # known bad, but fresh
    ]


def test_exploration_puts_a_fresh_candidate_first_about_ten_percent_of_the_time() -> None:
    ctx = make_context(_explore_ctx())
    policy = lowest_latency(explore=0.1, rng=random.Random(2024))
    firsts: Counter[str] = Counter()
    for _ in range(1000):
        decision = policy.decide(ctx)
        first = decision.ranked[0].name
        firsts[first] += 1
        if first == "fresh_bad":
            assert decision.explored == "fresh_bad"
            assert names(decision) == ["fresh_bad", "fast", "mid"]
            assert decision.keys[0] == pytest.approx((5.0, 0.0, 2.0))  # keys follow the move
        else:
            assert decision.explored is None
            assert names(decision) == ["fast", "mid", "fresh_bad"]
    assert 70 <= firsts["fresh_bad"] <= 130
    assert set(firsts) == {"fast", "fresh_bad"}  # never otherwise


def test_exploration_is_reproducible_with_a_seed() -> None:
    ctx = make_context(_explore_ctx())
    one = lowest_latency(rng=random.Random(5))
    two = lowest_latency(rng=random.Random(5))
    assert [names(one.decide(ctx)) for _ in range(200)] == [
        names(two.decide(ctx)) for _ in range(200)
    ]


def test_no_exploration_with_explore_zero() -> None:
    ctx = make_context(_explore_ctx())
    rng = random.Random(3)
    state = rng.getstate()
    policy = lowest_latency(explore=0.0, rng=rng)
    for _ in range(1000):
        decision = policy.decide(ctx)
        assert names(decision) == ["fast", "mid", "fresh_bad"]
        assert decision.explored is None
    assert rng.getstate() == state  # not even a draw


def test_exploration_needs_a_fresh_candidate_behind_the_first() -> None:
    known = make_context(
        [
            make_candidate("fast", index=0, ttft=0.2, samples=3),
            make_candidate("slow", index=1, ttft=0.9, samples=3),
        ]
    )
    always = lowest_latency(explore=1.0, rng=random.Random(0))
    assert all(always.decide(known).explored is None for _ in range(50))
    fresh_first = make_context(
        [
            make_candidate("fresh_fast", index=0, ttft=0.1, samples=1),
            make_candidate("slow", index=1, ttft=0.9, samples=10),
        ]
    )
    decision = always.decide(fresh_first)
    assert names(decision) == ["fresh_fast", "slow"]
    assert decision.explored is None  # already first: nothing was explored


def test_exploration_promotes_the_best_ranked_fresh_candidate() -> None:
    ctx = make_context(
        [
            make_candidate("known", index=0, ttft=0.2, samples=10),
            make_candidate("fresh_slow", index=1, ttft=3.0, samples=2),
            make_candidate("fresh_mid", index=2, ttft=1.0, samples=0),
        ]
    )
    decision = lowest_latency(explore=1.0, rng=random.Random(0)).decide(ctx)
    assert names(decision) == ["fresh_mid", "known", "fresh_slow"]
    assert decision.explored == "fresh_mid"


def test_exploration_does_not_promote_a_quota_low_deployment() -> None:
    """docs/routing.md: a deployment whose quota is nearly spent is "ranked after all others
    until the reset time passes, so they are not sent a request that would come back 429";
    exploration must not put it first either."""
    ctx = make_context(
        [
            make_candidate("known", index=0, ttft=0.2, samples=10),
            make_candidate("fresh_quota_low", index=1, ttft=0.3, samples=1, quota_low=True),
        ]
    )
    policy = lowest_latency(explore=1.0, rng=random.Random(0))
    for _ in range(20):
        decision = policy.decide(ctx)
        assert names(decision) == ["known", "fresh_quota_low"]
        assert decision.explored is None


def test_min_samples_sets_when_a_candidate_counts_as_known() -> None:
    ctx = make_context(
        [
            make_candidate("fast", index=0, ttft=0.2, samples=10),
            make_candidate("slow", index=1, ttft=0.9, samples=5),
        ]
    )
    strict = Policy(ByLatency(), explore=1.0, min_samples=6, rng=random.Random(0))
    assert strict.decide(ctx).explored == "slow"
    lenient = Policy(ByLatency(), explore=1.0, min_samples=5, rng=random.Random(0))
    assert lenient.decide(ctx).explored is None


def test_lowest_latency_converges_on_the_fastest_and_explores_the_rest() -> None:
    true_ttft = {"slow": 1.0, "medium": 0.5, "fast": 0.2}
    deployments = list(true_ttft)  # the slowest first: the index tie-break favours it
    records = {name: HealthRecord(HealthConfig()) for name in deployments}
    policy = lowest_latency(rng=random.Random(7))
    jitter = random.Random(99)
    now = T0
    chosen: list[str] = []
    for _ in range(300):
        candidates = [
            make_candidate(name, index=i, health=records[name].snapshot(now))
            for i, name in enumerate(deployments)
        ]
        decision = policy.decide(make_context(candidates, now=now))
        pick = decision.ranked[0].name
        chosen.append(pick)
        records[pick].record_success(now, ttft=true_ttft[pick] * jitter.uniform(0.8, 1.2))
        now += 1.0

    assert chosen[0] == "slow"  # nothing known yet: the first deployment
    last = chosen[-200:]
    assert last.count("fast") >= 0.85 * len(last)
    tried = Counter(chosen)
    assert all(tried[name] >= 3 for name in deployments), tried
    assert records["fast"].snapshot(now).ttft_ewma == pytest.approx(0.2, rel=0.2)


# -- explain -------------------------------------------------------------------------------


def test_explain_rows_chosen_fallback_and_filtered() -> None:
    ctx = make_context(
        [
            make_candidate("a", index=0, price=(0.05, 0.08), ttft=0.25, p95=0.4),
            make_candidate("open", index=1, circuit="open", available_at=T0 + 20, last_error="E"),
            make_candidate("b", index=2, success_rate=0.75, quota_low=True),
            make_candidate("c", index=3),
            make_candidate("no_json", index=4, unsupported="json mode not supported"),
        ],
        prompt_tokens=1000,
        output_tokens=500,
    )
    decision = ordered().decide(ctx)
    explanation = explain_decision(ctx, decision, "ordered", None)
    rows = [(r.deployment, r.status, r.reason) for r in explanation.rows]
    assert rows == [
        ("a", "chosen", "best by ordered"),
        ("c", "fallback #1", "ranked 2 by ordered"),
        ("b", "fallback #2", "ranked 3 by ordered; quota nearly spent (deprioritised)"),
        ("open", "filtered", "circuit open for 20.0 s more (E)"),
        ("no_json", "filtered", "json mode not supported"),
    ]
    assert explanation.chosen == "a"
    first = explanation.rows[0]
    assert first.provider == "groq"
    assert first.est_cost_usd == pytest.approx((1000 * 0.05 + 500 * 0.08) / 1e6)
    assert first.est_latency_s == pytest.approx(0.25)
    assert first.ttft_p95_s == pytest.approx(0.4)
    assert explanation.rows[2].success_rate == pytest.approx(0.75)
    assert explanation.rows[3].circuit == "open"
    assert (explanation.prompt_tokens, explanation.output_tokens) == (1000, 500)

    text = str(explanation)
    assert text.splitlines()[0] == (
        "model 'llama-3.1-8b', policy ordered, ~1000 prompt + 500 output tokens"
    )
    assert "$0.000090" in text
    assert "250 ms" in text
    assert "unpriced" in text


def test_explain_marks_an_explored_choice_and_the_budget() -> None:
    ctx = make_context(
        [
            make_candidate("fast", index=0, ttft=0.2, samples=10),
            make_candidate("fresh", index=1, ttft=0.9, samples=0),
        ],
        budget_remaining=1.25,
    )
    decision = lowest_latency(explore=1.0, rng=random.Random(0)).decide(ctx)
    explanation = explain_decision(ctx, decision, "lowest_latency", ctx.budget_remaining)
    assert [(r.deployment, r.status, r.reason) for r in explanation.rows] == [
        ("fresh", "chosen", "explored: fewer than the minimum measurements"),
        ("fast", "fallback #1", "ranked 2 by lowest_latency"),
    ]
    assert explanation.budget_remaining_usd == 1.25
    assert "budget left $1.2500" in str(explanation)


def test_explain_with_everything_filtered_chooses_nothing() -> None:
    ctx = make_context(
        [make_candidate("only", circuit="open", available_at=T0 + 3, last_error="E")]
    )
    explanation = explain_decision(ctx, ordered().decide(ctx), "ordered", None)
    assert explanation.chosen is None
    assert [r.status for r in explanation.rows] == ["filtered"]
