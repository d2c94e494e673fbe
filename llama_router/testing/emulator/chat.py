"""A chat provider's route (Groq, Together, llama.cpp, Ollama): the chat request, answered
whole or streamed, with the request's fault applied. This is the hot path of the
benchmarks."""

from __future__ import annotations

import asyncio
from typing import Any

from llama_router.testing.emulator.dialects import ChatDialect, error_headers, prompt_tokens
from llama_router.testing.emulator.faults import Behaviour, Fault, Script, slow_seconds
from llama_router.testing.emulator.server import (
    NOT_FOUND,
    Reset,
    end_stream,
    frame,
    send,
    start_stream,
)
from llama_router.testing.emulator.stats import Counts, LoggedRequest, Recorder

CHAT_PATHS = frozenset(("/openai/v1/chat/completions", "/v1/chat/completions", "/api/chat"))
"""Where any chat provider takes a chat request."""
_BROKEN_BODY = b'{"choices": [ {"broken": '


class ChatRoute:
    """The routes under one chat provider's prefix (besides its dialect's fixed GETs)."""

    __slots__ = ("_recorder", "_script", "dialect")

    def __init__(self, dialect: ChatDialect, script: Script, recorder: Recorder) -> None:
        self.dialect = dialect
        self._script = script
        self._recorder = recorder

    async def get(self, rest: str, writer: asyncio.StreamWriter) -> bool:
        return await send(writer, 404, NOT_FOUND)

    async def post(
        self,
        path: str,
        rest: str,
        headers: dict[str, str],
        body: Any,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        """A chat request: count and log it, then answer with its fault or the behaviour."""
        if rest not in CHAT_PATHS or not isinstance(body, dict):
            return await send(writer, 404, NOT_FOUND)
        dialect = self.dialect
        provider = dialect.name
        stream = bool(body.get("stream", dialect.stream_by_default))
        fault, counts = self._recorder.admit(provider, self._script)
        entry = LoggedRequest(
            provider, path, stream, body, headers, fault, at=asyncio.get_running_loop().time()
        )
        self._recorder.keep(entry)
        behaviour = self._script.behaviour(provider)
        if behaviour.delay_to_headers:
            await asyncio.sleep(behaviour.delay_to_headers)
        if (
            fault is not None
            and fault.after_tokens == 0
            and await _fault_first(dialect, fault, writer)
        ):
            return True
        if stream:
            await self._stream(body, behaviour, fault, entry, counts, reader, writer)
            await end_stream(writer)
            return True
        wait = behaviour.ttft + slow_seconds(fault)
        if wait:
            await asyncio.sleep(wait)
        tokens = behaviour.tokens
        entry.sent_text = "".join(tokens)
        entry.sent_tokens = len(tokens)
        Recorder.complete(entry, counts)
        prompt = prompt_tokens(body)
        entry.usage = (prompt, len(tokens))
        reply = dialect.reply(str(body.get("model", "model")), tokens, prompt)
        return await send(writer, 200, reply, headers=dialect.rate_headers)

    async def _stream(
        self,
        body: dict[str, Any],
        behaviour: Behaviour,
        fault: Fault | None,
        entry: LoggedRequest,
        counts: Counts,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        """Write the stream's chunks; returns (for the caller to end the body) when the
        content is complete or a fault cut it; raises :class:`Reset` to drop the connection."""
        dialect = self.dialect
        await start_stream(writer, dialect.stream_type, dialect.rate_headers)
        wait = behaviour.ttft + slow_seconds(fault)
        if wait:
            await asyncio.sleep(wait)
        gap = 1.0 / behaviour.tokens_per_second if behaviour.tokens_per_second else 0.0
        model = str(body.get("model", "model"))
        tokens = behaviour.tokens
        for i, token in enumerate(tokens):
            if (
                fault is not None
                and i == fault.after_tokens
                and fault.after_tokens > 0
                and await _fault_mid_stream(dialect, fault, writer)
            ):
                return
            if i and gap:
                await asyncio.sleep(gap)
            if reader.at_eof():
                raise Reset  # the client has gone: what we write now is never received
            writer.write(frame(dialect.chunk(model, token)))
            if entry.first_write_at is None:
                entry.first_write_at = asyncio.get_running_loop().time()
            entry.sent_text += token
            entry.sent_tokens += 1
            await writer.drain()
        usage = (prompt_tokens(body), len(tokens))
        writer.write(frame(dialect.final(model, usage, bool(body.get("stream_options")))))
        await writer.drain()
        entry.usage = usage
        Recorder.complete(entry, counts)


async def _fault_first(dialect: ChatDialect, fault: Fault, writer: asyncio.StreamWriter) -> bool:
    """Apply a fault due before the reply: True if it answered, False if the request goes
    on (a slow fault, or one that only applies to streams); raises :class:`Reset`."""
    if fault.kind == "reset":
        raise Reset
    if fault.kind == "stall":
        await asyncio.sleep(fault.seconds)
        raise Reset
    if fault.kind == "status":
        body = dialect.error_body(fault.status)
        return await send(writer, fault.status, body, headers=error_headers(fault))
    if fault.kind == "malformed":
        return await send(writer, 200, _BROKEN_BODY)
    return False


async def _fault_mid_stream(
    dialect: ChatDialect, fault: Fault, writer: asyncio.StreamWriter
) -> bool:
    """Apply a fault due at this token: True if the stream's content ends here, False if it
    goes on; raises :class:`Reset`."""
    if fault.kind == "reset":
        await asyncio.sleep(0.01)  # let what was sent reach the client first
        raise Reset
    if fault.kind == "stall":
        await asyncio.sleep(fault.seconds)
        raise Reset
    if fault.kind == "truncate":
        return True
    if fault.kind == "malformed":
        writer.write(frame(dialect.malformed_chunk))
        return True
    if fault.kind == "error_event":
        writer.write(frame(dialect.stream_error(fault.status)))
        return True
    return False
