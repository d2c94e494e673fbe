"""A provider emulator: one HTTP server on 127.0.0.1 that speaks the real wire formats of
Groq, Together, llama.cpp, Ollama and Replicate, with scriptable behaviour and faults.

Point real deployments at it (the official SDKs take the same code path as in production)::

    async with ProviderEmulator() as emu:
        emu.script("groq", Fault.http(429, retry_after=2), Fault.reset(after_tokens=3))
        router = Router([
            Deployment(provider="groq", model="llama-3.1-8b", base_url=emu.url("groq")),
            Deployment(provider="ollama", model="llama-3.1-8b", base_url=emu.url("ollama")),
        ], env={"GROQ_API_KEY": "gsk_test"})

Each provider is served under its own path prefix (``emu.url(provider)``). Faults are
consumed one per request in the order scripted; with none left, a request succeeds with the
provider's :class:`Behaviour` (delays, time to first token, tokens per second). Every request
is logged with what was really sent, so tests compare answers against the ground truth
(``ProviderEmulator(record=False)`` keeps no log, only counters, for long runs).

Faults: an HTTP error status with the provider's real error body and headers (Retry-After,
rate-limit headers); a connection reset before the reply or after N tokens; a stall; a
malformed body; a truncated stream; an error event inside an HTTP 200 stream; a slow but
successful reply; a Replicate prediction that fails or cold-boots.

Streams are sent with ``transfer-encoding: chunked`` and the connection is kept alive after
them, as real providers do; only ``reset`` and ``stall`` drop it.

Run as a separate process (for benchmarks), it is driven over HTTP by the endpoints under
``/_emulator/`` (``behave``, ``script``, ``random``, ``reset``, ``stats``)::

    python -m llama_router.testing.emulator --port 0 --cpu 1 --no-record
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import itertools
import json
import math
import os
import random
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import Any, ClassVar, Literal, TypeGuard, cast, get_args

__all__ = [
    "Behaviour",
    "EmulatorStats",
    "Fault",
    "LoggedRequest",
    "ProviderEmulator",
    "ProviderStats",
    "main",
]

Provider = Literal["groq", "together", "llamacpp", "ollama", "replicate"]
PROVIDERS: tuple[Provider, ...] = ("groq", "together", "llamacpp", "ollama", "replicate")
FaultKind = Literal[
    "status",
    "reset",
    "stall",
    "malformed",
    "truncate",
    "error_event",
    "failed",
    "cold_boot",
    "slow",
]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)
LOOPBACK = ("127.0.0.1", "localhost", "::1")
CONTROL_PREFIX = "/_emulator/"
MAX_TOKEN_COUNT = 1_000_000
"""The largest ``token_count`` the ``behave`` endpoint accepts."""

# Defaults of the Fault constructors, used by Fault.from_dict for missing fields.
_KIND_DEFAULTS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "truncate": MappingProxyType({"after_tokens": 1}),
        "error_event": MappingProxyType({"after_tokens": 1, "status": 500}),
        "cold_boot": MappingProxyType({"after_tokens": 3}),
    }
)


@dataclass(frozen=True, slots=True)
class Fault:
    """One scripted misbehaviour, for one request."""

    kind: FaultKind
    status: int = 503
    retry_after: float | None = None
    after_tokens: int = 0
    seconds: float = 0.0
    rate_limit_reset: str | None = None

    @classmethod
    def http(
        cls, status: int, *, retry_after: float | None = None, rate_limit_reset: str | None = None
    ) -> Fault:
        """An HTTP error status with the provider's real error body."""
        return cls(
            "status", status=status, retry_after=retry_after, rate_limit_reset=rate_limit_reset
        )

    @classmethod
    def reset(cls, after_tokens: int = 0) -> Fault:
        """Drop the connection before the reply (0) or after ``after_tokens`` tokens."""
        return cls("reset", after_tokens=after_tokens)

    @classmethod
    def stall(cls, seconds: float, after_tokens: int = 0) -> Fault:
        """Go silent for ``seconds`` (before the reply or after some tokens), then drop the
        connection, as a hung upstream does."""
        return cls("stall", seconds=seconds, after_tokens=after_tokens)

    @classmethod
    def malformed(cls, after_tokens: int = 0) -> Fault:
        """A body (0) or a stream chunk after ``after_tokens`` tokens that is not valid JSON."""
        return cls("malformed", after_tokens=after_tokens)

    @classmethod
    def truncate(cls, after_tokens: int = 1) -> Fault:
        """End a stream cleanly but early: no final chunk, no [DONE]."""
        return cls("truncate", after_tokens=after_tokens)

    @classmethod
    def error_event(cls, after_tokens: int = 1, status: int = 500) -> Fault:
        """An error inside an HTTP 200 stream."""
        return cls("error_event", after_tokens=after_tokens, status=status)

    @classmethod
    def failed(cls) -> Fault:
        """Replicate: the prediction ends ``failed`` (HTTP 200)."""
        return cls("failed")

    @classmethod
    def cold_boot(cls, polls: int = 3) -> Fault:
        """Replicate: the prediction stays ``starting`` for ``polls`` polls."""
        return cls("cold_boot", after_tokens=polls)

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        """A slow but successful reply: ``seconds`` more before the first token (streams) or
        before the reply (non-streaming), then a normal answer."""
        return cls("slow", seconds=seconds)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fault:
        """The fault described by ``data`` (JSON: ``{"kind": "stall", "seconds": 5}``): the
        dataclass's fields, each checked. Missing fields take the defaults of the matching
        constructor (``{"kind": "truncate"}`` is ``Fault.truncate()``).

        Raises :class:`ValueError` saying what is wrong."""
        data = _object(data, "a fault")
        _check_fields(data, [f.name for f in dataclasses.fields(cls)], "fault")
        kind = data.get("kind")
        if kind not in FAULT_KINDS:
            raise ValueError(
                f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}"
            )
        data = {**_KIND_DEFAULTS.get(kind, {}), **data}
        status = data.get("status", 503)
        low = 400 if kind == "status" else 100
        if isinstance(status, bool) or not isinstance(status, int) or not low <= status <= 599:
            raise ValueError(f"status must be an integer from {low} to 599, got {status!r}")
        retry_after = data.get("retry_after")
        if retry_after is not None:
            retry_after = _seconds(data, "retry_after")
        rate_limit_reset = data.get("rate_limit_reset")
        if rate_limit_reset is not None and not isinstance(rate_limit_reset, str):
            raise ValueError(f"rate_limit_reset must be a string or null, got {rate_limit_reset!r}")
        after_tokens = _count(data, "after_tokens", 0)
        if kind in ("truncate", "error_event") and after_tokens < 1:
            raise ValueError(f"a {kind} fault needs after_tokens >= 1")
        return cls(
            cast(FaultKind, kind),
            status=status,
            retry_after=retry_after,
            after_tokens=after_tokens,
            seconds=_seconds(data, "seconds"),
            rate_limit_reset=rate_limit_reset,
        )


_DEFAULT_TOKENS: tuple[str, ...] = ("Hello", " from", " the", " emulator", ".")


@dataclass(frozen=True, slots=True)
class Behaviour:
    """How a provider answers when no fault is scripted."""

    delay_to_headers: float = 0.0
    ttft: float = 0.0
    tokens_per_second: float | None = None
    """``None``: all tokens at once."""
    tokens: tuple[str, ...] = _DEFAULT_TOKENS

    @staticmethod
    def numbered_tokens(count: int) -> tuple[str, ...]:
        """``count`` generated tokens, ``" tok0"``, ``" tok1"``, ... (for long streams)."""
        return tuple(f" tok{i}" for i in range(count))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Behaviour:
        """The behaviour described by ``data`` (JSON): the dataclass's fields, each checked,
        with ``"token_count": n`` instead of ``"tokens"`` for :meth:`numbered_tokens`.

        Raises :class:`ValueError` saying what is wrong."""
        data = _object(data, "a behaviour")
        allowed = [*(f.name for f in dataclasses.fields(cls)), "token_count"]
        _check_fields(data, allowed, "behaviour")
        tokens_per_second = data.get("tokens_per_second")
        if tokens_per_second is not None and (
            not _is_number(tokens_per_second) or tokens_per_second <= 0
        ):
            raise ValueError(
                f"tokens_per_second must be a finite number > 0 or null, got {tokens_per_second!r}"
            )
        if "tokens" in data and "token_count" in data:
            raise ValueError("give tokens or token_count, not both")
        tokens = _DEFAULT_TOKENS
        if "tokens" in data:
            listed = data["tokens"]
            if not isinstance(listed, list) or not all(isinstance(t, str) for t in listed):
                raise ValueError("tokens must be an array of strings")
            tokens = tuple(listed)
        elif "token_count" in data:
            tokens = cls.numbered_tokens(_count(data, "token_count", 0, maximum=MAX_TOKEN_COUNT))
        return cls(
            delay_to_headers=_seconds(data, "delay_to_headers"),
            ttft=_seconds(data, "ttft"),
            tokens_per_second=None if tokens_per_second is None else float(tokens_per_second),
            tokens=tokens,
        )


_DEFAULT_BEHAVIOUR = Behaviour()


@dataclass(slots=True)
class LoggedRequest:
    """One request as the emulator saw and answered it."""

    provider: str
    path: str
    stream: bool
    body: Any
    headers: dict[str, str]
    fault: Fault | None
    sent_text: str = ""
    """The answer text actually written to the socket (the ground truth)."""
    sent_tokens: int = 0
    """How many tokens of it were written."""
    at: float = 0.0
    """When the request arrived (event-loop time)."""
    first_write_at: float | None = None
    """When the first token was written (event-loop time)."""
    completed: bool = False
    usage: tuple[int, int] | None = None
    """(prompt, completion) tokens the emulator reported."""


@dataclass(frozen=True, slots=True)
class ProviderStats:
    """Counters for one provider since the start (or the last :meth:`ProviderEmulator.reset`)."""

    requests: int
    """Requests that reached the provider's chat (or Replicate create) route."""
    completed: int
    """Of them, answered in full."""
    faults: Mapping[str, int]
    """Faults applied, by kind."""


@dataclass(frozen=True, slots=True)
class EmulatorStats:
    """A snapshot of the emulator's counters (kept with ``record=False`` too)."""

    connections: int
    """TCP connections accepted since the emulator started."""
    predictions: int
    """Replicate predictions held (not yet dropped)."""
    providers: Mapping[str, ProviderStats]

    def to_json(self) -> dict[str, Any]:
        """The JSON form served by ``GET /_emulator/stats``."""
        return {
            "connections": self.connections,
            "predictions": self.predictions,
            "providers": {
                name: {"requests": s.requests, "completed": s.completed, "faults": dict(s.faults)}
                for name, s in self.providers.items()
            },
        }


@dataclass(slots=True)
class _Counts:
    """One provider's counters (mutable, private)."""

    requests: int = 0
    completed: int = 0
    faults: collections.Counter[str] = field(default_factory=collections.Counter)


def _fresh_counts() -> dict[str, _Counts]:
    return {provider: _Counts() for provider in PROVIDERS}


@dataclass(slots=True)
class _Prediction:
    id: str
    tokens: tuple[str, ...]
    fault: Fault | None
    polls_left: int
    log: LoggedRequest
    stream: bool
    counts: _Counts
    streamed: bool = False
    """Its stream ended with the ``done`` event (the client still fetches the final state)."""


@dataclass(slots=True)
class _State:
    behaviour: dict[str, Behaviour] = field(default_factory=dict)
    faults: dict[str, deque[Fault]] = field(default_factory=dict)
    chooser: dict[str, Callable[[int], Fault | None]] = field(default_factory=dict)
    log: list[LoggedRequest] = field(default_factory=list)
    predictions: dict[str, _Prediction] = field(default_factory=dict)
    counts: dict[str, _Counts] = field(default_factory=_fresh_counts)


class _Reset(Exception):
    """Abort the connection."""


class ProviderEmulator:
    """The emulator; use it as an async context manager.

    With ``record=False`` no :class:`LoggedRequest` is kept (``log`` stays empty) and finished
    Replicate predictions are dropped, so memory stays flat over long runs; :meth:`stats`
    still counts everything."""

    _MAX_PREDICTIONS: ClassVar[int] = 10_000
    """With ``record=False``, at most this many Replicate predictions are held (oldest go)."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, record: bool = True) -> None:
        if host not in LOOPBACK:
            raise ValueError("the emulator only listens on loopback")
        self.host = host
        self.record = record
        self._port = port
        self._server: asyncio.Server | None = None
        self._state = _State()
        self._ids = itertools.count(1)
        self._connections = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._readers: dict[asyncio.StreamWriter, asyncio.StreamReader] = {}

    # -- scripting -------------------------------------------------------------------------

    def url(self, provider: Provider) -> str:
        """The base URL to give ``Deployment(base_url=...)`` for ``provider``."""
        return f"{self.base_url}/{provider}"

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT``, where the control endpoints live (``/_emulator/...``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def port(self) -> int:
        """The port listened on (chosen by the system when constructed with ``port=0``)."""
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        sock = self._server.sockets[0]
        return int(sock.getsockname()[1])

    def behave(self, provider: Provider, behaviour: Behaviour) -> None:
        """Answer requests to ``provider`` that get no fault with ``behaviour``."""
        self._state.behaviour[provider] = behaviour

    def script(self, provider: Provider, *faults: Fault) -> None:
        """Queue faults for the next requests to ``provider`` (one per request)."""
        self._state.faults.setdefault(provider, deque()).extend(faults)

    def choose_faults(self, provider: Provider, chooser: Callable[[int], Fault | None]) -> None:
        """Decide each request's fault with ``chooser(request_number)`` (e.g. seeded random),
        once the scripted faults are used up. ``request_number`` counts the earlier requests
        to ``provider`` from 0 (since the start or the last :meth:`reset`)."""
        self._state.chooser[provider] = chooser

    def random_faults(self, provider: Provider, fault: Fault, share: float, seed: int = 0) -> None:
        """Give ``fault`` to a ``share`` (0 to 1) of the requests to ``provider``, chosen by
        ``random.Random(seed)``: the same seed picks the same requests."""
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"share must be between 0 and 1, got {share!r}")
        rng = random.Random(seed)

        def choose(_number: int) -> Fault | None:
            return fault if rng.random() < share else None

        self.choose_faults(provider, choose)

    def reset(self) -> None:
        """Forget all scripted faults, choosers and behaviours, the log and the per-provider
        counters (request numbering starts again at 0). The count of connections accepted
        and Replicate predictions still in flight are kept."""
        state = self._state
        state.behaviour.clear()
        state.faults.clear()
        state.chooser.clear()
        state.log.clear()
        state.counts = _fresh_counts()

    def stats(self) -> EmulatorStats:
        """A snapshot of the counters: per provider, requests, completed answers and faults
        by kind; the TCP connections accepted."""
        return EmulatorStats(
            connections=self._connections,
            predictions=len(self._state.predictions),
            providers=MappingProxyType(
                {
                    name: ProviderStats(c.requests, c.completed, MappingProxyType(dict(c.faults)))
                    for name, c in self._state.counts.items()
                }
            ),
        )

    @property
    def log(self) -> list[LoggedRequest]:
        """Every request so far, in arrival order (empty with ``record=False``)."""
        return self._state.log

    def requests(self, provider: Provider) -> list[LoggedRequest]:
        """The logged requests to ``provider``."""
        return [r for r in self._state.log if r.provider == provider]

    def _admit(self, provider: str) -> tuple[Fault | None, _Counts]:
        """Count a request to ``provider`` and choose its fault: O(1)."""
        counts = self._state.counts[provider]
        number = counts.requests
        counts.requests += 1
        fault: Fault | None = None
        queued = self._state.faults.get(provider)
        if queued:
            fault = queued.popleft()
        else:
            chooser = self._state.chooser.get(provider)
            if chooser is not None:
                fault = chooser(number)
        if fault is not None:
            counts.faults[fault.kind] += 1
        return fault, counts

    def _keep(self, entry: LoggedRequest) -> None:
        if self.record:
            self._state.log.append(entry)

    @staticmethod
    def _complete(entry: LoggedRequest, counts: _Counts) -> None:
        if not entry.completed:
            entry.completed = True
            counts.completed += 1

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> ProviderEmulator:
        self._server = await asyncio.start_server(self._serve, self.host, self._port)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop listening and drop every open connection."""
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            handlers = list(self._handlers)
            for task in handlers:
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    # -- HTTP -----------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections += 1
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                method, target, _ = line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while True:
                    raw = await reader.readline()
                    if raw in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = raw.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await _read_body(reader, headers)
                self._readers[writer] = reader
                keep_alive = await self._dispatch(method, target, headers, body, writer)
                if not keep_alive or headers.get("connection", "").lower() == "close":
                    return
        except (_Reset, ConnectionError, asyncio.IncompleteReadError):
            writer.transport.abort()
        except ValueError:
            writer.transport.abort()
        except asyncio.CancelledError:
            writer.transport.abort()  # the emulator is closing
        finally:
            if task is not None:
                self._handlers.discard(task)
            self._writers.discard(writer)
            self._readers.pop(writer, None)
            with contextlib.suppress(Exception):
                writer.close()

    async def _send(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> bool:
        head = [
            f"HTTP/1.1 {status} X",
            f"content-type: {content_type}",
            f"content-length: {len(body)}",
        ]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        await writer.drain()
        return True

    async def _start_stream(
        self, writer: asyncio.StreamWriter, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        head = ["HTTP/1.1 200 OK", f"content-type: {content_type}", "transfer-encoding: chunked"]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
        await writer.drain()

    @staticmethod
    async def _end_stream(writer: asyncio.StreamWriter) -> None:
        """The last chunk: the body is complete and the connection stays open."""
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async def _dispatch(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        raw: bytes,
        writer: asyncio.StreamWriter,
    ) -> bool:
        path = target.split("?", 1)[0]
        if path.startswith(CONTROL_PREFIX):
            return await self._control(method, path[len(CONTROL_PREFIX) :], raw, writer)
        provider, _, rest = path.lstrip("/").partition("/")
        rest = "/" + rest
        try:
            body = json.loads(raw) if raw else None
        except (ValueError, RecursionError):
            body = None
        if provider not in PROVIDERS:
            return await self._send(writer, 404, b'{"error": "unknown provider prefix"}')
        if method == "GET":
            return await self._get(provider, rest, writer)
        if provider == "replicate":
            return await self._replicate_post(rest, headers, body, writer)
        is_chat = rest in ("/openai/v1/chat/completions", "/v1/chat/completions", "/api/chat")
        if not is_chat or not isinstance(body, dict):
            return await self._send(writer, 404, b'{"error": "not found"}')
        stream = bool(body.get("stream", provider == "ollama"))
        fault, counts = self._admit(provider)
        entry = LoggedRequest(
            provider, path, stream, body, headers, fault, at=asyncio.get_running_loop().time()
        )
        self._keep(entry)
        behaviour = self._state.behaviour.get(provider, _DEFAULT_BEHAVIOUR)
        if behaviour.delay_to_headers:
            await asyncio.sleep(behaviour.delay_to_headers)
        if fault is not None and fault.after_tokens == 0:
            if fault.kind == "reset":
                raise _Reset
            if fault.kind == "stall":
                await asyncio.sleep(fault.seconds)
                raise _Reset
            if fault.kind == "status":
                return await self._error(provider, fault, writer)
            if fault.kind == "malformed":
                return await self._send(writer, 200, b'{"choices": [ {"broken": ')
        tokens = behaviour.tokens
        if stream:
            await self._stream(provider, body, behaviour, tokens, fault, entry, counts, writer)
            await self._end_stream(writer)
            return True
        wait = behaviour.ttft + _slow(fault)
        if wait:
            await asyncio.sleep(wait)
        entry.sent_text = "".join(tokens)
        entry.sent_tokens = len(tokens)
        self._complete(entry, counts)
        entry.usage = (_prompt_tokens(body), len(tokens))
        return await self._send(
            writer, 200, _full_reply(provider, body, tokens), headers=_rate_headers(provider)
        )

    async def _error(self, provider: str, fault: Fault, writer: asyncio.StreamWriter) -> bool:
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["retry-after"] = f"{fault.retry_after:g}"
        if fault.rate_limit_reset is not None:
            headers.update(
                {
                    "x-ratelimit-limit-tokens": "6000",
                    "x-ratelimit-remaining-tokens": "0",
                    "x-ratelimit-reset-tokens": fault.rate_limit_reset,
                }
            )
        return await self._send(
            writer, fault.status, _error_body(provider, fault.status), headers=headers
        )

    async def _stream(
        self,
        provider: str,
        body: dict[str, Any],
        behaviour: Behaviour,
        tokens: tuple[str, ...],
        fault: Fault | None,
        entry: LoggedRequest,
        counts: _Counts,
        writer: asyncio.StreamWriter,
    ) -> None:
        """Write the stream's chunks; returns (for the caller to end the body) when the
        content is complete or a fault cut it; raises :class:`_Reset` to drop the connection."""
        ndjson = provider == "ollama"
        await self._start_stream(
            writer,
            "application/x-ndjson" if ndjson else "text/event-stream",
            _rate_headers(provider),
        )
        wait = behaviour.ttft + _slow(fault)
        if wait:
            await asyncio.sleep(wait)
        gap = 1.0 / behaviour.tokens_per_second if behaviour.tokens_per_second else 0.0
        model = str(body.get("model", "model"))
        for i, token in enumerate(tokens):
            if fault is not None and i == fault.after_tokens and fault.after_tokens > 0:
                if fault.kind == "reset":
                    await asyncio.sleep(0.01)  # let what was sent reach the client first
                    raise _Reset
                if fault.kind == "stall":
                    await asyncio.sleep(fault.seconds)
                    raise _Reset
                if fault.kind == "truncate":
                    return
                if fault.kind == "malformed":
                    writer.write(
                        _frame(b'data: {"choices": [ {\n\n' if not ndjson else b'{"message": \n')
                    )
                    return
                if fault.kind == "error_event":
                    writer.write(_frame(_stream_error(provider, fault.status)))
                    return
            if i and gap:
                await asyncio.sleep(gap)
            reader = self._readers.get(writer)
            if reader is not None and reader.at_eof():
                raise _Reset  # the client has gone: what we write now is never received
            writer.write(_frame(_chunk(provider, model, token)))
            if entry.first_write_at is None:
                entry.first_write_at = asyncio.get_running_loop().time()
            entry.sent_text += token
            entry.sent_tokens += 1
            await writer.drain()
        usage = (_prompt_tokens(body), len(tokens))
        writer.write(_frame(_final(provider, model, usage, bool(body.get("stream_options")))))
        await writer.drain()
        entry.usage = usage
        self._complete(entry, counts)

    # -- GET routes (health, models, Replicate polling and streams) -----------------------------

    async def _get(self, provider: str, rest: str, writer: asyncio.StreamWriter) -> bool:
        if provider == "llamacpp" and rest == "/health":
            return await self._send(writer, 200, b'{"status": "ok"}')
        if provider == "ollama" and rest in ("/api/tags", "/api/ps"):
            model = {
                "name": "llama3.1:8b",
                "model": "llama3.1:8b",
                "size": 1,
                "digest": "d",
                "modified_at": "2026-11-01T00:00:00Z",
                "expires_at": "2026-12-01T00:00:00Z",
                "size_vram": 1,
                "details": {"family": "llama"},
            }
            return await self._send(writer, 200, json.dumps({"models": [model]}).encode())
        if rest.endswith("/models"):
            data = {"object": "list", "data": [{"id": "llama-3.1-8b-instant", "object": "model"}]}
            return await self._send(writer, 200, json.dumps(data).encode())
        if provider == "replicate" and rest == "/v1/account":
            return await self._send(writer, 200, b'{"type": "user", "username": "emulator"}')
        if provider == "replicate" and rest.startswith("/v1/predictions/"):
            prediction = self._state.predictions.get(rest.rsplit("/", 1)[1])
            if prediction is None:
                return await self._send(writer, 404, b'{"detail": "Not found."}')
            return await self._send(writer, 200, json.dumps(self._poll(prediction)).encode())
        if provider == "replicate" and rest.startswith("/stream/"):
            prediction = self._state.predictions.get(rest.rsplit("/", 1)[1])
            if prediction is None:
                return await self._send(writer, 404, b'{"detail": "Not found."}')
            await self._replicate_stream(prediction, writer)
            return True
        return await self._send(writer, 404, b'{"error": "not found"}')

    # -- control endpoints (/_emulator/...) ---------------------------------------------------

    async def _control(
        self, method: str, name: str, raw: bytes, writer: asyncio.StreamWriter
    ) -> bool:
        """A thin HTTP layer over :meth:`behave`, :meth:`script`, :meth:`random_faults`,
        :meth:`reset` and :meth:`stats`, for a driver in another process."""
        if name == "stats":
            if method != "GET":
                return await self._send(
                    writer,
                    405,
                    _error_json("use GET for /_emulator/stats"),
                    headers={"allow": "GET"},
                )
            return await self._send(writer, 200, json.dumps(self.stats().to_json()).encode())
        actions: dict[str, Callable[[dict[str, Any]], None]] = {
            "behave": self._control_behave,
            "script": self._control_script,
            "random": self._control_random,
            "reset": self._control_reset,
        }
        action = actions.get(name)
        if action is None:
            known = ", ".join([*actions, "stats"])
            return await self._send(
                writer, 404, _error_json(f"no control endpoint {name!r}; there are {known}")
            )
        if method != "POST":
            return await self._send(
                writer,
                405,
                _error_json(f"use POST for /_emulator/{name}"),
                headers={"allow": "POST"},
            )
        try:
            action(_json_body(raw))
        except ValueError as exc:
            return await self._send(writer, 400, _error_json(str(exc)))
        return await self._send(writer, 200, b'{"ok": true}')

    def _control_behave(self, data: dict[str, Any]) -> None:
        provider = _provider(data)
        self.behave(
            provider, Behaviour.from_dict({k: v for k, v in data.items() if k != "provider"})
        )

    def _control_script(self, data: dict[str, Any]) -> None:
        _check_fields(data, ("provider", "faults"), "script")
        provider = _provider(data)
        listed = data.get("faults")
        if not isinstance(listed, list):
            raise ValueError("faults must be an array of fault objects")
        faults: list[Fault] = []
        for i, item in enumerate(listed):
            try:
                faults.append(Fault.from_dict(item))
            except ValueError as exc:
                raise ValueError(f"faults[{i}]: {exc}") from None
        self.script(provider, *faults)

    def _control_random(self, data: dict[str, Any]) -> None:
        _check_fields(data, ("provider", "share", "seed", "fault"), "random")
        provider = _provider(data)
        share = data.get("share")
        if not _is_number(share) or not 0 <= share <= 1:
            raise ValueError(f"share must be a number from 0 to 1, got {share!r}")
        seed = data.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        if "fault" not in data:
            raise ValueError("fault is required")
        try:
            fault = Fault.from_dict(data["fault"])
        except ValueError as exc:
            raise ValueError(f"fault: {exc}") from None
        self.random_faults(provider, fault, float(share), seed)

    def _control_reset(self, data: dict[str, Any]) -> None:
        _check_fields(data, (), "reset")
        self.reset()

    # -- Replicate ----------------------------------------------------------------------------

    def _prediction_json(self, p: _Prediction, status: str) -> dict[str, Any]:
        base = f"{self.base_url}/replicate"
        done = status == "succeeded"
        return {
            "id": p.id,
            "model": "meta/meta-llama-3-8b-instruct",
            "version": "v1",
            "status": status,
            "input": p.log.body.get("input") if p.log.body else {},
            "output": list(p.tokens) if done else None,
            "error": "CUDA out of memory" if status == "failed" else None,
            "metrics": {
                "predict_time": 0.5,
                "total_time": 0.6,
                "input_token_count": p.log.usage[0] if p.log.usage else 0,
                "output_token_count": len(p.tokens),
            }
            if done
            else {},
            "urls": {
                "get": f"{base}/v1/predictions/{p.id}",
                "cancel": f"{base}/v1/predictions/{p.id}/cancel",
                "stream": f"{base}/stream/{p.id}",
            },
        }

    def _poll(self, p: _Prediction) -> dict[str, Any]:
        if p.polls_left > 0:
            p.polls_left -= 1
            return self._prediction_json(p, "starting")
        if p.fault is not None and p.fault.kind == "failed":
            self._forget(p)
            return self._prediction_json(p, "failed")
        if not p.stream:
            p.log.sent_text = "".join(p.tokens)
            self._complete(p.log, p.counts)
        if not p.stream or p.streamed:
            self._forget(p)  # a streaming client reads "succeeded" before its stream, too
        return self._prediction_json(p, "succeeded")

    def _hold(self, p: _Prediction) -> None:
        predictions = self._state.predictions
        if not self.record:
            while len(predictions) >= self._MAX_PREDICTIONS:
                del predictions[next(iter(predictions))]
        predictions[p.id] = p

    def _forget(self, p: _Prediction) -> None:
        """Drop a finished prediction (only with ``record=False``)."""
        if not self.record:
            self._state.predictions.pop(p.id, None)

    async def _replicate_post(
        self, rest: str, headers: dict[str, str], body: Any, writer: asyncio.StreamWriter
    ) -> bool:
        if rest.endswith("/cancel"):
            cancelled = self._state.predictions.get(rest.rsplit("/", 2)[-2])
            if cancelled is not None:
                self._forget(cancelled)
            return await self._send(writer, 200, b"{}")
        if not rest.endswith("/predictions") or not isinstance(body, dict):
            return await self._send(writer, 404, b'{"detail": "Not found."}')
        fault, counts = self._admit("replicate")
        stream = "prefer" not in headers
        entry = LoggedRequest("replicate", rest, stream, body, headers, fault)
        self._keep(entry)
        behaviour = self._state.behaviour.get("replicate", _DEFAULT_BEHAVIOUR)
        if fault is not None and fault.kind == "status":
            return await self._error("replicate", fault, writer)
        if fault is not None and fault.kind == "reset" and fault.after_tokens == 0:
            raise _Reset
        inputs = body.get("input")
        prompt = str(inputs.get("prompt", "")) if isinstance(inputs, dict) else ""
        entry.usage = (len(prompt) // 4 + 1, len(behaviour.tokens))
        prediction = _Prediction(
            id=f"pred{next(self._ids)}",
            tokens=behaviour.tokens,
            fault=fault,
            polls_left=fault.after_tokens if fault is not None and fault.kind == "cold_boot" else 0,
            log=entry,
            stream=stream,
            counts=counts,
        )
        self._hold(prediction)
        if stream or prediction.polls_left:
            status = "starting" if prediction.polls_left else "processing"
            return await self._send(
                writer, 201, json.dumps(self._prediction_json(prediction, status)).encode()
            )
        if _slow(fault):
            await asyncio.sleep(_slow(fault))
        return await self._send(writer, 201, json.dumps(self._poll(prediction)).encode())

    async def _replicate_stream(self, p: _Prediction, writer: asyncio.StreamWriter) -> None:
        try:
            await self._replicate_events(p, writer)
            await self._end_stream(writer)
        finally:
            if not p.streamed:
                self._forget(p)  # cut short: the client will not fetch it again

    async def _replicate_events(self, p: _Prediction, writer: asyncio.StreamWriter) -> None:
        await self._start_stream(writer, "text/event-stream")
        behaviour = self._state.behaviour.get("replicate", _DEFAULT_BEHAVIOUR)
        fault = p.fault
        wait = behaviour.ttft + _slow(fault)
        if wait:
            await asyncio.sleep(wait)
        for i, token in enumerate(p.tokens):
            if fault is not None and fault.after_tokens and i == fault.after_tokens:
                if fault.kind == "reset":
                    raise _Reset
                if fault.kind == "error_event":
                    writer.write(
                        _frame(
                            b'event: error\ndata: {"detail": "model crashed"}\n\n'
                            b'event: done\ndata: {"reason": "error"}\n\n'
                        )
                    )
                    return
                if fault.kind == "truncate":
                    return
            writer.write(_frame(f"event: output\nid: {i}\ndata: {token}\n\n".encode()))
            p.log.sent_text += token
            await writer.drain()
        writer.write(_frame(b"event: done\ndata: {}\n\n"))
        await writer.drain()
        p.streamed = True
        self._complete(p.log, p.counts)


# -- command line --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """``python -m llama_router.testing.emulator``: serve until SIGTERM or SIGINT.

    Prints one line, ``listening on http://127.0.0.1:PORT``, once it accepts connections."""
    parser = argparse.ArgumentParser(
        prog="python -m llama_router.testing.emulator",
        description="Serve the provider emulator until SIGTERM or SIGINT; drive it through "
        "/_emulator/{behave,script,random,reset,stats}.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="a loopback address")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (the default)")
    parser.add_argument("--cpu", type=int, default=None, help="pin the process to this CPU")
    parser.add_argument(
        "--no-record", action="store_true", help="keep no request log (counters only)"
    )
    args = parser.parse_args(argv)
    if args.host not in LOOPBACK:
        print(f"error: the emulator only listens on loopback, not {args.host!r}", file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535:
        print(f"error: no such port: {args.port}", file=sys.stderr)
        return 2
    if args.cpu is not None:
        try:
            os.sched_setaffinity(0, {args.cpu})
        except (OSError, ValueError, AttributeError) as exc:
            print(f"error: cannot pin to CPU {args.cpu}: {exc}", file=sys.stderr)
            return 2
    emulator = ProviderEmulator(host=args.host, port=args.port, record=not args.no_record)
    try:
        asyncio.run(_serve_until_signalled(emulator))
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


async def _serve_until_signalled(emulator: ProviderEmulator) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGTERM, signal.SIGINT)
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    try:
        async with emulator:
            print(f"listening on {emulator.base_url}", flush=True)
            await stop.wait()
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)


# -- request parsing and validation ------------------------------------------------------------


async def _read_body(reader: asyncio.StreamReader, headers: Mapping[str, str]) -> bytes:
    """The request body, by ``content-length`` or chunked; ValueError on a bad framing."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts: list[bytes] = []
        while True:
            size = int(await reader.readline(), 16)  # "1a\r\n"; ValueError on junk or EOF
            if size == 0:
                while await reader.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
    length = int(headers.get("content-length", "0") or 0)
    return await reader.readexactly(length) if length else b""


def _slow(fault: Fault | None) -> float:
    return fault.seconds if fault is not None and fault.kind == "slow" else 0.0


def _frame(data: bytes) -> bytes:
    """One HTTP chunk (never empty: an empty chunk would end the body)."""
    return b"%x\r\n%b\r\n" % (len(data), data)


def _error_json(message: str) -> bytes:
    return json.dumps({"error": message}).encode()


def _json_body(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"the body is not valid JSON: {exc}") from None
    return _object(value, "the body")


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{what} must be a JSON object, got {value!r}"[:300])
    return dict(value)


def _check_fields(data: Mapping[str, Any], allowed: Collection[str], what: str) -> None:
    unknown = sorted(str(key) for key in data if key not in allowed)
    if unknown:
        expected = ", ".join(sorted(allowed)) or "none"
        raise ValueError(f"unknown {what} field(s): {', '.join(unknown)} (expected: {expected})")


def _provider(data: Mapping[str, Any]) -> Provider:
    value = data.get("provider")
    if value not in PROVIDERS:
        raise ValueError(f"unknown provider {value!r}; expected one of {', '.join(PROVIDERS)}")
    return cast(Provider, value)


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _seconds(data: Mapping[str, Any], key: str) -> float:
    value = data.get(key, 0.0)
    if not _is_number(value) or value < 0:
        raise ValueError(f"{key} must be a finite number >= 0, got {value!r}")
    return float(value)


def _count(data: Mapping[str, Any], key: str, default: int, maximum: int | None = None) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{key} must be an integer >= 0, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{key} must be at most {maximum}, got {value}")
    return value


# -- wire shapes -------------------------------------------------------------------------------


def _prompt_tokens(body: dict[str, Any]) -> int:
    messages = body.get("messages") or []
    chars = sum(len(str(m.get("content", ""))) for m in messages if isinstance(m, dict))
    return chars // 4 + 4 * len(messages)


def _rate_headers(provider: str) -> dict[str, str]:
    if provider == "groq":
        return {
            "x-ratelimit-limit-requests": "14400",
            "x-ratelimit-remaining-requests": "14399",
            "x-ratelimit-reset-requests": "6s",
            "x-ratelimit-limit-tokens": "6000",
            "x-ratelimit-remaining-tokens": "5900",
            "x-ratelimit-reset-tokens": "1s",
        }
    if provider == "together":
        return {
            "x-ratelimit-limit": "10",
            "x-ratelimit-remaining": "9",
            "x-ratelimit-reset": "1",
            "x-tokenlimit-limit": "2000",
            "x-tokenlimit-remaining": "1900",
        }
    return {}


def _error_body(provider: str, status: int) -> bytes:
    if provider == "ollama":
        return json.dumps({"error": f"emulated error {status}"}).encode()
    if provider == "replicate":
        return json.dumps({"detail": f"emulated error {status}", "status": status}).encode()
    kind = {429: "rate_limit_exceeded", 401: "invalid_api_key"}.get(status, "server_error")
    return json.dumps(
        {"error": {"message": f"emulated error {status}", "type": kind, "code": kind}}
    ).encode()


def _chunk(provider: str, model: str, token: str) -> bytes:
    if provider == "ollama":
        line = {
            "model": model,
            "created_at": "2026-11-26T00:00:00Z",
            "message": {"role": "assistant", "content": token},
            "done": False,
        }
        return json.dumps(line).encode() + b"\n"
    chunk = {
        "id": "chatcmpl-emu",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "delta": {"content": token}, "finish_reason": None}],
    }
    if provider == "together":
        chunk["usage"] = None
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


def _final(provider: str, model: str, usage: tuple[int, int], include_usage: bool) -> bytes:
    prompt, completion = usage
    if provider == "ollama":
        done = {
            "model": model,
            "created_at": "2026-11-26T00:00:00Z",
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "total_duration": 5_000_000,
            "load_duration": 1_000_000,
            "prompt_eval_count": prompt,
            "prompt_eval_duration": 1_000_000,
            "eval_count": completion,
            "eval_duration": 3_000_000,
        }
        return json.dumps(done).encode() + b"\n"
    counts = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    chunk: dict[str, Any] = {
        "id": "chatcmpl-emu",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": model,
        "choices": [
            {"index": 0, "delta": {}, "finish_reason": "eos" if provider == "together" else "stop"}
        ],
    }
    if provider == "groq":
        chunk["x_groq"] = {
            "id": "req_emu",
            "usage": {
                **counts,
                "queue_time": 0.001,
                "prompt_time": 0.001,
                "completion_time": 0.002,
                "total_time": 0.003,
            },
        }
    elif provider == "together":
        chunk["usage"] = counts
    elif provider == "llamacpp":
        chunk["timings"] = {
            "prompt_n": prompt,
            "prompt_ms": 1.0,
            "predicted_n": completion,
            "predicted_ms": 2.0,
            "predicted_per_second": completion / 0.002,
        }
    out = b"data: " + json.dumps(chunk).encode() + b"\n\n"
    if include_usage and provider != "groq":
        usage_chunk = {
            "id": "chatcmpl-emu",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": model,
            "choices": [],
            "usage": counts,
        }
        out += b"data: " + json.dumps(usage_chunk).encode() + b"\n\n"
    return out + b"data: [DONE]\n\n"


def _stream_error(provider: str, status: int) -> bytes:
    if provider == "ollama":
        return json.dumps({"error": "emulated failure mid-stream"}).encode() + b"\n"
    return (
        b"data: "
        + json.dumps(
            {"error": {"code": status, "message": "emulated failure", "type": "server_error"}}
        ).encode()
        + b"\n\n"
    )


def _full_reply(provider: str, body: dict[str, Any], tokens: tuple[str, ...]) -> bytes:
    text = "".join(tokens)
    model = str(body.get("model", "model"))
    prompt = _prompt_tokens(body)
    if provider == "ollama":
        return json.dumps(
            {
                "model": model,
                "created_at": "2026-11-26T00:00:00Z",
                "message": {"role": "assistant", "content": text},
                "done": True,
                "done_reason": "stop",
                "total_duration": 5_000_000,
                "load_duration": 1_000_000,
                "prompt_eval_count": prompt,
                "prompt_eval_duration": 1_000_000,
                "eval_count": len(tokens),
                "eval_duration": 3_000_000,
            }
        ).encode()
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": len(tokens),
        "total_tokens": prompt + len(tokens),
    }
    if provider == "groq":
        usage.update(queue_time=0.001, prompt_time=0.001, completion_time=0.002, total_time=0.003)
    reply: dict[str, Any] = {
        "id": "chatcmpl-emu",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
        ],
        "usage": usage,
    }
    if provider == "llamacpp":
        reply["timings"] = {
            "prompt_ms": 1.0,
            "predicted_ms": 2.0,
            "predicted_per_second": len(tokens) / 0.002,
        }
    elif provider == "groq":  # the fields of a real Groq reply (docs: providers.md 2.3)
        reply.update(system_fingerprint="fp_emu", service_tier="on_demand")
        reply["x_groq"] = {"id": "req_emu"}
    return json.dumps(reply).encode()


if __name__ == "__main__":
    raise SystemExit(main())
