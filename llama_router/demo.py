"""``llama-router demo``: the main job, offline, on a fresh machine.

It writes the tiny test model, starts the embedded engine and (with the ``local`` extra) a
real llama.cpp server on loopback (upstream llama.cpp, two slots), routes a handful of
requests under two policies, shows the window the router learned from each engine and how a
burst of concurrent requests splits, stops the server to show a failover, and prints what
happened. The tiny model has random weights:
its answers are noise; the routing, timing and failover are real.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from llama_router.deployments import Deployment
from llama_router.exceptions import LlamaRouterError, MissingDependencyError
from llama_router.responses import ChatResponse
from llama_router.router import Router
from llama_router.routing.options import RetryPolicy, Timeouts
from llama_router.routing.policy import Policy, lowest_latency, ordered

if TYPE_CHECKING:
    from llama_router.testing.servers import LlamaCppServer

__all__ = ["run_demo"]

MODEL = "llama-3.1-8b"
QUESTIONS = (
    "Say hello in five words.",
    "Name a colour.",
    "What is 2 + 2?",
    "Give me one word that rhymes with router.",
)


def _tiny_model_path() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "llama-router"
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError:
        cache = Path(tempfile.gettempdir()) / "llama-router"
        cache.mkdir(parents=True, exist_ok=True)
    return cache / "tiny-llama3-random.gguf"


def _line(response: ChatResponse) -> str:
    text = "".join(c if c.isprintable() else "·" for c in response.text)
    preview = (text[:32] + "...") if len(text) > 32 else text
    ttft = response.time_to_first_token_s or 0.0
    return (
        f"  {response.deployment:<22} first token {ttft * 1000:6.1f} ms  total "
        f"{response.latency_s * 1000:6.1f} ms  {response.usage.completion_tokens:3d} tokens  "
        f"{preview!r}"
    )


def _speed(response: ChatResponse) -> float | None:
    ttft = response.time_to_first_token_s
    tokens = response.usage.completion_tokens
    if ttft is None or tokens < 2 or response.latency_s <= ttft:
        return None
    return (tokens - 1) / (response.latency_s - ttft)


async def _round(router: Router, title: str, n: int, out: TextIO, seen: list[ChatResponse]) -> None:
    print(f"\n{title}", file=out)
    for i in range(n):
        question = QUESTIONS[i % len(QUESTIONS)]
        async with router.stream(
            MODEL, [{"role": "user", "content": question}], max_tokens=24, temperature=0.8, seed=i
        ) as stream:
            response = await stream.get_response()
        seen.append(response)
        print(_line(response), file=out)


async def _windows(router: Router, out: TextIO) -> None:
    """Each engine's window as the router knows it (set, or learned from the engine)."""
    explanation = await router.explain(MODEL, [{"role": "user", "content": QUESTIONS[0]}])
    print("\nContext windows the router knows (learned from each engine unless set):", file=out)
    for row in explanation.rows:
        window = "unknown" if row.context_window is None else f"{row.context_window} tokens"
        print(f"  {row.deployment:<22} {window}", file=out)


async def _burst(router: Router, n: int, out: TextIO) -> None:
    """``n`` requests at once: how the router spreads them over the engines."""
    question = [{"role": "user", "content": QUESTIONS[1]}]
    replies = await asyncio.gather(
        *(router.chat(MODEL, question, max_tokens=8, seed=i) for i in range(n))
    )
    counts: dict[str, int] = {}
    for reply in replies:
        counts[reply.deployment] = counts.get(reply.deployment, 0) + 1
    split = ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
    print(f"\nA burst of {n} requests at once was split: {split}", file=out)


def _summary(seen: list[ChatResponse], out: TextIO) -> None:
    print("\nMeasured on this machine (median per engine):", file=out)
    by: dict[str, list[ChatResponse]] = {}
    for response in seen:
        by.setdefault(response.deployment, []).append(response)
    for name, responses in by.items():
        ttfts = sorted(r.time_to_first_token_s or 0.0 for r in responses)
        speeds = sorted(s for r in responses if (s := _speed(r)) is not None)
        speed = f"{speeds[len(speeds) // 2]:.0f} tokens/s" if speeds else "-"
        print(
            f"  {name:<22} first token {ttfts[len(ttfts) // 2] * 1000:6.1f} ms, "
            f"generation {speed} ({len(responses)} requests)",
            file=out,
        )


def _router(deployments: list[Deployment], policy: Policy, env: Mapping[str, str]) -> Router:
    return Router(
        deployments,
        policy=policy,
        env=env,
        retry=RetryPolicy(max_retries=0),
        timeouts=Timeouts(total=120, first_token=60),
    )


async def run_demo(args: argparse.Namespace, env: Mapping[str, str], out: TextIO) -> int:
    """The demo; see the module docstring."""
    model_path = _model(args, out)
    deployments = [
        Deployment(
            provider="embedded",
            model=MODEL,
            name="embedded",
            model_path=str(model_path),
            num_ctx=2048,
        )
    ]
    server = await _start_server(model_path, deployments, out)
    if args.ollama:
        deployments.insert(
            0, Deployment(provider="ollama", model=MODEL, name="ollama", model_id=args.ollama)
        )
    names = ", ".join(d.name or d.provider for d in deployments)
    print(f"Deployments: {names}", file=out)
    seen: list[ChatResponse] = []
    try:
        async with _router(deployments, ordered(), env) as router:
            title = "Policy 'ordered' (first deployment first, the rest as fallback):"
            await _round(router, title, args.requests, out, seen)
        explore = lowest_latency(explore=0.5, rng=random.Random(0))  # reproducible runs
        async with _router(deployments, explore, env) as router:
            title = "Policy 'lowest_latency' (learns which engine answers fastest):"
            await _round(router, title, args.requests, out, seen)
            await _windows(router, out)
            await _burst(router, args.requests * 4, out)
            if server is not None:
                await _failover(server, deployments, env, out, seen)
    finally:
        if server is not None:
            await asyncio.to_thread(server.stop)
    _summary(seen, out)
    print(
        "\nDone: every request was answered by a real local engine, and the router failed "
        "over when one stopped.",
        file=out,
    )
    return 0


def _model(args: argparse.Namespace, out: TextIO) -> Path:
    """The user's model, or the tiny test model (written once, in the cache)."""
    if args.model_path:
        print(f"Using your model {args.model_path}.", file=out)
        return Path(args.model_path)
    from llama_router.testing.tiny_model import write_tiny_llama

    model_path = _tiny_model_path()
    if not model_path.exists():
        write_tiny_llama(model_path)
    print(
        f"Using the tiny test model {model_path} ({model_path.stat().st_size // 1024} KB).\n"
        "It has random weights: its answers are NOISE. The routing, timings and failover "
        "below are real.\nTo use a real model, change one thing:\n"
        "  llama-router demo --model-path ~/models/Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf\n"
        "  llama-router demo --ollama llama3.1:8b      (a running Ollama)",
        file=out,
    )
    return model_path


async def _start_server(
    model_path: Path, deployments: list[Deployment], out: TextIO
) -> LlamaCppServer | None:
    """Upstream llama.cpp's server on loopback, put first in ``deployments``; ``None`` if it
    cannot start (the demo goes on with the embedded engine)."""
    from llama_router.testing.servers import LlamaCppServer

    try:
        server = LlamaCppServer(model_path, n_ctx=4096, n_parallel=2)  # 2 slots of 2048
        print(
            f"\nStarting a llama.cpp server (upstream, via xllamacpp) on {server.base_url} ...",
            file=out,
        )
        await server.__aenter__()
    except (MissingDependencyError, LlamaRouterError) as error:
        print(f"  (no llama.cpp server: {error}; continuing with the embedded engine)", file=out)
        return None
    deployments.insert(
        0,
        Deployment(
            provider="llamacpp",
            model=MODEL,
            name="llama.cpp-server",
            base_url=server.base_url,  # no context_window: the router learns it
        ),
    )
    return server


async def _failover(
    server: LlamaCppServer,
    deployments: list[Deployment],
    env: Mapping[str, str],
    out: TextIO,
    seen: list[ChatResponse],
) -> None:
    """Kill the server and show the next request's route."""
    print("\nStopping the llama.cpp server to show a failover...", file=out)
    await asyncio.to_thread(server.kill)
    fallback = _router(deployments, ordered(), env)
    question = [{"role": "user", "content": QUESTIONS[0]}]
    async with fallback, fallback.stream(MODEL, question, max_tokens=24) as stream:
        response = await stream.get_response()
    seen.append(response)
    print(_line(response), file=out)
    for attempt in response.route:
        print(
            f"    route: {attempt.deployment:<18} {attempt.outcome:<6} "
            f"{attempt.error or ''} {attempt.elapsed_s * 1000:.1f} ms",
            file=out,
        )
