"""How a burst of concurrent requests splits over two equal llama.cpp servers.

    python -m bench.split [--requests N] [--bursts B] [--parallel P]

Two upstream llama.cpp servers (``xllamacpp``, the ``local`` extra) on 127.0.0.1, each
serving the tiny test model with ``P`` slots on one thread. Each policy gets a fresh router
and ``B`` bursts of ``N`` concurrent chats (8 output tokens); a row is the share of each
burst that went to the first server, and the burst's wall time. ``latency, no load`` is
``lowest_latency``'s ranking without the queue term (the measured service time alone, as
before load-aware routing): every request of a burst is ranked from the same snapshot, so
the burst goes to one server.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

MODEL = "llama-3.1-8b"
MESSAGES = [{"role": "user", "content": "Say hi."}]


def _policies() -> dict[str, Callable[[], Any]]:
    from llama_router.routing import (
        ByPriority,
        Candidate,
        Policy,
        Ranker,
        RoutingContext,
        least_busy,
        local_first,
        lowest_latency,
        round_robin,
    )

    class ServiceTimeOnly(Ranker):
        """The latency estimate without the queue term (the old ``ByLatency``)."""

        def key(self, ctx: RoutingContext, candidate: Candidate) -> tuple[float, ...]:
            h = candidate.health
            if h.ttft_ewma is None:
                return (0.0,)
            gen = ctx.output_tokens / h.tps_ewma if h.tps_ewma else 0.0
            return (h.ttft_ewma + gen,)

    return {
        "latency, no load": lambda: Policy(
            ServiceTimeOnly().then(ByPriority()), explore=0.1, rng=random.Random(7), name="old"
        ),
        "lowest_latency": lambda: lowest_latency(rng=random.Random(7)),
        "least_busy": least_busy,
        "round_robin": round_robin,
        "local_first": local_first,
    }


async def burst(router: Any, n: int) -> tuple[Counter[str], float]:
    """``n`` concurrent chats: how many each deployment answered, and the wall time."""
    start = time.perf_counter()
    replies = await asyncio.gather(
        *(router.chat(MODEL, MESSAGES, max_tokens=8, temperature=0.0) for _ in range(n))
    )
    return Counter(r.deployment for r in replies), time.perf_counter() - start


async def _main(requests: int, bursts: int, parallel: int) -> None:
    from llama_router import Deployment, Router
    from llama_router.routing.options import Timeouts
    from llama_router.testing import write_tiny_llama
    from llama_router.testing.servers import LlamaCppServer

    with tempfile.TemporaryDirectory() as tmp:
        model = write_tiny_llama(Path(tmp) / "tiny.gguf")
        async with (
            LlamaCppServer(model, n_ctx=256 * parallel, n_parallel=parallel, n_threads=1) as a,
            LlamaCppServer(model, n_ctx=256 * parallel, n_parallel=parallel, n_threads=1) as b,
        ):
            deployments = [
                Deployment(provider="llamacpp", model=MODEL, name=name, base_url=s.base_url)
                for name, s in (("a", a), ("b", b))
            ]
            print(
                f"{bursts} bursts of {requests} concurrent chats over two llama.cpp servers "
                f"({parallel} slots, 1 thread each); share of each burst on server a:\n"
            )
            print(f"{'policy':<18} {'bursts (a/b)':<40} {'worst':>7} {'s/burst':>8}")
            for name, make in _policies().items():
                async with Router(
                    deployments,
                    env={},
                    policy=make(),
                    rng=random.Random(1),
                    timeouts=Timeouts(total=600.0),
                ) as router:
                    await burst(router, 4)  # warm-up: both servers measured
                    splits, took = [], 0.0
                    for _ in range(bursts):
                        split, wall = await burst(router, requests)
                        splits.append(split)
                        took += wall
                cells = " ".join(f"{s['a']}/{s['b']}" for s in splits)
                worst = max(max(s["a"], s["b"]) / requests for s in splits)
                print(f"{name:<18} {cells:<40} {worst:>6.0%} {took / bursts:>8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--bursts", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=4)
    args = parser.parse_args()
    asyncio.run(_main(args.requests, args.bursts, args.parallel))


if __name__ == "__main__":
    main()
