"""The snapshot a policy reads, and the ranking of one request.

:func:`context` freezes everything the policy may read at one moment; :func:`rank` asks the
policy, and waits for a deployment that is only cooling down when nothing else is left.
"""

from __future__ import annotations

from collections.abc import Sequence

from llama_router.dispatch.run import RequestRun, Runtime
from llama_router.exceptions import (
    BudgetExceededError,
    NoDeploymentAvailableError,
    UnsupportedFeatureError,
)
from llama_router.messages import ChatRequest
from llama_router.routing.context import (
    DEFAULT_OUTPUT_TOKENS,
    Candidate,
    RoutingContext,
    estimate_cost,
    estimate_latency,
    estimate_prompt_tokens,
)
from llama_router.routing.outcomes import may_be_larger, soonest_return
from llama_router.routing.policy import Decision
from llama_router.state import HealthSnapshot

__all__ = ["CandidateCache", "context", "rank", "returning"]


class CandidateCache:
    """The last :class:`Candidate` built for each deployment, with what it was built from.
    Most requests change the health of one deployment only, so the others are reused."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: dict[str, tuple[HealthSnapshot, str | None, int, int, Candidate]] = {}

    def get(
        self, name: str, health: HealthSnapshot, unsupported: str | None, prompt: int, output: int
    ) -> Candidate | None:
        seen = self._last.get(name)
        if (
            seen is not None
            and seen[0] is health
            and seen[1] == unsupported
            and seen[2] == prompt
            and seen[3] == output
        ):
            return seen[4]
        return None

    def put(self, candidate: Candidate, prompt: int, output: int) -> None:
        self._last[candidate.name] = (
            candidate.health,
            candidate.unsupported,
            prompt,
            output,
            candidate,
        )


async def context(
    rt: Runtime,
    cache: CandidateCache,
    request: ChatRequest,
    *,
    stream: bool,
    now: float,
    deadline: float | None = None,
) -> RoutingContext:
    """One immutable snapshot of everything the policy may read."""
    backends = rt.by_model[request.model]
    health = await rt.store.snapshot([b.target.name for b in backends], now)
    prompt = estimate_prompt_tokens(request)
    output = request.settings.max_tokens or DEFAULT_OUTPUT_TOKENS
    remaining = None
    if rt.budget is not None:
        remaining = rt.budget.usd - await rt.store.spent(now, rt.budget.period)
    candidates = []
    for backend in backends:
        t = backend.target
        snap = health[t.name]
        try:
            backend.check_supported(request)
            unsupported = None
        except UnsupportedFeatureError as exc:
            unsupported = str(exc)
        candidate = cache.get(t.name, snap, unsupported, prompt, output)
        if candidate is None:
            candidate = Candidate(
                name=t.name,
                index=rt.index[t.name],
                provider=t.provider,
                model_id=t.model_id,
                tags=t.tags,
                context_window=t.context_window or snap.context_window,
                price=t.price,
                capabilities=backend.capabilities,
                limits=rt.limits[t.name],
                health=snap,
                unsupported=unsupported,
                est_cost=estimate_cost(t.price, prompt, output),
                est_latency=estimate_latency(snap, output, rt.limits[t.name].max_concurrency),
            )
            cache.put(candidate, prompt, output)
        candidates.append(candidate)
    return RoutingContext(
        request=request,
        candidates=tuple(candidates),
        now=now,
        prompt_tokens=prompt,
        output_tokens=output,
        budget_remaining=remaining,
        stream=stream,
        time_left=None if deadline is None else deadline - now,
    )


async def rank(rt: Runtime, cache: CandidateCache, run: RequestRun) -> Decision:
    """The policy's ranking. When every deployment is only cooling down (Retry-After,
    open circuit) and one comes back before the deadline, wait for it instead of failing."""
    while True:
        now = rt.clock()
        ctx = await context(
            rt, cache, run.request, stream=run.stream, now=now, deadline=run.deadline
        )
        decision = rt.policy.decide(ctx)
        if decision.ranked:
            return decision
        error = _nothing_to_try(rt, ctx, decision)
        back = soonest_return(
            _cooling(ctx.candidates, run), now, run.deadline, rt.retry.max_cooldown_wait
        )
        if back is None or isinstance(error, BudgetExceededError):
            raise error
        await rt.sleep(back[1] - now)


async def returning(rt: Runtime, cache: CandidateCache, run: RequestRun) -> Sequence[Candidate]:
    """Once every ranked deployment has failed: wait for one that is only cooling down and
    comes back before the deadline, and return the policy's ranking of what may be tried
    then (empty when nothing will be back in time; ``run.not_tried`` then says why)."""
    while True:
        now = rt.clock()
        ctx = await context(
            rt, cache, run.request, stream=run.stream, now=now, deadline=run.deadline
        )
        cooling = _cooling(ctx.candidates, run)
        back = soonest_return(cooling, now, run.deadline, rt.retry.max_cooldown_wait)
        if back is None:
            for name, at in cooling:
                if at > now:
                    run.not_tried[name] = f"cooling down for {at - now:.1f} s more, " + (
                        "past the request's deadline"
                        if at >= run.deadline
                        else "longer than RetryPolicy.max_cooldown_wait"
                    )
            return ()
        await rt.sleep(back[1] - now)
        ctx = await context(
            rt, cache, run.request, stream=run.stream, now=rt.clock(), deadline=run.deadline
        )
        ranked = [c for c in rt.policy.decide(ctx).ranked if _may_try(c, run)]
        if ranked:
            run.returned.update(c.name for c in ranked)
            return ranked


def _may_try(candidate: Candidate, run: RequestRun) -> bool:
    if candidate.name in run.failed or candidate.name in run.returned:
        return False
    return run.min_window is None or may_be_larger(candidate.context_window, run.min_window)


def _cooling(candidates: Sequence[Candidate], run: RequestRun) -> list[tuple[str, float]]:
    """(name, back at) of each candidate kept out only by a cooldown or an open circuit."""
    return [
        (c.name, c.health.available_at)
        for c in candidates
        if c.unsupported is None and _may_try(c, run)
    ]


def _nothing_to_try(
    rt: Runtime, ctx: RoutingContext, decision: Decision
) -> NoDeploymentAvailableError:
    reasons = {r.candidate.name: r.reason for r in decision.rejected}
    model = ctx.request.model
    if ctx.budget_remaining is not None and ctx.budget_remaining <= 0:
        return BudgetExceededError(
            f"the budget of ${rt.budget.usd if rt.budget else 0:g} is spent and no "
            f"free deployment of {model!r} can take the request",
            reasons,
        )
    return NoDeploymentAvailableError(
        f"no deployment of {model!r} can take this request now", reasons
    )
