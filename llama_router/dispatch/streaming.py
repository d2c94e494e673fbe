"""A streamed request: failover before the first token, the idle watch between chunks, and
continuation on another deployment when a stream breaks after text reached the caller."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field

from llama_router.backends.base import Backend, BackendResult, StreamItem
from llama_router.dispatch.deadline import timeout, uncancel
from llama_router.dispatch.idle import IdleWatch
from llama_router.dispatch.recording import (
    attempt_record,
    build_response,
    record_failure,
    record_success,
)
from llama_router.dispatch.run import RequestRun, Runtime
from llama_router.dispatch.snapshot import CandidateCache, rank
from llama_router.dispatch.walk import walk
from llama_router.exceptions import (
    FirstTokenTimeoutError,
    NoDeploymentAvailableError,
    ProviderError,
    ProviderTimeoutError,
    StreamInterruptedError,
)
from llama_router.messages import ChatRequest
from llama_router.responses import (
    ChatResponse,
    Continuation,
    StreamDone,
    StreamEvent,
    TextDelta,
    Usage,
)
from llama_router.routing.context import Candidate

__all__ = ["StreamOpener", "run_stream"]

Opened = tuple[AsyncGenerator[StreamItem, None], StreamItem]
_ZERO = Usage()


class StreamOpener:
    """Starts a stream on a backend and waits (at most ``Timeouts.first_token``) for its
    first item: a stall there is a :class:`FirstTokenTimeoutError`."""

    __slots__ = ("limit",)

    def __init__(self, limit: float) -> None:
        self.limit = limit

    async def __call__(self, backend: Backend, request: ChatRequest) -> Opened:
        gen = backend.stream(request)
        try:
            try:
                async with timeout(self.limit):
                    first = await gen.__anext__()
            except (asyncio.TimeoutError, TimeoutError) as exc:
                raise FirstTokenTimeoutError(
                    f"no first token within {self.limit:g} s",
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


async def _close(opened: Opened) -> None:
    await opened[0].aclose()


@dataclass(slots=True)
class _Delivered:
    """What has reached the caller, over every attempt of the request."""

    parts: list[str] = field(default_factory=list)
    first_token: float | None = None
    continuations: list[Continuation] = field(default_factory=list)


@dataclass(slots=True)
class _Leg:
    """One streamed attempt."""

    cand: Candidate
    start: float
    chunks: int = 0
    result: BackendResult | None = None


async def run_stream(
    rt: Runtime, cache: CandidateCache, run: RequestRun
) -> AsyncGenerator[StreamEvent, None]:
    """Deltas as they arrive, then :class:`StreamDone` with the aggregated response."""
    ranked: Sequence[Candidate] = (await rank(rt, cache, run)).ranked
    sent = _Delivered()
    request, resume_at = run.request, None
    opener = StreamOpener(rt.timeouts.first_token)
    while True:
        cand, (gen, item) = await walk(rt, cache, run, ranked, opener, _close, request=request)
        if resume_at is not None:
            sent.continuations.append(Continuation(deployment=cand.name, offset=resume_at))
        leg = _Leg(cand, run.started_at[cand.name])
        # one_try counted the attempt up to the first item; the stream holds the deployment
        # until its last chunk, so it stays counted in flight while it is relayed.
        await rt.store.begin(cand.name)
        try:
            async with aclosing(_relay(rt, run, gen, item, leg, sent)) as events:
                async for event in events:
                    yield event
        except ProviderError as exc:  # text has reached the caller: no silent failover
            await gen.aclose()
            usage = Usage(completion_tokens=leg.chunks)
            await record_failure(
                rt, run, rt.backends[cand.name], exc, started=leg.start, usage=usage
            )
            text = "".join(sent.parts)
            ranked = await _resume_on(rt, cache, run, exc, text)
            request, resume_at = run.request.with_assistant_prefix(text), len(text)
            continue
        except BaseException:  # the caller left (or was cancelled) mid-stream
            await gen.aclose()
            await rt.store.release_probe(cand.name)
            raise
        finally:
            await rt.store.end(cand.name)
        yield StreamDone(await _finish(rt, run, leg, sent, ranked))
        return


async def _relay(
    rt: Runtime,
    run: RequestRun,
    gen: AsyncGenerator[StreamItem, None],
    item: StreamItem,
    leg: _Leg,
    sent: _Delivered,
) -> AsyncGenerator[StreamEvent, None]:
    """Pass one attempt's deltas on, watching for stalls between chunks."""
    idle = rt.timeouts.idle
    watch = IdleWatch(idle, run.deadline - rt.clock())
    loop_time = asyncio.get_running_loop().time
    try:
        while True:
            if isinstance(item, BackendResult):
                leg.result = item
            else:
                if sent.first_token is None:
                    sent.first_token = rt.clock()
                if isinstance(item, TextDelta):
                    sent.parts.append(item.text)
                    leg.chunks += 1
                yield item
            watch.since = loop_time()
            watch.task = asyncio.current_task()
            try:
                item = await gen.__anext__()
            except StopAsyncIteration:
                return
            except asyncio.CancelledError as exc:
                if not watch.fired:
                    raise
                uncancel(watch.task)
                raise ProviderTimeoutError(
                    f"the stream stalled for {idle:g} s (or the deadline passed)",
                    provider=rt.backends[leg.cand.name].provider,
                    deployment=leg.cand.name,
                ) from exc
            finally:
                watch.task = None
    finally:
        watch.stop()


async def _resume_on(
    rt: Runtime, cache: CandidateCache, run: RequestRun, error: ProviderError, text: str
) -> Sequence[Candidate]:
    """Where a stream that broke after ``text`` may continue: the policy's ranking *now*
    (current health), less what failed in this request. Without continuation, or with
    nothing left, the caller gets :class:`StreamInterruptedError` with the partial text."""
    ranked: Sequence[Candidate] = ()
    if rt.continuation:
        try:
            decision = await rank(rt, cache, run)
        except NoDeploymentAvailableError:
            pass
        else:
            ranked = [c for c in decision.ranked if c.name not in run.failed]
    if ranked:
        return ranked
    why = "" if not rt.continuation else " and no deployment is left to resume"
    raise StreamInterruptedError(
        f"the stream failed after text was delivered{why}: {error}",
        provider=error.provider,
        deployment=error.deployment,
        status_code=error.status_code,
        partial_text=text,
        provenance=error.provenance,
    ) from error


async def _finish(
    rt: Runtime, run: RequestRun, leg: _Leg, sent: _Delivered, ranked: Sequence[Candidate]
) -> ChatResponse:
    """The aggregated answer, recorded as the request's success."""
    result = leg.result or BackendResult(text="", finish_reason="stop", usage=_ZERO)
    end = rt.clock()
    name = leg.cand.name
    backend = rt.backends[name]
    hedged = run.hedged and name != ranked[0].name
    run.route.append(
        attempt_record(
            backend, None, end - leg.start, hedged, result.usage, leg.start, result.provenance
        )
    )
    if sent.continuations:
        result = dataclasses.replace(result, text="".join(sent.parts))
    first = sent.first_token
    response = build_response(
        run.request,
        backend,
        result,
        ttft=None if first is None else first - run.started,
        latency=end - run.started,
        route=run.route,
    )
    if sent.continuations:
        response = response.model_copy(update={"continuations": tuple(sent.continuations)})
    await record_success(
        rt,
        name,
        end,
        response,
        ttft=None if first is None else first - leg.start,
        generation_s=result.timings.generation_s or (None if first is None else end - first),
        result=result,
        hedged=run.hedged,
    )
    return response
