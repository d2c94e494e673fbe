"""An in-process engine: a GGUF model run by llama-cpp-python, the router's last-resort local
fallback when no server is reachable.

* Generation runs in a worker thread, so it never blocks the event loop; one generation at a
  time per model (a ``Llama`` object is not thread-safe), later requests wait their turn.
* Streams go through a queue from the worker; leaving the stream early (or cancelling the
  task) stops the worker at the next token.
* The model loads on first use (in the worker thread), or at :meth:`EmbeddedBackend.load`.
* A prompt that does not fit the context window is refused before generation with
  :class:`ContextLengthExceededError` (checked by counting tokens, not by reading messages).

Needs the ``local`` extra (``llama-cpp-python``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from pathlib import Path
from typing import Any

from llama_router.backends.base import (
    Backend,
    BackendResult,
    HealthReport,
    StreamItem,
    require_sdk,
)
from llama_router.backends.openai_wire import (
    FINISH_REASONS,
    message_to_openai,
    parse_chat_completion,
    sampling_fields,
)
from llama_router.deployments import Target
from llama_router.exceptions import (
    ContextLengthExceededError,
    InvalidRequestError,
    MalformedResponseError,
    ProviderError,
    ProviderUnavailableError,
)
from llama_router.messages import ChatRequest
from llama_router.providers import EmbeddedOptions
from llama_router.responses import FinishReason, ProviderTimings, TextDelta, Usage
from llama_router.transport import HttpPool

__all__ = ["EmbeddedBackend"]

_DONE = object()


class _Failure:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


def _stop_when(stop: threading.Event, eos: int) -> Callable[[Any, Any], Any]:
    """A logits processor that forces end-of-sequence once ``stop`` is set: llama.cpp then
    ends the generation at the next token, even while the library holds back chunks (it
    buffers bytes that are not yet valid UTF-8)."""

    def process(input_ids: Any, scores: Any) -> Any:
        if stop.is_set():
            scores[:] = -float("inf")
            scores[eos] = 0.0
        return scores

    return process


class EmbeddedBackend(Backend):
    """A GGUF model in this process (``Deployment(provider="embedded", model_path=...)``)."""

    provider = "embedded"

    def __init__(
        self, target: Target, http: HttpPool, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(target, http, clock=clock)
        self._llama_cpp = require_sdk("llama_cpp", "embedded", extra="local")
        options = target.options_as(EmbeddedOptions)
        self.model_path = Path(options.model_path)
        self.n_ctx = options.num_ctx or 2048
        self.n_threads = options.n_threads
        self._llm: Any = None
        self._lock = asyncio.Lock()
        self._load_lock = threading.Lock()

    # -- model -------------------------------------------------------------------------------

    def _load_sync(self) -> Any:
        with self._load_lock:
            if self._llm is None:
                if not self.model_path.is_file():
                    raise ProviderUnavailableError(
                        f"model file {str(self.model_path)!r} does not exist",
                        provider=self.provider,
                        deployment=self.target.name,
                    )
                try:
                    self._llm = self._llama_cpp.Llama(
                        model_path=str(self.model_path),
                        n_ctx=self.n_ctx,
                        n_threads=self.n_threads,
                        verbose=False,
                    )
                except ValueError as exc:  # llama-cpp-python's "failed to load model"
                    raise ProviderUnavailableError(
                        f"cannot load {self.model_path.name}: not a usable GGUF model",
                        provider=self.provider,
                        deployment=self.target.name,
                    ) from exc
            return self._llm

    async def load(self) -> None:
        """Load the model now (in a worker thread) instead of on the first request."""
        await asyncio.to_thread(self._load_sync)

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    def _map_error(self, exc: Exception) -> ProviderError | None:
        if isinstance(exc, (RuntimeError, ValueError)):
            return InvalidRequestError(
                f"llama.cpp refused the request ({type(exc).__name__})",
                provider=self.provider,
                deployment=self.target.name,
            )
        return None

    # -- requests ------------------------------------------------------------------------------

    def _kwargs(self, request: ChatRequest) -> dict[str, Any]:
        s = request.settings
        kwargs: dict[str, Any] = {
            "messages": [message_to_openai(m) for m in request.messages],
            "max_tokens": s.max_tokens,  # None: no cap (llama-cpp-python's default is 16)
            **sampling_fields(s),
        }
        fmt = s.response_format
        if fmt is not None and fmt.type == "json_object":
            kwargs["response_format"] = {"type": "json_object"}
        elif fmt is not None and fmt.type == "json_schema":
            kwargs["response_format"] = {"type": "json_object", "schema": fmt.json_schema}
        return kwargs

    def _check_fits(self, llm: Any, request: ChatRequest) -> None:
        """Refuse a prompt that cannot fit, by token count (a lower bound of the template)."""
        text = "".join(m.content for m in request.messages)
        prompt = len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))
        prompt += 4 * len(request.messages)  # Llama 3 headers per message
        wanted = prompt + (request.settings.max_tokens or 1)
        if wanted > llm.n_ctx():
            raise ContextLengthExceededError(
                f"~{prompt} prompt tokens + {request.settings.max_tokens or 1} output tokens "
                f"exceed the {llm.n_ctx()}-token context window of {self.model_path.name}",
                provider=self.provider,
                deployment=self.target.name,
            )

    def _chat_sync(self, request: ChatRequest) -> dict[str, Any]:
        llm = self._load_sync()
        self._check_fits(llm, request)
        with self._mapped_errors():
            reply: dict[str, Any] = llm.create_chat_completion(**self._kwargs(request))
        return reply

    async def chat(self, request: ChatRequest) -> BackendResult:
        async with self._lock:
            start = self._clock()
            data = await asyncio.to_thread(self._chat_sync, request)
            elapsed = self._clock() - start
        result = parse_chat_completion(data, provider=self.provider, deployment=self.target.name)
        tokens = result.usage.completion_tokens
        return BackendResult(
            text=result.text,
            finish_reason=result.finish_reason,
            usage=result.usage,
            tool_calls=result.tool_calls,
            timings=ProviderTimings(
                total_s=elapsed,
                output_tokens_per_second=tokens / elapsed if elapsed > 0 else None,
            ),
            provider_model=self.model_path.name,
        )

    def _produce(
        self, request: ChatRequest, push: Callable[[object], None], stop: threading.Event
    ) -> None:
        """Worker thread: run the stream, push chunks, end with counts or a failure."""
        try:
            llm = self._load_sync()
            self._check_fits(llm, request)
            with self._mapped_errors():
                chunks: Iterator[dict[str, Any]] = llm.create_chat_completion(
                    **self._kwargs(request),
                    stream=True,
                    logits_processor=self._llama_cpp.LogitsProcessorList(
                        [_stop_when(stop, llm.token_eos())]
                    ),
                )
                produced = 0
                for chunk in chunks:
                    if stop.is_set():
                        with contextlib.suppress(Exception):
                            chunks.close()  # type: ignore[attr-defined]
                        break
                    choice = chunk["choices"][0]
                    if choice.get("delta", {}).get("content"):
                        produced += 1
                    push(chunk)
                prompt = max(int(llm.n_tokens) - produced, 0)
            push((prompt, produced))
        except BaseException as exc:  # handed to the event loop, raised there
            push(_Failure(exc))
        finally:
            push(_DONE)

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamItem, None]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        stop = threading.Event()

        def push(item: object) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        async with self._lock:
            start = self._clock()
            worker = loop.run_in_executor(None, self._produce, request, push, stop)
            try:
                parts: list[str] = []
                finish: FinishReason = "stop"
                counts: tuple[int, int] = (0, 0)
                first: float | None = None
                while True:
                    item = await queue.get()
                    if item is _DONE:
                        break
                    if isinstance(item, _Failure):
                        raise item.error
                    if isinstance(item, tuple):
                        counts = item
                        continue
                    chunk: Any = item
                    try:
                        choice = chunk["choices"][0]
                        content = (choice.get("delta") or {}).get("content")
                        reason = choice.get("finish_reason")
                    except (KeyError, IndexError, TypeError, AttributeError) as exc:
                        raise MalformedResponseError(
                            "unexpected chunk from llama-cpp-python",
                            provider=self.provider,
                            deployment=self.target.name,
                        ) from exc
                    if content:
                        if first is None:
                            first = self._clock()
                        parts.append(content)
                        yield TextDelta(content)
                    if reason:
                        finish = FINISH_REASONS.get(reason, "stop")
            finally:
                stop.set()
                with contextlib.suppress(BaseException):
                    await asyncio.shield(worker)
            end = self._clock()
            generation = end - first if first is not None else None
            yield BackendResult(
                text="".join(parts),
                finish_reason=finish,
                usage=Usage(prompt_tokens=counts[0], completion_tokens=counts[1]),
                timings=ProviderTimings(
                    prompt_s=None if first is None else first - start,
                    generation_s=generation,
                    total_s=end - start,
                    output_tokens_per_second=counts[1] / generation if generation else None,
                ),
                provider_model=self.model_path.name,
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
        llm, self._llm = self._llm, None
        close = getattr(llm, "close", None)
        if close is not None:
            async with self._lock:
                await asyncio.to_thread(close)
