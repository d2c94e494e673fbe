"""The attempt loop: from a ranked list of deployments to one answer, within one deadline.

For each request the :class:`Dispatcher`:

1. takes one snapshot of the candidates (health, limits, cost and latency estimates) and
   asks the policy to rank them;
2. tries them in order. Before sending it claims the half-open probe (if the circuit is
   half-open) and a concurrency / RPM / TPM slot (skipping to the next deployment when the
   slot is taken, queueing only when nothing else is left);
3. retries transient errors on the same deployment (tenacity: full-jitter exponential
   backoff, Retry-After honoured up to ``RetryPolicy.max_retry_after``), then fails over;
   invalid requests never fail over, context-length errors only to larger windows;
4. bounds all of it by one end-to-end deadline: no wait, retry or failover starts past it;
5. optionally hedges: starts the next-ranked deployment when the first is slow to answer
   (or, for streams, to produce its first token); the loser is cancelled;
6. for streams, fails over transparently until the first token reaches the caller; after
   that, with ``continuation`` on, resumes on another deployment from the text delivered so
   far, else raises :class:`StreamInterruptedError`;
7. records every outcome in the state store (health, circuit, cooldown, spend).
"""

from __future__ import annotations

import asyncio
import random
import sys
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base

from llama_router.backends.base import Backend, BackendResult, StreamItem
from llama_router.exceptions import (
    AllDeploymentsFailedError,
    AuthenticationError,
    BudgetExceededError,
    ColdStartError,
    DeadlineExceededError,
    InvalidRequestError,
    LlamaRouterError,
    ModelNotFoundError,
    NoDeploymentAvailableError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnreachableError,
    RateLimitedError,
    StreamInterruptedError,
    UnsupportedFeatureError,
)
from llama_router.failover import attempt_record, build_response, next_candidates
from llama_router.messages import ChatRequest
from llama_router.responses import (
    Attempt,
    ChatResponse,
    Continuation,
    StreamDone,
    StreamEvent,
    TextDelta,
    Usage,
)
from llama_router.routing.context import (
    DEFAULT_OUTPUT_TOKENS,
    Candidate,
    RoutingContext,
    estimate_cost,
    estimate_latency,
    estimate_prompt_tokens,
)
from llama_router.routing.health import HealthConfig, HealthSnapshot
from llama_router.routing.options import Budget, Hedging, RetryPolicy, Timeouts
from llama_router.routing.policy import Decision, Policy
from llama_router.routing.store import Limits, StateStore, Ticket

__all__ = ["Dispatcher"]

T = TypeVar("T")
Clock = Callable[[], float]

if sys.version_info >= (3, 11):
    from asyncio import timeout as _timeout
else:  # pragma: no cover - Python 3.10

    def _timeout(delay: float | None) -> AbstractAsyncContextManager[None]:
        return _Timeout310(delay)

    class _Timeout310:
        def __init__(self, delay: float | None) -> None:
            self._delay = delay
            self._handle: asyncio.TimerHandle | None = None
            self._fired = False

        async def __aenter__(self) -> None:
            if self._delay is not None:
                task = asyncio.current_task()
                assert task is not None

                def fire() -> None:
                    self._fired = True
                    task.cancel()

                self._handle = asyncio.get_running_loop().call_later(max(self._delay, 0), fire)

        async def __aexit__(self, exc_type: object, exc: object, tb: object) -> bool:
            if self._handle is not None:
                self._handle.cancel()
            if self._fired and exc_type is asyncio.CancelledError:
                raise asyncio.TimeoutError
            return False


class _IdleWatch:
    """The idle timeout of one streamed attempt, for the cost of a clock read per chunk.

    A timeout context per chunk would create and cancel a timer handle for every chunk. This
    keeps one timer per stall window: each wait for a chunk only notes when it began, and
    the timer, when it fires before the window has really passed, re-arms itself for the
    rest. It cancels the reading task only while that task waits for the next chunk (time
    the caller spends between chunks is not idleness), and at the request's deadline.
    """

    __slots__ = ("_deadline", "_handle", "_idle", "_loop", "fired", "since", "task")

    def __init__(self, idle: float, left: float) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._loop = loop
        self._idle = idle
        self._deadline = now + left
        self.since = now
        """When the current wait for a chunk began (loop time)."""
        self.task: asyncio.Task[object] | None = None
        """The task waiting for a chunk, or None between chunks."""
        self.fired = False
        self._handle = loop.call_at(min(now + idle, self._deadline), self._check)

    def _check(self) -> None:
        now = self._loop.time()
        if self.task is not None:
            due = min(self.since + self._idle, self._deadline)
            if now >= due:
                self.fired = True
                self.task.cancel()
                return
        else:
            due = min(now + self._idle, self._deadline)
        self._handle = self._loop.call_at(due, self._check)

    def stop(self) -> None:
        self._handle.cancel()


def _uncancel(task: asyncio.Task[object] | None) -> None:
    """Withdraw a cancellation we made ourselves, so the task is not left marked cancelled."""
    if task is not None and sys.version_info >= (3, 11):
        task.uncancel()


class _Limited(Exception):
    """A deployment's limits are full; ``wait`` seconds until a slot may free."""

    def __init__(self, wait: float) -> None:
        self.wait = wait


class _Skip(Exception):
    """The deployment cannot be tried now (its half-open probe is taken)."""


@dataclass(slots=True)
class _Run:
    """Bookkeeping of one request."""

    request: ChatRequest
    started: float
    deadline: float
    route: list[Attempt] = field(default_factory=list)
    errors: list[LlamaRouterError] = field(default_factory=list)
    tried: set[str] = field(default_factory=set)
    started_at: dict[str, float] = field(default_factory=dict)
    """When the latest try on each deployment started."""
    hedged: bool = False


class Dispatcher:
    """Runs requests for one router; see the module docstring for the algorithm."""

    def __init__(
        self,
        backends: Sequence[Backend],
        *,
        policy: Policy,
        store: StateStore,
        clock: Clock,
        timeouts: Timeouts,
        retry: RetryPolicy,
        hedging: Hedging | None,
        budget: Budget | None,
        continuation: bool,
        health: HealthConfig,
        rng: random.Random,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.policy = policy
        self.store = store
        self.timeouts = timeouts
        self.retry = retry
        self.hedging = hedging
        self.budget = budget
        self.continuation = continuation
        self.health = health
        self._clock = clock
        self._rng = rng
        self._sleep = sleep
        self._backends = {b.target.name: b for b in backends}
        self._by_model: dict[str, tuple[Backend, ...]] = {}
        for backend in backends:
            self._by_model.setdefault(backend.target.model, ())
            self._by_model[backend.target.model] += (backend,)
        self._names = {m: [b.target.name for b in bs] for m, bs in self._by_model.items()}
        self._index = {b.target.name: i for i, b in enumerate(backends)}
        self._limits = {
            b.target.name: Limits(b.target.max_concurrency, b.target.rpm, b.target.tpm)
            for b in backends
        }
        # The last Candidate built for each deployment, with what it was built from. Most
        # requests change the health of one deployment only, so the others are reused.
        self._last: dict[str, tuple[HealthSnapshot, str | None, int, int, Candidate]] = {}

    # -- the snapshot --------------------------------------------------------------------

    async def context(self, request: ChatRequest, *, stream: bool, now: float) -> RoutingContext:
        """One immutable snapshot of everything the policy may read."""
        backends = self._by_model[request.model]
        health = await self.store.snapshot(self._names[request.model], now)
        prompt = estimate_prompt_tokens(request)
        output = request.settings.max_tokens or DEFAULT_OUTPUT_TOKENS
        remaining = None
        if self.budget is not None:
            remaining = self.budget.usd - await self.store.spent(now, self.budget.period)
        candidates = []
        last = self._last
        for backend in backends:
            t = backend.target
            snap = health[t.name]
            try:
                backend.check_supported(request)
                unsupported = None
            except UnsupportedFeatureError as exc:
                unsupported = str(exc)
            seen = last.get(t.name)
            if (
                seen is not None
                and seen[0] is snap
                and seen[1] == unsupported
                and seen[2] == prompt
                and seen[3] == output
            ):
                candidates.append(seen[4])
                continue
            candidate = Candidate(
                name=t.name,
                index=self._index[t.name],
                provider=t.provider,
                model_id=t.model_id,
                tags=t.tags,
                context_window=t.context_window,
                price=t.price,
                capabilities=backend.capabilities,
                limits=self._limits[t.name],
                health=snap,
                unsupported=unsupported,
                est_cost=estimate_cost(t.price, prompt, output),
                est_latency=estimate_latency(snap, output),
            )
            last[t.name] = (snap, unsupported, prompt, output, candidate)
            candidates.append(candidate)
        return RoutingContext(
            request=request,
            candidates=tuple(candidates),
            now=now,
            prompt_tokens=prompt,
            output_tokens=output,
            budget_remaining=remaining,
            stream=stream,
        )

    async def _rank(self, run: _Run, *, stream: bool) -> Decision:
        """The policy's ranking. When every deployment is only cooling down (Retry-After,
        open circuit) and one comes back before the deadline, wait for it instead of failing."""
        while True:
            now = self._clock()
            ctx = await self.context(run.request, stream=stream, now=now)
            try:
                return self._decide(ctx)
            except BudgetExceededError:
                raise
            except NoDeploymentAvailableError:
                waiting = [
                    c.health.available_at
                    for c in ctx.candidates
                    if c.health.available_at > now and c.unsupported is None
                ]
                if not waiting or min(waiting) >= run.deadline:
                    raise
                await self._sleep(min(waiting) - now)

    def _decide(self, ctx: RoutingContext) -> Decision:
        decision = self.policy.decide(ctx)
        if decision.ranked:
            return decision
        reasons = {r.candidate.name: r.reason for r in decision.rejected}
        model = ctx.request.model
        if ctx.budget_remaining is not None and ctx.budget_remaining <= 0:
            raise BudgetExceededError(
                f"the budget of ${self.budget.usd if self.budget else 0:g} is spent and no "
                f"free deployment of {model!r} can take the request",
                reasons,
            )
        raise NoDeploymentAvailableError(
            f"no deployment of {model!r} can take this request now", reasons
        )

    # -- one try on one deployment ---------------------------------------------------------

    async def _acquire(self, run: _Run, cand: Candidate, can_skip: bool) -> Ticket | None:
        limits = cand.limits
        if not limits.any:
            return None
        tokens = estimate_prompt_tokens(run.request) + (
            run.request.settings.max_tokens or DEFAULT_OUTPUT_TOKENS
        )
        while True:
            now = self._clock()
            got = await self.store.try_acquire(cand.name, now, limits, tokens)
            if isinstance(got, Ticket):
                return got
            if can_skip:
                raise _Limited(got)
            left = run.deadline - now
            if left <= 0:
                raise DeadlineExceededError(
                    "the deadline passed while waiting for a rate / concurrency limit slot",
                    run.errors,
                    route=run.route,
                )
            if got == float("inf"):
                await self.store.wait_for_release(cand.name, left)
            else:
                await self._sleep(min(got, left))

    async def _one_try(
        self,
        run: _Run,
        cand: Candidate,
        request: ChatRequest,
        opener: Callable[[Backend, ChatRequest], Awaitable[T]],
        *,
        can_skip: bool,
        hedged: bool = False,
    ) -> T:
        name = cand.name
        # Re-read health now: since the request was ranked, another request may have put this
        # deployment into a cooldown (Retry-After) or opened its circuit.
        now = self._clock()
        health = (await self.store.snapshot((name,), now))[name]
        if now < health.available_at:
            raise _Skip("cooling down or circuit open")
        probe = health.circuit != "closed"
        if probe and not await self.store.try_probe(name, now):
            raise _Skip("half-open probe already in flight")
        try:
            ticket = await self._acquire(run, cand, can_skip)
        except BaseException:
            if probe:
                await self.store.release_probe(name)
            raise
        backend = self._backends[name]
        run.tried.add(name)
        start = run.started_at[name] = self._clock()
        try:
            left = run.deadline - start
            if left <= 0:
                raise ProviderTimeoutError(
                    "the request's deadline passed before this attempt could start",
                    provider=cand.provider,
                    deployment=name,
                )
            try:
                async with _timeout(left):
                    return await opener(backend, request)
            except (asyncio.TimeoutError, TimeoutError) as exc:
                raise ProviderTimeoutError(
                    f"no answer within the request's deadline ({self.timeouts.total:g} s)",
                    provider=cand.provider,
                    deployment=name,
                ) from exc
        except ProviderError as exc:
            now = self._clock()
            run.route.append(attempt_record(backend, exc, now - start, hedged, started_at=start))
            run.errors.append(exc)
            await self._record_failure(name, now, exc)
            raise
        except asyncio.CancelledError:
            if hedged or run.hedged:
                run.route.append(
                    Attempt(
                        deployment=name,
                        provider=cand.provider,
                        outcome="cancelled",
                        elapsed_s=self._clock() - start,
                        hedged=hedged,
                    )
                )
            if probe:  # never leave a half-open circuit waiting on a probe that was cancelled
                await self.store.release_probe(name)
            raise
        finally:
            if ticket is not None:
                await self.store.release(ticket, None)

    async def _record_failure(self, name: str, now: float, exc: ProviderError) -> None:
        cooldown: float | None = None
        counts = True
        if isinstance(exc, RateLimitedError):
            counts = False
            cooldown = _rate_limit_cooldown(exc, self.health.rate_limit_cooldown)
        elif isinstance(exc, InvalidRequestError):
            counts = False  # the request's fault, not the deployment's
        elif isinstance(exc, (AuthenticationError, ModelNotFoundError)):
            cooldown = self.health.open_for * 10  # will not fix itself soon
        if isinstance(exc, ColdStartError):
            await self.store.set_loaded(name, False)
        await self.store.record_failure(
            name, now, type(exc).__name__, counts_against_health=counts, cooldown=cooldown
        )

    # -- retries -----------------------------------------------------------------------------

    def _retryable(self, exc: BaseException) -> bool:
        if not isinstance(exc, ProviderError) or not exc.transient:
            return False
        if isinstance(exc, (ColdStartError, ProviderUnreachableError)):
            return False  # nothing is listening / still booting: fail over at once
        if isinstance(exc, RateLimitedError):
            return exc.retry_after is not None and exc.retry_after <= self.retry.max_retry_after
        return True

    def _wait(self, state: RetryCallState) -> float:
        policy = self.retry
        cap = min(policy.backoff_max, policy.backoff_base * 2 ** (state.attempt_number - 1))
        wait = self._rng.uniform(0, cap)
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, ProviderError) and exc.retry_after is not None:
            wait = max(wait, exc.retry_after)
        return wait

    async def _with_retries(
        self,
        run: _Run,
        cand: Candidate,
        opener: Callable[[Backend, ChatRequest], Awaitable[T]],
        *,
        can_skip: bool,
        hedged: bool = False,
        request: ChatRequest | None = None,
    ) -> T:
        req = run.request if request is None else request
        try:  # the common case costs no retry machinery
            return await self._one_try(run, cand, req, opener, can_skip=can_skip, hedged=hedged)
        except ProviderError as exc:
            if self.retry.max_retries == 0 or not self._retryable(exc):
                raise
            first: list[BaseException] = [exc]

        async def again() -> T:
            if first:
                raise first.pop()  # replay the first failure so tenacity waits before retrying
            return await self._one_try(run, cand, req, opener, can_skip=False, hedged=hedged)

        clock, deadline = self._clock, run.deadline
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retry.max_retries + 1) | _StopAtDeadline(clock, deadline),
            wait=self._wait,
            retry=retry_if_exception(self._retryable),
            sleep=self._sleep,
            reraise=True,
        )
        return await retrying(again)

    # -- hedging -------------------------------------------------------------------------------

    async def _may_hedge(self) -> bool:
        hedging = self.hedging
        return hedging is not None and await self.store.hedged_share() < hedging.max_share

    def _hedge_delay(self, cand: Candidate) -> float:
        hedging = self.hedging
        assert hedging is not None
        if hedging.delay is not None:
            return hedging.delay
        p95 = cand.health.ttft_p95
        return max(hedging.min_delay, p95 if p95 is not None else hedging.default_delay)

    async def _race(
        self,
        run: _Run,
        primary: Candidate,
        secondary: Candidate,
        opener: Callable[[Backend, ChatRequest], Awaitable[T]],
        close: Callable[[T], Awaitable[None]] | None,
    ) -> tuple[Candidate, T]:
        """Run ``primary``; if it has not answered after the hedge delay, also ``secondary``.
        The first success wins; the other is cancelled (and its result closed)."""
        first: asyncio.Task[T] = asyncio.create_task(
            self._with_retries(run, primary, opener, can_skip=True)
        )
        done, _ = await asyncio.wait({first}, timeout=self._hedge_delay(primary))
        if done:
            return primary, first.result()
        run.hedged = True
        second: asyncio.Task[T] = asyncio.create_task(
            self._with_retries(run, secondary, opener, can_skip=True, hedged=True)
        )
        owner = {first: primary, second: secondary}
        pending: set[asyncio.Task[T]] = {first, second}
        error: BaseException | None = None
        winner: asyncio.Task[T] | None = None
        try:
            while pending and winner is None:
                finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in finished:
                    exc = task.exception()
                    if exc is None and winner is None:
                        winner = task
                    elif exc is None and close is not None:
                        await close(task.result())  # a tie: release the second success
                    elif exc is not None:
                        error = error or exc
        finally:
            for task in pending:
                task.cancel()
            for task in pending:
                try:
                    result = await task
                except (asyncio.CancelledError, Exception):
                    continue
                if close is not None:  # finished while being cancelled: release it
                    await close(result)
        if winner is not None:
            return owner[winner], winner.result()
        assert error is not None
        raise error

    # -- chat ----------------------------------------------------------------------------------

    async def chat(self, request: ChatRequest) -> ChatResponse:
        now = self._clock()
        run = _Run(request, now, now + self.timeouts.total)
        try:
            return await self._chat(run)
        except LlamaRouterError as exc:
            _attach_route(exc, run)
            raise

    async def _chat(self, run: _Run) -> ChatResponse:
        clock = self._clock
        request = run.request
        decision = await self._rank(run, stream=False)

        async def call(backend: Backend, req: ChatRequest) -> BackendResult:
            return await backend.chat(req)

        cand, result = await self._walk(run, decision.ranked, call, None)
        end = clock()
        backend = self._backends[cand.name]
        hedged = run.hedged and cand.name != decision.ranked[0].name
        began = run.started_at[cand.name]
        run.route.append(attempt_record(backend, None, end - began, hedged, result.usage, began))
        response = build_response(
            request,
            backend,
            result,
            ttft=end - run.started,
            latency=end - run.started,
            route=run.route,
        )
        generation = result.timings.generation_s
        ttft = end - run.started - generation if generation else end - run.started
        await self._record_success(
            cand.name,
            end,
            response,
            ttft=max(ttft, 0.0),
            generation_s=generation,
            result=result,
            hedged=run.hedged,
        )
        return response

    async def _record_success(
        self,
        name: str,
        now: float,
        response: ChatResponse,
        *,
        ttft: float | None,
        generation_s: float | None,
        result: BackendResult,
        hedged: bool,
    ) -> None:
        store = self.store
        await store.record_success(
            name,
            now,
            ttft=ttft,
            output_tokens=response.usage.completion_tokens,
            generation_s=generation_s,
            rate_limits=result.rate_limits,
        )
        if response.cost_usd and self.budget is not None:  # spend is kept only for a budget
            await store.add_spend(now, response.cost_usd)
        await store.note_request(now, hedged=hedged)

    async def _walk(
        self,
        run: _Run,
        ranked: Sequence[Candidate],
        opener: Callable[[Backend, ChatRequest], Awaitable[T]],
        close: Callable[[T], Awaitable[None]] | None,
        request: ChatRequest | None = None,
    ) -> tuple[Candidate, T]:
        """Try ``ranked`` in order (with retries, limits, hedging) until one succeeds."""
        clock = self._clock
        queue = list(ranked)
        deferred: list[tuple[float, Candidate]] = []
        hedge = await self._may_hedge()
        while queue or deferred:
            if clock() >= run.deadline:
                break
            if not queue:  # everything left is at its limits: wait for the soonest
                deferred.sort(key=lambda item: item[0])
                _, cand = deferred.pop(0)
                queue = [cand]
                can_skip = False
            else:
                cand = queue.pop(0)
                can_skip = bool(queue) or bool(deferred)
            partner = queue[0] if hedge and queue else None
            try:
                if partner is not None:
                    cand, result = await self._race(run, cand, partner, opener, close)
                else:
                    result = await self._with_retries(
                        run, cand, opener, can_skip=can_skip, request=request
                    )
                return cand, result
            except _Limited as limited:
                deferred.append((limited.wait, cand))
            except _Skip:
                continue
            except LlamaRouterError as exc:
                if isinstance(exc, DeadlineExceededError):
                    raise
                backends = [self._backends[c.name] for c in queue]
                rest = next_candidates(exc, self._backends[cand.name], backends)
                if rest is None:
                    raise
                keep = {b.target.name for b in rest}
                queue = [c for c in queue if c.name in keep and c.name not in run.tried]
        message = f"every deployment of {run.request.model!r} failed"
        if clock() >= run.deadline:
            raise DeadlineExceededError(
                f"the {self.timeouts.total:g} s deadline of the request ran out; {message}",
                run.errors,
                route=run.route,
            )
        raise AllDeploymentsFailedError(message, run.errors, route=run.route)

    # -- streams -------------------------------------------------------------------------------

    async def _open_stream(
        self, backend: Backend, request: ChatRequest
    ) -> tuple[AsyncGenerator[StreamItem, None], StreamItem]:
        """Start a stream and wait (at most ``first_token`` seconds) for its first item."""
        gen = backend.stream(request)
        try:
            try:
                async with _timeout(self.timeouts.first_token):
                    first = await gen.__anext__()
            except (asyncio.TimeoutError, TimeoutError) as exc:
                raise ProviderTimeoutError(
                    f"no first token within {self.timeouts.first_token:g} s",
                    provider=backend.provider,
                    deployment=backend.target.name,
                ) from exc
            except StopAsyncIteration as exc:
                raise StreamInterruptedError(
                    "the stream ended without any event",
                    provider=backend.provider,
                    deployment=backend.target.name,
                ) from exc
        except BaseException:
            await gen.aclose()
            raise
        return gen, first

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        """Deltas as they arrive, then :class:`StreamDone` with the aggregated response."""
        now = self._clock()
        run = _Run(request, now, now + self.timeouts.total)
        events = self._stream(run)
        try:
            async for event in events:
                yield event
        except LlamaRouterError as exc:
            _attach_route(exc, run)
            raise
        finally:
            await events.aclose()

    async def _stream(self, run: _Run) -> AsyncGenerator[StreamEvent, None]:
        clock = self._clock
        request = run.request
        ranked: Sequence[Candidate] = (await self._rank(run, stream=True)).ranked
        parts: list[str] = []
        continuations: list[Continuation] = []
        first_token: float | None = None
        attempt_request = request
        resume_at: int | None = None

        async def close(opened: tuple[AsyncGenerator[StreamItem, None], StreamItem]) -> None:
            await opened[0].aclose()

        while True:
            cand, (gen, item) = await self._walk(
                run, ranked, self._open_stream, close, request=attempt_request
            )
            backend = self._backends[cand.name]
            attempt_start = run.started_at[cand.name]
            if resume_at is not None:
                continuations.append(Continuation(deployment=cand.name, offset=resume_at))
                resume_at = None
            result: BackendResult | None = None
            chunks_here = 0
            idle = self.timeouts.idle
            watch = _IdleWatch(idle, run.deadline - clock())
            loop_time = asyncio.get_running_loop().time
            try:
                while True:
                    if isinstance(item, BackendResult):
                        result = item
                    else:
                        if first_token is None:
                            first_token = clock()
                        if isinstance(item, TextDelta):
                            parts.append(item.text)
                            chunks_here += 1
                        yield item
                    watch.since = loop_time()
                    watch.task = asyncio.current_task()
                    try:
                        item = await gen.__anext__()
                    except StopAsyncIteration:
                        break
                    except asyncio.CancelledError as exc:
                        if not watch.fired:
                            raise
                        _uncancel(watch.task)
                        raise ProviderTimeoutError(
                            f"the stream stalled for {idle:g} s (or the deadline passed)",
                            provider=cand.provider,
                            deployment=cand.name,
                        ) from exc
                    finally:
                        watch.task = None
            except ProviderError as exc:
                # Text has reached the caller (the first item is always yielded first).
                await gen.aclose()
                now = clock()
                received = Usage(completion_tokens=chunks_here)
                run.route.append(
                    attempt_record(
                        backend, exc, now - attempt_start, usage=received, started_at=attempt_start
                    )
                )
                run.errors.append(exc)
                await self._record_failure(cand.name, now, exc)
                text = "".join(parts)
                ranked = [c for c in ranked if c.name != cand.name]
                if not self.continuation or not ranked:
                    why = "" if not self.continuation else " and no deployment is left to resume"
                    raise StreamInterruptedError(
                        f"the stream failed after text was delivered{why}: {exc}",
                        provider=exc.provider,
                        deployment=exc.deployment,
                        status_code=exc.status_code,
                        partial_text=text,
                    ) from exc
                attempt_request = request.with_assistant_prefix(text)
                resume_at = len(text)
                continue
            except BaseException:  # the caller left (or was cancelled) mid-stream
                await gen.aclose()
                await self.store.release_probe(cand.name)
                raise
            finally:
                watch.stop()
            if result is None:
                result = BackendResult(text="", finish_reason="stop", usage=_ZERO)
            end = clock()
            hedged = run.hedged and cand.name != ranked[0].name
            run.route.append(
                attempt_record(
                    backend, None, end - attempt_start, hedged, result.usage, attempt_start
                )
            )
            full = result if not continuations else _with_text(result, "".join(parts))
            response = build_response(
                request,
                backend,
                full,
                ttft=None if first_token is None else first_token - run.started,
                latency=end - run.started,
                route=run.route,
            )
            if continuations:
                response = response.model_copy(update={"continuations": tuple(continuations)})
            generation = end - first_token if first_token is not None else None
            await self._record_success(
                cand.name,
                end,
                response,
                ttft=None if first_token is None else first_token - attempt_start,
                generation_s=result.timings.generation_s or generation,
                result=result,
                hedged=run.hedged,
            )
            yield StreamDone(response)
            return


class _StopAtDeadline(stop_base):
    """Stop retrying when the next backoff would end past the request's deadline."""

    def __init__(self, clock: Clock, deadline: float) -> None:
        self.clock = clock
        self.deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.clock() + (retry_state.upcoming_sleep or 0.0) >= self.deadline


def _attach_route(exc: LlamaRouterError, run: _Run) -> None:
    """Give an error that reaches the caller the attempts made for the request."""
    if not getattr(exc, "route", None):
        exc.route = tuple(run.route)


def _rate_limit_cooldown(exc: RateLimitedError, default: float) -> float:
    """How long a 429 keeps a deployment out: Retry-After, else the reset of the exhausted
    limit, else the nearest reset, else ``default``."""
    if exc.retry_after is not None:
        return exc.retry_after
    limits = exc.rate_limits
    if limits is not None:
        if limits.remaining_requests == 0 and limits.reset_requests is not None:
            return limits.reset_requests
        if limits.remaining_tokens == 0 and limits.reset_tokens is not None:
            return limits.reset_tokens
        resets = [r for r in (limits.reset_requests, limits.reset_tokens) if r is not None]
        if resets:
            return min(resets)
    return default


def _with_text(result: BackendResult, text: str) -> BackendResult:
    return BackendResult(
        text=text,
        finish_reason=result.finish_reason,
        usage=result.usage,
        tool_calls=result.tool_calls,
        timings=result.timings,
        provider_model=result.provider_model,
        rate_limits=result.rate_limits,
    )


_ZERO = Usage()
