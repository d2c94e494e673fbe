"""Replicate's prediction lifecycle: a POST creates a prediction (``starting`` while it cold
boots, or answered at once with ``Prefer: wait``); GETs poll it or stream its output events;
a POST to its ``cancel`` URL drops it."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from llama_router.testing.emulator.dialects import ReplicateDialect, error_headers
from llama_router.testing.emulator.faults import Fault, Script, slow_seconds
from llama_router.testing.emulator.server import (
    NOT_FOUND,
    Reset,
    end_stream,
    frame,
    send,
    start_stream,
)
from llama_router.testing.emulator.stats import Counts, LoggedRequest, Recorder

_NO_PREDICTION = b'{"detail": "Not found."}'


@dataclass(slots=True)
class Prediction:
    id: str
    tokens: tuple[str, ...]
    fault: Fault | None
    polls_left: int
    log: LoggedRequest
    stream: bool
    counts: Counts
    streamed: bool = False
    """Its stream ended with the ``done`` event (the client still fetches the final state)."""


class Predictions:
    """The routes under Replicate's prefix (besides its dialect's fixed GETs), and the
    predictions held for them. With ``record=False`` finished predictions are dropped."""

    MAX_HELD: ClassVar[int] = 10_000
    """With ``record=False``, at most this many predictions are held (oldest go)."""

    __slots__ = ("_base", "_held", "_ids", "_recorder", "_script", "dialect")

    def __init__(
        self,
        dialect: ReplicateDialect,
        script: Script,
        recorder: Recorder,
        base: Callable[[], str],
    ) -> None:
        self.dialect = dialect
        self._script = script
        self._recorder = recorder
        self._base = base  # the URL served under (known once the server listens)
        self._held: dict[str, Prediction] = {}
        self._ids = itertools.count(1)

    def __len__(self) -> int:
        return len(self._held)

    async def get(self, rest: str, writer: asyncio.StreamWriter) -> bool:
        """Poll a prediction, or stream its output."""
        polled = rest.startswith("/v1/predictions/")
        if not polled and not rest.startswith("/stream/"):
            return await send(writer, 404, NOT_FOUND)
        prediction = self._held.get(rest.rsplit("/", 1)[1])
        if prediction is None:
            return await send(writer, 404, _NO_PREDICTION)
        if polled:
            return await send(writer, 200, json.dumps(self._poll(prediction)).encode())
        await self._stream(prediction, writer)
        return True

    async def post(
        self,
        path: str,
        rest: str,
        headers: dict[str, str],
        body: Any,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        """Cancel a prediction, or create one."""
        if rest.endswith("/cancel"):
            cancelled = self._held.get(rest.rsplit("/", 2)[-2])
            if cancelled is not None:
                self._forget(cancelled)
            return await send(writer, 200, b"{}")
        if not rest.endswith("/predictions") or not isinstance(body, dict):
            return await send(writer, 404, _NO_PREDICTION)
        return await self._create(rest, headers, body, writer)

    async def _create(
        self, rest: str, headers: dict[str, str], body: dict[str, Any], writer: asyncio.StreamWriter
    ) -> bool:
        provider = self.dialect.name
        fault, counts = self._recorder.admit(provider, self._script)
        stream = "prefer" not in headers
        entry = LoggedRequest(provider, rest, stream, body, headers, fault)
        self._recorder.keep(entry)
        behaviour = self._script.behaviour(provider)
        if fault is not None and fault.kind == "status":
            error = self.dialect.error_body(fault.status)
            return await send(writer, fault.status, error, headers=error_headers(fault))
        if fault is not None and fault.kind == "reset" and fault.after_tokens == 0:
            raise Reset
        inputs = body.get("input")
        prompt = str(inputs.get("prompt", "")) if isinstance(inputs, dict) else ""
        entry.usage = (len(prompt) // 4 + 1, len(behaviour.tokens))
        prediction = Prediction(
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
            return await send(writer, 201, json.dumps(self._json(prediction, status)).encode())
        if slow_seconds(fault):
            await asyncio.sleep(slow_seconds(fault))
        return await send(writer, 201, json.dumps(self._poll(prediction)).encode())

    def _json(self, p: Prediction, status: str) -> dict[str, Any]:
        log = p.log
        inputs = log.body.get("input") if log.body else {}
        prompt = log.usage[0] if log.usage else 0
        return self.dialect.prediction(self._base(), p.id, status, inputs, p.tokens, prompt)

    def _poll(self, p: Prediction) -> dict[str, Any]:
        if p.polls_left > 0:
            p.polls_left -= 1
            return self._json(p, "starting")
        if p.fault is not None and p.fault.kind == "failed":
            self._forget(p)
            return self._json(p, "failed")
        if not p.stream:
            p.log.sent_text = "".join(p.tokens)
            Recorder.complete(p.log, p.counts)
        if not p.stream or p.streamed:
            self._forget(p)  # a streaming client reads "succeeded" before its stream, too
        return self._json(p, "succeeded")

    def _hold(self, p: Prediction) -> None:
        held = self._held
        if not self._recorder.record:
            while len(held) >= self.MAX_HELD:
                del held[next(iter(held))]
        held[p.id] = p

    def _forget(self, p: Prediction) -> None:
        """Drop a finished prediction (only with ``record=False``)."""
        if not self._recorder.record:
            self._held.pop(p.id, None)

    async def _stream(self, p: Prediction, writer: asyncio.StreamWriter) -> None:
        try:
            await self._events(p, writer)
            await end_stream(writer)
        finally:
            if not p.streamed:
                self._forget(p)  # cut short: the client will not fetch it again

    async def _events(self, p: Prediction, writer: asyncio.StreamWriter) -> None:
        await start_stream(writer, "text/event-stream")
        dialect = self.dialect
        fault = p.fault
        wait = self._script.behaviour(dialect.name).ttft + slow_seconds(fault)
        if wait:
            await asyncio.sleep(wait)
        for i, token in enumerate(p.tokens):
            if fault is not None and fault.after_tokens and i == fault.after_tokens:
                if fault.kind == "reset":
                    raise Reset
                if fault.kind == "error_event":
                    writer.write(frame(dialect.error_events))
                    return
                if fault.kind == "truncate":
                    return
            writer.write(frame(dialect.output_event(i, token)))
            p.log.sent_text += token
            await writer.drain()
        writer.write(frame(dialect.done_event))
        await writer.drain()
        p.streamed = True
        Recorder.complete(p.log, p.counts)
