"""LiteLLM's ``Router`` as a benchmark client, set up like ours against a local fake server.

LiteLLM is not a dependency of llama_router: it is installed only in the bench virtualenv, and
this module imports it lazily (``make_litellm_router``), so importing the module needs nothing.

No egress. The benchmarks must never send traffic anywhere but loopback, and LiteLLM reaches out
by default. Before it is imported (and again before each router is made) these are set:

* ``LITELLM_LOCAL_MODEL_COST_MAP=True``: ``import litellm`` otherwise GETs its model cost map from
  raw.githubusercontent.com, and on failure keeps retrying in a background thread.
* ``LITELLM_OFFLINE_MODE=true``: the first stream to a ``llama*`` model otherwise downloads the
  ``Xenova/llama-3-tokenizer`` from huggingface.co (to count tokens) with five retries; offline,
  LiteLLM uses its bundled tiktoken files. It also keeps the blog-post and Anthropic beta-header
  catalogs local.
* ``HF_HUB_OFFLINE=1``: the same for huggingface_hub itself, should anything else ask it.
* ``LITELLM_MODE=PRODUCTION``: in the default ``DEV`` mode ``import litellm`` loads a ``.env``
  file found from the working directory, which could switch any of this back on.

LiteLLM sets up no callbacks, logging integrations or telemetry unless asked (its telemetry is
opt-in and proxy-only), and we ask for none; only a latency-routed Router adds its own in-process
latency callback. As a backstop, ``install_loopback_guard`` adds an audit hook, before LiteLLM is
imported, that refuses every ``socket.connect``, ``socket.sendto`` and ``socket.getaddrinfo`` for
a host other than 127.0.0.1, localhost or ::1. An audit hook only sees Python's socket module,
not native code (LiteLLM ships a Rust extension with its own HTTP client), so this setup's
no-egress check was also made at the system-call level, with strace.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from types import MappingProxyType
from typing import Any

from bench.common import install_loopback_guard

MODEL_GROUP = "llama-3.1-8b"
# Groq's list prices for llama-3.1-8b-instant (USD per token, input and output). LiteLLM 1.110.2's
# bundled cost map has no groq/llama-3.1-8b-instant, so without these every reply costs 0 and,
# as soon as any multi-deployment router exists in the process, each call of every router also
# runs LiteLLM's zero-cost diagnostic (about 5 ms of CPU here), making the numbers depend on
# which routers were made before. Priced, each call takes LiteLLM's ordinary cost path.
PRICING = MappingProxyType({"input_cost_per_token": 0.05e-6, "output_cost_per_token": 0.08e-6})

OFFLINE_ENV = MappingProxyType(
    {
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_OFFLINE_MODE": "true",
        "HF_HUB_OFFLINE": "1",
        "LITELLM_MODE": "PRODUCTION",
    }
)


def _messages() -> list[dict[str, str]]:
    return [{"role": "user", "content": "Say hello."}]


def _import_litellm() -> Any:
    if "litellm" in sys.modules and any(os.environ.get(k) != v for k, v in OFFLINE_ENV.items()):
        raise RuntimeError("litellm was imported before its network fetches were switched off")
    os.environ.update(OFFLINE_ENV)
    install_loopback_guard()
    return importlib.import_module("litellm")


class LitellmClient:
    """One LiteLLM ``Router``, called the way the benchmarks call every client."""

    def __init__(self, litellm: Any, router: Any) -> None:
        self._litellm = litellm
        self._router = router

    async def chat(self) -> str:
        response = await self._router.acompletion(model=MODEL_GROUP, messages=_messages())
        return str(response.choices[0].message.content)

    async def _open_stream(self) -> Any:
        return await self._router.acompletion(model=MODEL_GROUP, messages=_messages(), stream=True)

    async def stream(self) -> str:
        parts: list[str] = []
        async for chunk in await self._open_stream():
            if chunk.choices and chunk.choices[0].delta.content:
                parts.append(chunk.choices[0].delta.content)
        return "".join(parts)

    async def first_token(self) -> float:
        """Seconds from the call to the first non-empty content delta; the rest is drained."""
        start = time.perf_counter()
        first: float | None = None
        async for chunk in await self._open_stream():
            if first is None and chunk.choices and chunk.choices[0].delta.content:
                first = time.perf_counter() - start
        if first is None:
            raise RuntimeError("the stream carried no content")
        return first

    async def aclose(self) -> None:
        """Retire the router and close LiteLLM's HTTP clients.

        Both are process-wide in LiteLLM: a latency-routed router registers a global callback
        that runs on every LiteLLM call in the process until ``retire()``, and the HTTP clients
        are shared by all routers (closed and forgotten here; later calls make new ones). So
        measure one LiteLLM router at a time, and close it when no call of another is running.
        """
        self._router.retire()
        await self._litellm.close_litellm_async_clients()
        self._litellm.in_memory_llm_clients_cache.flush_cache()


async def make_litellm_router(
    base_url: str, deployments: int, *, model: str = "groq/llama-3.1-8b-instant"
) -> LitellmClient:
    """A LiteLLM Router with ``deployments`` copies of ``model`` at ``base_url``.

    ``base_url`` is the OpenAI-compatible root (``POST {base_url}/chat/completions``). Routing is
    latency-based when there is more than one deployment (LiteLLM's default, simple-shuffle,
    otherwise), with no retries and no fallbacks. LiteLLM's groq provider honours ``api_base``,
    but (1.110.2) fails every non-streamed reply that lacks Groq's ``service_tier`` field;
    ``model="openai/llama-3.1-8b-instant"`` is the fallback for a server that omits it.
    """
    litellm = _import_litellm()
    model_list = [
        {
            "model_name": MODEL_GROUP,
            "litellm_params": {
                "model": model,
                "api_base": base_url,
                "api_key": "gsk_bench",
                **PRICING,
            },
        }
        for _ in range(deployments)
    ]
    strategy = {"routing_strategy": "latency-based-routing"} if deployments > 1 else {}
    router = litellm.Router(model_list=model_list, num_retries=0, fallbacks=[], **strategy)
    return LitellmClient(litellm, router)
