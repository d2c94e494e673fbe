"""A non-streamed request: rank, walk, then record the answer."""

from __future__ import annotations

from llama_router.backends.base import Backend, BackendResult
from llama_router.dispatch.recording import attempt_record, build_response, record_success
from llama_router.dispatch.run import RequestRun, Runtime
from llama_router.dispatch.snapshot import CandidateCache, rank
from llama_router.dispatch.walk import walk
from llama_router.messages import ChatRequest
from llama_router.responses import ChatResponse

__all__ = ["run_chat"]


async def _call(backend: Backend, request: ChatRequest) -> BackendResult:
    return await backend.chat(request)


async def run_chat(rt: Runtime, cache: CandidateCache, run: RequestRun) -> ChatResponse:
    """The answer to ``run.request`` from the first deployment that gives one."""
    decision = await rank(rt, cache, run)
    cand, result = await walk(rt, cache, run, decision.ranked, _call, None)
    end = rt.clock()
    backend = rt.backends[cand.name]
    hedged = run.hedged and cand.name != decision.ranked[0].name
    began = run.started_at[cand.name]
    run.route.append(
        attempt_record(backend, None, end - began, hedged, result.usage, began, result.provenance)
    )
    latency = end - run.started
    response = build_response(
        run.request, backend, result, ttft=latency, latency=latency, route=run.route
    )
    generation = result.timings.generation_s
    ttft = latency - generation if generation else latency
    await record_success(
        rt,
        cand.name,
        end,
        response,
        ttft=max(ttft, 0.0),
        generation_s=generation,
        result=result,
        hedged=run.hedged,
    )
    return response
