"""What the router does after an attempt: the decision rules, as pure functions.

The request path (:mod:`llama_router.dispatch`) asks these and nothing else; each has table
tests in ``tests/routing/test_outcomes.py``. Every rule reads only its arguments: the
error, the router's options, the candidates.

=============================  ========  ==================  ==========  ===================
error                          retried?  fails over to       counts      cooldown
                               (here)                        against     (seconds, why)
                                                             health?
=============================  ========  ==================  ==========  ===================
RateLimitedError (429)         if Retry  any other           no          Retry-After, else
                               -After <=                                 the exhausted
                               max_retry                                 limit's reset, else
                               _after                                    rate_limit_cooldown
FirstTokenTimeoutError         no [1]_   any other           yes         none
ProviderTimeoutError           yes       any other           yes         none
ProviderUnreachableError       no        any other           yes         none
ColdStartError                 no        any other           yes         none (marks cold)
ProviderUnavailableError       yes       any other           yes         none
MalformedResponseError         yes       any other           yes         none
AuthenticationError            no        any other           yes         open_for x 10
ModelNotFoundError             no        any other           yes         open_for x 10
ContextLengthExceededError     no        larger windows      no          none
InvalidRequestError            no        none (raised)       no          none
=============================  ========  ==================  ==========  ===================

.. [1] unless ``RetryPolicy.retry_first_token_timeouts`` is set: a stalled deployment is
   abandoned for the next one, not waited on again.

A deployment that is only cooling down (Retry-After, open circuit) and comes back before the
request's deadline is waited for once nothing else is left (:func:`soonest_return`); of
the deployments that failed in the request, only a rate-limited one may be (:func:`may_return`).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

from llama_router.catalog import Price
from llama_router.exceptions import (
    AuthenticationError,
    ColdStartError,
    ContextLengthExceededError,
    FirstTokenTimeoutError,
    InvalidRequestError,
    ModelNotFoundError,
    ProviderError,
    ProviderUnreachableError,
    RateLimitedError,
)
from llama_router.responses import Attempt, Usage
from llama_router.routing.options import RetryPolicy
from llama_router.state.health import HealthConfig

__all__ = [
    "Cooldown",
    "FailoverScope",
    "attempt_cost",
    "backoff",
    "cooldown",
    "counts_against_health",
    "failover_candidates",
    "failover_scope",
    "learned_context_window",
    "learned_token_quota",
    "may_be_larger",
    "overflow_limit",
    "marks_cold",
    "may_return",
    "race_winner",
    "response_cost",
    "retry_here",
    "soonest_return",
]

FailoverScope = Literal["any", "larger_window", "none"]
"""Where a request may go after an error: any other deployment, only to a larger context
window, or nowhere (the error reaches the caller)."""

AUTH_COOLDOWN_FACTOR = 10
"""An auth or model-not-found error keeps a deployment out this many circuit open times: it
will not fix itself soon, but a rotated key or a pulled model should be picked up."""


@dataclass(frozen=True, slots=True)
class Cooldown:
    """A deployment is kept out for ``seconds``, because of ``reason``."""

    seconds: float
    reason: str


def retry_here(error: BaseException, policy: RetryPolicy) -> bool:
    """Whether ``error`` is worth another try on the same deployment (before failing over).

    Only transient provider errors are. Not a refused connection (nothing is listening) nor
    a cold start (the model is booting): those fail over at once. Not a first-token stall
    (a stalled deployment is abandoned for the next) unless the policy opts in. A 429 only
    when its Retry-After is short enough to wait out here.
    """
    if not isinstance(error, ProviderError) or not error.transient:
        return False
    if isinstance(error, (ColdStartError, ProviderUnreachableError)):
        return False
    if isinstance(error, FirstTokenTimeoutError):
        return policy.retry_first_token_timeouts
    if isinstance(error, RateLimitedError):
        return error.retry_after is not None and error.retry_after <= policy.max_retry_after
    return True


def backoff(
    attempt: int, error: BaseException | None, policy: RetryPolicy, rng: random.Random
) -> float:
    """Seconds to wait before retry number ``attempt`` (1 = the first retry): full-jitter
    exponential backoff, never shorter than the provider's Retry-After."""
    cap = min(policy.backoff_max, policy.backoff_base * 2 ** (attempt - 1))
    wait = rng.uniform(0, cap)
    if isinstance(error, ProviderError) and error.retry_after is not None:
        wait = max(wait, error.retry_after)
    return wait


def failover_scope(error: BaseException) -> FailoverScope:
    """An invalid request would be rejected everywhere, so it never fails over; a request
    too long for the context window may only go to a larger one; anything else may go to
    any other deployment."""
    if isinstance(error, ContextLengthExceededError):
        return "larger_window"
    if isinstance(error, InvalidRequestError):
        return "none"
    return "any"


class _HasWindow(Protocol):  # what failover_candidates reads of a candidate
    @property
    def context_window(self) -> int | None: ...


W = TypeVar("W", bound=_HasWindow)


def failover_candidates(
    error: BaseException, failed: W, remaining: Sequence[W]
) -> tuple[W, ...] | None:
    """The candidates still worth trying after ``failed`` raised ``error``, in order, or
    ``None`` when the error must reach the caller as it is (an invalid request; a context
    overflow with no larger window left)."""
    scope = failover_scope(error)
    if scope == "none":
        return None
    if scope == "larger_window":
        limit = overflow_limit(error, failed.context_window)
        fit = [c for c in remaining if may_be_larger(c.context_window, limit)]
        fit.sort(key=lambda c: c.context_window is None)  # known larger windows first
        return tuple(fit) or None
    return tuple(remaining)


def counts_against_health(error: BaseException) -> bool:
    """Whether the failure counts toward opening the circuit. A 429 is the provider asking
    for less traffic (a cooldown handles it) and an invalid request is the caller's fault:
    neither says the deployment is unhealthy."""
    return not isinstance(error, (RateLimitedError, InvalidRequestError))


def cooldown(error: BaseException, config: HealthConfig) -> Cooldown | None:
    """How long ``error`` keeps its deployment out of routing, and why (``None``: no
    cooldown; the circuit breaker alone decides). One request over the per-minute token
    quota cools nothing down: smaller requests still fit (:func:`learned_token_quota`)."""
    if isinstance(error, RateLimitedError) and error.token_quota is not None:
        return None
    if isinstance(error, RateLimitedError):
        return Cooldown(*_rate_limit_cooldown(error, config.rate_limit_cooldown))
    if isinstance(error, (AuthenticationError, ModelNotFoundError)):
        what = (
            "credentials rejected" if isinstance(error, AuthenticationError) else "model not found"
        )
        return Cooldown(config.open_for * AUTH_COOLDOWN_FACTOR, what)
    return None


def _rate_limit_cooldown(error: RateLimitedError, default: float) -> tuple[float, str]:
    if error.retry_after is not None:
        return error.retry_after, "rate limited: Retry-After"
    limits = error.rate_limits
    if limits is not None:
        if limits.remaining_requests == 0 and limits.reset_requests is not None:
            return limits.reset_requests, "rate limited: request quota resets"
        if limits.remaining_tokens == 0 and limits.reset_tokens is not None:
            return limits.reset_tokens, "rate limited: token quota resets"
        resets = [r for r in (limits.reset_requests, limits.reset_tokens) if r is not None]
        if resets:
            return min(resets), "rate limited: nearest quota reset"
    return default, "rate limited: no reset time given"


def learned_context_window(error: BaseException) -> int | None:
    """The context window a server reported in an overflow error (llama.cpp's ``n_ctx``), to
    remember for the deployment."""
    return error.context_window if isinstance(error, ContextLengthExceededError) else None


def overflow_limit(error: BaseException, failed_window: int | None) -> int | None:
    """The window a request overflowed: the one the server reported, else the deployment's
    known one; ``None`` when neither is known."""
    return learned_context_window(error) or failed_window


def may_be_larger(window: int | None, limit: int | None) -> bool:
    """Whether a deployment with ``window`` may take a request that overflowed ``limit``.

    With the limit known: a larger known window, or an unknown one (a server that has not
    said may be larger). With the limit unknown: any known window (the policy's
    ``FitsContext`` filter already dropped those too small for the request's estimate)."""
    if limit is None:
        return window is not None
    return window is None or window > limit


def learned_token_quota(error: BaseException) -> int | None:
    """The per-minute token quota a request exceeded on its own, to remember for the
    deployment (requests larger than it skip it: ``filters.WithinTokenQuota``)."""
    return error.token_quota if isinstance(error, RateLimitedError) else None


def may_return(error: BaseException, policy: RetryPolicy) -> bool:
    """Whether a deployment that failed with ``error`` may be tried again later in the same
    request, once its cooldown ends before the deadline: only a 429 that was not already
    waited out on the spot (its Retry-After was too long, or retries are off). The request
    path returns to a deployment at most once; any other failure leaves it out for the rest
    of the request."""
    if not isinstance(error, RateLimitedError) or error.token_quota is not None:
        return False  # a request over the quota will not fit after any wait
    return policy.max_retries == 0 or not retry_here(error, policy)


def marks_cold(error: BaseException) -> bool:
    """Whether the deployment should be noted as not loaded (its next call pays a cold
    start)."""
    return isinstance(error, ColdStartError)


def attempt_cost(price: Price | None, usage: Usage) -> float | None:
    """USD billed for one attempt's tokens; ``None`` for an unpriced deployment or when the
    provider never reported the counts (``usage.known`` false: unknown, not free)."""
    if price is None or not usage.known:
        return None
    return price.cost(usage.prompt_tokens, usage.completion_tokens, usage.cached_prompt_tokens)


def response_cost(route: Iterable[Attempt], priced: bool) -> float | None:
    """What a request cost: the sum over *every* attempt (a failed or abandoned attempt that
    consumed tokens is billed too); ``None`` when the answering deployment is unpriced or
    an attempt's usage is unknown (a partial sum would pass for the whole bill)."""
    if not priced or any(not a.usage.known for a in route):
        return None
    return sum(a.cost_usd for a in route if a.cost_usd is not None)


def race_winner(finished: Iterable[tuple[int, bool]]) -> int | None:
    """The hedge race: of the attempts that finished in one step, given as (rank, succeeded),
    the best-ranked success wins (so a tie goes to the primary); ``None`` if none
    succeeded."""
    wins = [rank for rank, ok in finished if ok]
    return min(wins) if wins else None


def soonest_return(
    waiting: Iterable[tuple[str, float]],
    now: float,
    deadline: float,
    max_wait: float | None = None,
) -> tuple[str, float] | None:
    """Of the deployments that are only cooling down, given as (name, available again at),
    the one back soonest, if it is back before ``deadline`` and within ``max_wait`` seconds
    (``RetryPolicy.max_cooldown_wait``); ``None`` otherwise."""
    limit = deadline if max_wait is None else min(deadline, now + max_wait)
    best: tuple[str, float] | None = None
    for name, at in waiting:
        if now < at < limit and (best is None or at < best[1]):
            best = (name, at)
    return best
