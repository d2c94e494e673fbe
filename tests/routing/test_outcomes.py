"""Table tests of the decision rules in ``llama_router.routing.outcomes``: for each error
class, retried here? fails over where? counts against health? cooldown how long and why?
marks cold? billed? Each row is one behaviour a user relies on."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from llama_router.catalog import Price
from llama_router.exceptions import (
    AuthenticationError,
    ColdStartError,
    ContextLengthExceededError,
    FirstTokenTimeoutError,
    InvalidRequestError,
    MalformedResponseError,
    ModelNotFoundError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    ProviderUnreachableError,
    RateLimitedError,
    StreamInterruptedError,
)
from llama_router.ratelimits import RateLimitInfo
from llama_router.responses import Attempt, Usage
from llama_router.routing.options import Budget, Hedging, RetryPolicy, Timeouts
from llama_router.routing.outcomes import (
    AUTH_COOLDOWN_FACTOR,
    Cooldown,
    attempt_cost,
    backoff,
    cooldown,
    counts_against_health,
    failover_candidates,
    failover_scope,
    learned_context_window,
    learned_token_quota,
    marks_cold,
    may_be_larger,
    may_return,
    race_winner,
    response_cost,
    retry_here,
    soonest_return,
)
from llama_router.state import HealthConfig


def err(cls: type[ProviderError], **kw: object) -> ProviderError:
    return cls("boom", provider="p", deployment="d", **kw)  # type: ignore[arg-type]


POLICY = RetryPolicy(max_retry_after=5.0)
CONFIG = HealthConfig(open_for=30.0, rate_limit_cooldown=10.0)

# error, retried here?, failover scope, counts against health?, marks cold?
TABLE = [
    (err(ProviderUnavailableError, status_code=503), True, "any", True, False),
    (err(ProviderTimeoutError), True, "any", True, False),
    (err(FirstTokenTimeoutError), False, "any", True, False),
    (err(ProviderUnreachableError), False, "any", True, False),
    (err(ColdStartError), False, "any", True, True),
    (err(MalformedResponseError), True, "any", True, False),
    (err(StreamInterruptedError), True, "any", True, False),
    (err(AuthenticationError, status_code=401), False, "any", True, False),
    (err(ModelNotFoundError, status_code=404), False, "any", True, False),
    (err(RateLimitedError, status_code=429, retry_after=2.0), True, "any", False, False),
    (err(RateLimitedError, status_code=429, retry_after=30.0), False, "any", False, False),
    (err(RateLimitedError, status_code=429), False, "any", False, False),
    (err(InvalidRequestError, status_code=400), False, "none", False, False),
    (err(ContextLengthExceededError, status_code=400), False, "larger_window", False, False),
]
IDS = [f"{type(row[0]).__name__}-{row[0].retry_after}" for row in TABLE]


@pytest.mark.parametrize(("error", "retried", "scope", "counts", "cold"), TABLE, ids=IDS)
def test_outcome_table(
    error: ProviderError, retried: bool, scope: str, counts: bool, cold: bool
) -> None:
    assert retry_here(error, POLICY) is retried
    assert failover_scope(error) == scope
    assert counts_against_health(error) is counts
    assert marks_cold(error) is cold


def test_a_first_token_stall_is_retried_only_when_the_user_opts_in() -> None:
    stall = err(FirstTokenTimeoutError)
    assert retry_here(stall, RetryPolicy()) is False
    assert retry_here(stall, RetryPolicy(retry_first_token_timeouts=True)) is True


def test_a_non_provider_error_is_never_retried() -> None:
    assert retry_here(ValueError("bug"), POLICY) is False


def test_a_retry_after_exactly_at_the_cap_is_waited_out_here() -> None:
    assert retry_here(err(RateLimitedError, retry_after=5.0), POLICY) is True
    assert retry_here(err(RateLimitedError, retry_after=5.01), POLICY) is False


# -- cooldowns ---------------------------------------------------------------------------


def limits(**kw: float | int | None) -> RateLimitInfo:
    return RateLimitInfo(**kw)  # type: ignore[arg-type]


COOLDOWNS = [
    (err(RateLimitedError, retry_after=7.0), Cooldown(7.0, "rate limited: Retry-After")),
    (
        err(
            RateLimitedError,
            rate_limits=limits(remaining_requests=0, reset_requests=12.0, reset_tokens=3.0),
        ),
        Cooldown(12.0, "rate limited: request quota resets"),
    ),
    (
        err(
            RateLimitedError,
            rate_limits=limits(remaining_tokens=0, reset_requests=2.0, reset_tokens=40.0),
        ),
        Cooldown(40.0, "rate limited: token quota resets"),
    ),
    (
        err(RateLimitedError, rate_limits=limits(reset_requests=9.0, reset_tokens=4.0)),
        Cooldown(4.0, "rate limited: nearest quota reset"),
    ),
    (err(RateLimitedError), Cooldown(10.0, "rate limited: no reset time given")),
    (
        err(RateLimitedError, retry_after=1.0, rate_limits=limits(reset_requests=50.0)),
        Cooldown(1.0, "rate limited: Retry-After"),
    ),
    (err(AuthenticationError), Cooldown(30.0 * AUTH_COOLDOWN_FACTOR, "credentials rejected")),
    (err(ModelNotFoundError), Cooldown(30.0 * AUTH_COOLDOWN_FACTOR, "model not found")),
    (err(ProviderUnavailableError), None),
    (err(ColdStartError), None),
    (err(InvalidRequestError), None),
    (err(FirstTokenTimeoutError), None),
]


@pytest.mark.parametrize(("error", "expected"), COOLDOWNS)
def test_cooldown_table(error: ProviderError, expected: Cooldown | None) -> None:
    assert cooldown(error, CONFIG) == expected


def test_auth_cooldown_follows_the_circuit_open_time() -> None:
    assert cooldown(err(AuthenticationError), HealthConfig(open_for=2.0)) == Cooldown(
        2.0 * AUTH_COOLDOWN_FACTOR, "credentials rejected"
    )


# -- failover targets ------------------------------------------------------------------------


@dataclass(frozen=True)
class Cand:
    name: str
    context_window: int | None


SMALL, BIG, HUGE, UNKNOWN = Cand("s", 8_000), Cand("b", 32_000), Cand("h", 128_000), Cand("u", None)


def test_a_context_overflow_fails_over_only_to_larger_windows_in_order() -> None:
    # the known larger window first, then the unknown one (it may be larger)
    rest = failover_candidates(err(ContextLengthExceededError), BIG, [UNKNOWN, SMALL, HUGE])
    assert rest == (HUGE, UNKNOWN)


def test_the_window_a_server_reports_in_its_error_is_the_limit() -> None:
    overflow = err(ContextLengthExceededError)
    assert isinstance(overflow, ContextLengthExceededError)
    overflow.context_window = 10_000  # llama.cpp's n_ctx
    assert failover_candidates(overflow, UNKNOWN, [SMALL, BIG]) == (BIG,)
    assert learned_context_window(overflow) == 10_000
    assert learned_context_window(err(InvalidRequestError)) is None


def test_with_nothing_known_an_overflow_goes_only_to_known_windows() -> None:
    rest = failover_candidates(err(ContextLengthExceededError), UNKNOWN, [UNKNOWN, SMALL, BIG])
    assert rest == (SMALL, BIG)


@pytest.mark.parametrize(
    ("window", "limit", "expected"),
    [
        (4096, 2048, True),
        (2048, 2048, False),
        (1024, 2048, False),
        (None, 2048, True),
        (4096, None, True),
        (None, None, False),
    ],
)
def test_may_be_larger(window: int | None, limit: int | None, expected: bool) -> None:
    assert may_be_larger(window, limit) is expected


def test_a_context_overflow_with_nothing_larger_reaches_the_caller() -> None:
    assert failover_candidates(err(ContextLengthExceededError), HUGE, [SMALL, BIG]) is None


def test_an_invalid_request_never_fails_over() -> None:
    assert failover_candidates(err(InvalidRequestError), SMALL, [BIG, HUGE]) is None


def test_other_errors_fail_over_to_everything_left_in_order() -> None:
    rest = failover_candidates(err(ProviderUnavailableError), BIG, [HUGE, SMALL, UNKNOWN])
    assert rest == (HUGE, SMALL, UNKNOWN)


# -- coming back to a deployment -----------------------------------------------------------


def test_only_a_429_too_long_to_wait_out_here_may_be_returned_to() -> None:
    assert may_return(err(RateLimitedError, retry_after=30.0), POLICY) is True
    assert may_return(err(RateLimitedError), POLICY) is True
    assert may_return(err(RateLimitedError, retry_after=2.0), POLICY) is False  # retried here
    no_retries = RetryPolicy(max_retries=0)
    assert may_return(err(RateLimitedError, retry_after=2.0), no_retries) is True
    assert may_return(err(ProviderUnavailableError), POLICY) is False
    assert may_return(err(AuthenticationError), POLICY) is False


def test_soonest_return_picks_the_earliest_back_before_the_deadline() -> None:
    waiting = [("a", 15.0), ("b", 12.0), ("c", 40.0), ("d", 9.0)]
    assert soonest_return(waiting, now=10.0, deadline=30.0) == ("b", 12.0)


@pytest.mark.parametrize(
    "waiting",
    [
        [("a", 30.0)],  # back exactly at the deadline: too late
        [("a", 45.0)],
        [("a", 10.0)],  # already available: nothing to wait for
        [("a", 5.0)],
        [],
    ],
)
def test_soonest_return_is_none_when_nothing_comes_back_in_time(
    waiting: list[tuple[str, float]],
) -> None:
    assert soonest_return(waiting, now=10.0, deadline=30.0) is None


def test_soonest_return_waits_no_longer_than_max_wait() -> None:
    waiting = [("a", 13.0), ("b", 16.0)]
    assert soonest_return(waiting, now=10.0, deadline=30.0, max_wait=5.0) == ("a", 13.0)
    assert soonest_return(waiting, now=10.0, deadline=30.0, max_wait=2.0) is None
    assert soonest_return(waiting, now=10.0, deadline=30.0, max_wait=0.0) is None


# -- backoff ---------------------------------------------------------------------------------


class MaxRandom(random.Random):
    def uniform(self, a: float, b: float) -> float:
        return b


@pytest.mark.parametrize(("attempt", "cap"), [(1, 0.25), (2, 0.5), (3, 1.0), (6, 4.0), (9, 4.0)])
def test_backoff_doubles_per_retry_up_to_the_cap(attempt: int, cap: float) -> None:
    policy = RetryPolicy(backoff_base=0.25, backoff_max=4.0)
    assert backoff(attempt, None, policy, MaxRandom()) == cap


def test_backoff_is_full_jitter_from_zero() -> None:
    class MinRandom(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return a

    assert backoff(3, None, RetryPolicy(), MinRandom()) == 0.0


def test_backoff_never_waits_less_than_the_retry_after() -> None:
    policy = RetryPolicy(backoff_base=0.25)
    assert backoff(1, err(RateLimitedError, retry_after=3.0), policy, MaxRandom()) == 3.0
    assert backoff(1, err(RateLimitedError, retry_after=0.1), policy, MaxRandom()) == 0.25


# -- billing ------------------------------------------------------------------------------------

PRICE = Price(input_per_mtok=1.0, output_per_mtok=2.0, as_of=date(2026, 1, 1), source="test")


def test_an_attempt_is_billed_for_its_tokens() -> None:
    usage = Usage(prompt_tokens=1_000_000, completion_tokens=500_000)
    assert attempt_cost(PRICE, usage) == pytest.approx(2.0)
    assert attempt_cost(None, usage) is None


def attempt(cost: float | None, outcome: str = "ok") -> Attempt:
    return Attempt(deployment="d", provider="p", outcome=outcome, cost_usd=cost)  # type: ignore[arg-type]


def test_a_response_costs_the_sum_of_every_attempt_including_failed_ones() -> None:
    route = [attempt(0.25, "error"), attempt(None, "cancelled"), attempt(0.5)]
    assert response_cost(route, priced=True) == pytest.approx(0.75)


def test_an_unpriced_answer_has_no_cost() -> None:
    assert response_cost([attempt(0.25, "error"), attempt(None)], priced=False) is None


# -- the hedge race ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("finished", "winner"),
    [
        ([(1, True), (0, True)], 0),  # a tie goes to the primary, whatever the order
        ([(0, True), (1, True)], 0),
        ([(0, False), (1, True)], 1),
        ([(1, True)], 1),
        ([(0, False), (1, False)], None),
        ([], None),
    ],
)
def test_race_winner(finished: list[tuple[int, bool]], winner: int | None) -> None:
    assert race_winner(finished) == winner


# -- the options the rules read ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: RetryPolicy(max_retries=-1), "max_retries must be >= 0"),
        (lambda: RetryPolicy(backoff_base=0), "backoff_base must be > 0 seconds, got 0"),
        (lambda: RetryPolicy(backoff_max=-1), "backoff_max must be > 0 seconds, got -1"),
        (lambda: RetryPolicy(max_retry_after=-1), "max_retry_after must be >= 0 seconds"),
        (lambda: RetryPolicy(max_cooldown_wait=-0.5), "max_cooldown_wait must be >= 0 seconds"),
        (lambda: Hedging(delay=0), "delay must be > 0 seconds, got 0"),
        (lambda: Hedging(default_delay=0), "default_delay must be > 0 seconds"),
        (lambda: Hedging(min_delay=-1), "min_delay must be >= 0 seconds"),
        (lambda: Hedging(max_share=1.5), "max_share is a fraction between 0 and 1"),
        (lambda: Timeouts(total=0), "total must be > 0 seconds, got 0"),
        (lambda: Timeouts(first_token=-1), "first_token must be > 0 seconds"),
        (lambda: Timeouts(idle=0), "idle must be > 0 seconds"),
        (lambda: Budget(usd=-1), "budget usd must be >= 0"),
        (lambda: Budget(usd=1, period=0), "period must be > 0 seconds"),
    ],
)
def test_an_option_out_of_range_says_which_and_why(make: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        make()


def test_options_at_their_edges_are_accepted() -> None:
    RetryPolicy(max_retries=0, max_retry_after=0, max_cooldown_wait=0)
    Hedging(min_delay=0, max_share=0)
    Hedging(max_share=1)
    Budget(usd=0)


# -- a request over the per-minute token quota ------------------------------------------------


def quota_error(tokens: int | None) -> RateLimitedError:
    error = RateLimitedError("too large", provider="groq", deployment="g", status_code=413)
    error.token_quota = tokens
    return error


def test_a_request_over_the_token_quota_cools_nothing_and_is_remembered() -> None:
    error = quota_error(6000)
    assert cooldown(error, CONFIG) is None  # smaller requests still fit right now
    assert learned_token_quota(error) == 6000
    assert may_return(error, RetryPolicy(max_retries=0)) is False
    assert retry_here(error, POLICY) is False
    assert failover_scope(error) == "any"
    assert counts_against_health(error) is False


def test_an_ordinary_429_teaches_no_quota() -> None:
    assert learned_token_quota(err(RateLimitedError, retry_after=1.0)) is None
    assert learned_token_quota(err(ProviderUnavailableError)) is None
