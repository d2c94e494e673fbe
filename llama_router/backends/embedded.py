"""An in-process engine: a GGUF model run by upstream llama.cpp (the prebuilt ``xllamacpp``
wheel, no compiler), the router's last-resort local fallback when no server is reachable.

* llama.cpp's own server runs inside this process with ``n_parallel`` slots (continuous
  batching), each with the whole ``num_ctx`` window; its chat calls release the GIL and run
  in worker threads, so the event loop keeps ticking.
* Every call streams internally: a non-streamed ``chat()`` aggregates the stream. Leaving a
  stream early, cancelling a call, or a deadline cut stops the generation at the next token
  (the chunk callback tells llama.cpp to stop), so an abandoned request frees its slot.
* Replies, usage, ``timings`` and errors are llama.cpp's own, parsed by the same code as the
  llama.cpp server's (:class:`~llama_router.backends.openai_stream.OpenAIStreamParser`): a prompt
  over the window is llama.cpp's ``exceed_context_size_error``, a
  :class:`ContextLengthExceededError`.
* The model loads on first use (in a worker thread), or at :meth:`EmbeddedBackend.load`.
  xllamacpp also opens its HTTP listener on an ephemeral 127.0.0.1 port (it cannot be turned
  off); the router never uses it.

Needs the ``local`` extra (``xllamacpp``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from pathlib import Path
from typing import Any

from llama_router.backends.base import (
    Backend,
    BackendResult,
    HealthReport,
    StreamItem,
    aggregate,
    require_sdk,
)
from llama_router.backends.openai_stream import OpenAIStreamParser
from llama_router.backends.openai_wire import build_chat_body
from llama_router.deployments import Target
from llama_router.exceptions import ProviderError, ProviderUnavailableError
from llama_router.messages import ChatRequest
from llama_router.providers import EMBEDDED_DEFAULT_CONTEXT, EmbeddedOptions
from llama_router.transport import HttpPool

__all__ = ["EmbeddedBackend"]

_END = object()
DEFAULT_SLOTS = 2


class _Failure:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class EmbeddedBackend(Backend):
    """A GGUF model in this process (``Deployment(provider="embedded", model_path=...)``)."""

    provider = "embedded"

    def __init__(
        self, target: Target, http: HttpPool, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(target, http, clock=clock)
        self._xllamacpp = require_sdk("xllamacpp", "embedded", extra="local")
        options = target.options_as(EmbeddedOptions)
        self.model_path = Path(options.model_path)
        self.n_ctx = options.context_window or EMBEDDED_DEFAULT_CONTEXT
        """Each slot's context window, in tokens."""
        self.n_parallel = options.n_parallel or DEFAULT_SLOTS
        self.n_threads = options.n_threads
        self._server: Any = None
        self._load_lock = threading.Lock()

    # -- model -------------------------------------------------------------------------------

    def _load_sync(self) -> Any:
        with self._load_lock:
            if self._server is None:
                if not self.model_path.is_file():
                    raise ProviderUnavailableError(
                        f"model file {str(self.model_path)!r} does not exist",
                        provider=self.provider,
                        deployment=self.target.name,
                    )
                try:
                    self._server = self._xllamacpp.Server(self._params())
                except RuntimeError as exc:  # "Failed to init server"
                    raise ProviderUnavailableError(
                        f"cannot load {self.model_path.name}: not a usable GGUF model",
                        provider=self.provider,
                        deployment=self.target.name,
                    ) from exc
            return self._server

    def _params(self) -> Any:
        params = self._xllamacpp.CommonParams()
        params.model.path = str(self.model_path)
        params.n_ctx = self.n_ctx * self.n_parallel  # shared: each slot gets n_ctx
        params.n_parallel = self.n_parallel
        if self.n_threads:
            params.cpuparams.n_threads = self.n_threads
            params.cpuparams_batch.n_threads = self.n_threads
        params.port = 0  # xllamacpp always listens: an ephemeral loopback port, unused
        params.hostnames = ["127.0.0.1"]
        params.verbosity = -1  # llama.cpp's own log lines are not the application's output
        return params

    async def load(self) -> None:
        """Load the model now (in a worker thread) instead of on the first request."""
        await asyncio.to_thread(self._load_sync)

    @property
    def loaded(self) -> bool:
        return self._server is not None

    def _map_error(self, exc: Exception) -> ProviderError | None:
        return None  # llama.cpp reports failures as error chunks, parsed like the server's

    # -- requests ------------------------------------------------------------------------------

    def _generate(
        self, body: dict[str, Any], push: Callable[[object], None], stop: threading.Event
    ) -> None:
        """Worker thread: run one streamed generation, pushing each chunk as an SSE line."""
        try:
            server = self._load_sync()

            def on_chunk(chunk: dict[str, Any]) -> bool:
                push(f"data: {json.dumps(chunk)}")
                return stop.is_set()  # true: llama.cpp stops generating, the slot is free

            server.handle_chat_completions(body, on_chunk)
            push("data: [DONE]")
        except BaseException as exc:  # handed to the event loop, raised there
            push(_Failure(exc))
        finally:
            push(_END)

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamItem, None]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        stop = threading.Event()

        def push(item: object) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        async def lines() -> AsyncIterator[str]:
            while True:
                item = await queue.get()
                if item is _END:
                    return
                if isinstance(item, _Failure):
                    raise item.error
                assert isinstance(item, str)
                yield item

        body = build_chat_body(request, self.model_path.name, stream=True)
        parser = OpenAIStreamParser(provider=self.provider, deployment=self.target.name)
        worker = loop.run_in_executor(None, self._generate, body, push, stop)
        try:
            async for item in parser.events(lines()):
                if isinstance(item, BackendResult):  # llama.cpp names the file by its full path
                    item = dataclasses.replace(item, provider_model=self.model_path.name)
                yield item
        finally:
            stop.set()
            with contextlib.suppress(BaseException):
                await asyncio.shield(worker)

    async def chat(self, request: ChatRequest) -> BackendResult:
        """The streamed answer, aggregated: cancelling the call stops the generation."""
        return await aggregate(
            self.stream(request), provider=self.provider, deployment=self.target.name
        )

    async def health(self) -> HealthReport:
        if not self.model_path.is_file():
            return HealthReport(
                ok=False,
                detail=f"model file {self.model_path} not found",
                model_available=False,
                loaded=False,
            )
        state = "loaded" if self.loaded else "not loaded yet (the first call loads it)"
        return HealthReport(
            ok=True,
            detail=f"{self.model_path.name}: {state}",
            model_available=True,
            loaded=self.loaded,
        )

    async def aclose(self) -> None:
        if self._server is not None:
            # The last reference goes in a worker thread: the destructor joins llama.cpp's
            # threads, which must not block the event loop.
            held = [self._server]
            self._server = None
            await asyncio.to_thread(held.clear)
