"""A provider emulator: one HTTP server on 127.0.0.1 that speaks the real wire formats of
Groq, Together, llama.cpp, Ollama and Replicate, with scriptable behaviour and faults.

Point real deployments at it (the official SDKs take the same code path as in production)::

    async with ProviderEmulator() as emu:
        emu.script("groq", Fault.status(429, retry_after=2), Fault.reset(after_tokens=3))
        router = Router([
            Deployment(provider="groq", model="llama-3.1-8b", base_url=emu.url("groq")),
            Deployment(provider="ollama", model="llama-3.1-8b", base_url=emu.url("ollama")),
        ], env={"GROQ_API_KEY": "gsk_test"})

Each provider is served under its own path prefix (``emu.url(provider)``). Faults are
consumed one per request in the order scripted; with none left, a request succeeds with the
provider's :class:`Behaviour` (delays, time to first token, tokens per second). Every request
is logged with what was really sent, so tests compare answers against the ground truth.

Faults: an HTTP error status with the provider's real error body and headers (Retry-After,
rate-limit headers); a connection reset before the reply or after N tokens; a stall; a
malformed body; a truncated stream; an error event inside an HTTP 200 stream; a Replicate
prediction that fails or cold-boots.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

__all__ = ["Behaviour", "Fault", "LoggedRequest", "ProviderEmulator"]

Provider = Literal["groq", "together", "llamacpp", "ollama", "replicate"]
PROVIDERS: tuple[Provider, ...] = ("groq", "together", "llamacpp", "ollama", "replicate")
FaultKind = Literal[
    "status", "reset", "stall", "malformed", "truncate", "error_event", "failed", "cold_boot"
]


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


@dataclass(frozen=True, slots=True)
class Behaviour:
    """How a provider answers when no fault is scripted."""

    delay_to_headers: float = 0.0
    ttft: float = 0.0
    tokens_per_second: float | None = None
    """``None``: all tokens at once."""
    tokens: tuple[str, ...] = ("Hello", " from", " the", " emulator", ".")


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


@dataclass(slots=True)
class _Prediction:
    id: str
    tokens: tuple[str, ...]
    fault: Fault | None
    polls_left: int
    log: LoggedRequest
    stream: bool


@dataclass(slots=True)
class _State:
    behaviour: dict[str, Behaviour] = field(default_factory=dict)
    faults: dict[str, deque[Fault]] = field(default_factory=dict)
    chooser: dict[str, Callable[[int], Fault | None]] = field(default_factory=dict)
    log: list[LoggedRequest] = field(default_factory=list)
    predictions: dict[str, _Prediction] = field(default_factory=dict)


class _Reset(Exception):
    """Abort the connection."""


class ProviderEmulator:
    """The emulator; use it as an async context manager."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the emulator only listens on loopback")
        self.host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self._state = _State()
        self._ids = itertools.count(1)
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._readers: dict[asyncio.StreamWriter, asyncio.StreamReader] = {}

    # -- scripting -------------------------------------------------------------------------

    def url(self, provider: Provider) -> str:
        """The base URL to give ``Deployment(base_url=...)`` for ``provider``."""
        return f"http://{self.host}:{self.port}/{provider}"

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        sock = self._server.sockets[0]
        return int(sock.getsockname()[1])

    def behave(self, provider: Provider, behaviour: Behaviour) -> None:
        self._state.behaviour[provider] = behaviour

    def script(self, provider: Provider, *faults: Fault) -> None:
        """Queue faults for the next requests to ``provider`` (one per request)."""
        self._state.faults.setdefault(provider, deque()).extend(faults)

    def choose_faults(self, provider: Provider, chooser: Callable[[int], Fault | None]) -> None:
        """Decide each request's fault with ``chooser(request_number)`` (e.g. seeded random)."""
        self._state.chooser[provider] = chooser

    @property
    def log(self) -> list[LoggedRequest]:
        return self._state.log

    def requests(self, provider: Provider) -> list[LoggedRequest]:
        return [r for r in self._state.log if r.provider == provider]

    def _next_fault(self, provider: str) -> Fault | None:
        queued = self._state.faults.get(provider)
        if queued:
            return queued.popleft()
        chooser = self._state.chooser.get(provider)
        if chooser is not None:
            return chooser(sum(1 for r in self._state.log if r.provider == provider))
        return None

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
                length = int(headers.get("content-length", "0") or 0)
                body = await reader.readexactly(length) if length else b""
                self._readers[writer] = reader
                keep_alive = await self._dispatch(method, target, headers, body, writer)
                if not keep_alive:
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
        head = ["HTTP/1.1 200 OK", f"content-type: {content_type}", "connection: close"]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
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
        provider, _, rest = path.lstrip("/").partition("/")
        rest = "/" + rest
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
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
        fault = self._next_fault(provider)
        entry = LoggedRequest(
            provider, path, stream, body, headers, fault, at=asyncio.get_running_loop().time()
        )
        self._state.log.append(entry)
        behaviour = self._state.behaviour.get(provider, Behaviour())
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
            await self._stream(provider, body, behaviour, tokens, fault, entry, writer)
            return False
        if behaviour.ttft:
            await asyncio.sleep(behaviour.ttft)
        entry.sent_text = "".join(tokens)
        entry.sent_tokens = len(tokens)
        entry.completed = True
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
        writer: asyncio.StreamWriter,
    ) -> None:
        ndjson = provider == "ollama"
        await self._start_stream(
            writer,
            "application/x-ndjson" if ndjson else "text/event-stream",
            _rate_headers(provider),
        )
        if behaviour.ttft:
            await asyncio.sleep(behaviour.ttft)
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
                    await writer.drain()
                    return
                if fault.kind == "malformed":
                    writer.write(b'data: {"choices": [ {\n\n' if not ndjson else b'{"message": \n')
                    await writer.drain()
                    return
                if fault.kind == "error_event":
                    writer.write(_stream_error(provider, fault.status))
                    await writer.drain()
                    return
            if i and gap:
                await asyncio.sleep(gap)
            reader = self._readers.get(writer)
            if reader is not None and reader.at_eof():
                raise _Reset  # the client has gone: what we write now is never received
            writer.write(_chunk(provider, model, token))
            if entry.first_write_at is None:
                entry.first_write_at = asyncio.get_running_loop().time()
            entry.sent_text += token
            entry.sent_tokens += 1
            await writer.drain()
        usage = (_prompt_tokens(body), len(tokens))
        writer.write(_final(provider, model, usage, bool(body.get("stream_options"))))
        await writer.drain()
        entry.usage = usage
        entry.completed = True

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
            return False
        return await self._send(writer, 404, b'{"error": "not found"}')

    # -- Replicate ----------------------------------------------------------------------------

    def _prediction_json(self, p: _Prediction, status: str) -> dict[str, Any]:
        base = f"http://{self.host}:{self.port}/replicate"
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
            return self._prediction_json(p, "failed")
        if not p.stream:
            p.log.sent_text = "".join(p.tokens)
            p.log.completed = True
        return self._prediction_json(p, "succeeded")

    async def _replicate_post(
        self, rest: str, headers: dict[str, str], body: Any, writer: asyncio.StreamWriter
    ) -> bool:
        if rest.endswith("/cancel"):
            return await self._send(writer, 200, b"{}")
        if not rest.endswith("/predictions") or not isinstance(body, dict):
            return await self._send(writer, 404, b'{"detail": "Not found."}')
        fault = self._next_fault("replicate")
        stream = "prefer" not in headers
        entry = LoggedRequest("replicate", rest, stream, body, headers, fault)
        self._state.log.append(entry)
        behaviour = self._state.behaviour.get("replicate", Behaviour())
        if fault is not None and fault.kind == "status":
            return await self._error("replicate", fault, writer)
        if fault is not None and fault.kind == "reset" and fault.after_tokens == 0:
            raise _Reset
        prompt = str((body.get("input") or {}).get("prompt", ""))
        entry.usage = (len(prompt) // 4 + 1, len(behaviour.tokens))
        prediction = _Prediction(
            id=f"pred{next(self._ids)}",
            tokens=behaviour.tokens,
            fault=fault,
            polls_left=fault.after_tokens if fault is not None and fault.kind == "cold_boot" else 0,
            log=entry,
            stream=stream,
        )
        self._state.predictions[prediction.id] = prediction
        if stream or prediction.polls_left:
            status = "starting" if prediction.polls_left else "processing"
            return await self._send(
                writer, 201, json.dumps(self._prediction_json(prediction, status)).encode()
            )
        return await self._send(writer, 201, json.dumps(self._poll(prediction)).encode())

    async def _replicate_stream(self, p: _Prediction, writer: asyncio.StreamWriter) -> None:
        await self._start_stream(writer, "text/event-stream")
        behaviour = self._state.behaviour.get("replicate", Behaviour())
        if behaviour.ttft:
            await asyncio.sleep(behaviour.ttft)
        fault = p.fault
        for i, token in enumerate(p.tokens):
            if fault is not None and fault.after_tokens and i == fault.after_tokens:
                if fault.kind == "reset":
                    raise _Reset
                if fault.kind == "error_event":
                    writer.write(
                        b'event: error\ndata: {"detail": "model crashed"}\n\n'
                        b'event: done\ndata: {"reason": "error"}\n\n'
                    )
                    await writer.drain()
                    return
                if fault.kind == "truncate":
                    return
            writer.write(f"event: output\nid: {i}\ndata: {token}\n\n".encode())
            p.log.sent_text += token
            await writer.drain()
        writer.write(b"event: done\ndata: {}\n\n")
        await writer.drain()
        p.log.completed = True


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
    return json.dumps(reply).encode()
