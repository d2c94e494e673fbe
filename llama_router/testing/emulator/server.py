"""A minimal HTTP/1.1 server on loopback: keep-alive connections, request bodies by
``content-length`` or chunked, replies with a length or as a chunked stream. What to answer
is the subclass's :meth:`HttpServer.dispatch`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from types import TracebackType
from typing import TypeVar

LOOPBACK = ("127.0.0.1", "localhost", "::1")
NOT_FOUND = b'{"error": "not found"}'
"""The body of a 404 for a path nothing serves."""

_Server = TypeVar("_Server", bound="HttpServer")


class Reset(Exception):
    """Abort the connection."""


class HttpServer:
    """Serves connections until :meth:`aclose`; use it as an async context manager."""

    def __init__(self, host: str, port: int) -> None:
        if host not in LOOPBACK:
            raise ValueError("the emulator only listens on loopback")
        self.host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self._connections = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def port(self) -> int:
        """The port listened on (chosen by the system when constructed with ``port=0``)."""
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        sock = self._server.sockets[0]
        return int(sock.getsockname()[1])

    async def dispatch(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        """Answer one request; return whether the connection may serve another. Raise
        :class:`Reset` to drop the connection."""
        raise NotImplementedError

    async def __aenter__(self: _Server) -> _Server:
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

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections += 1
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            while True:
                head = await _read_head(reader)
                if head is None:
                    return
                method, target, headers = head
                body = await _read_body(reader, headers)
                keep_alive = await self.dispatch(method, target, headers, body, reader, writer)
                if not keep_alive or headers.get("connection", "").lower() == "close":
                    return
        except (Reset, ConnectionError, asyncio.IncompleteReadError, ValueError):
            writer.transport.abort()
        except asyncio.CancelledError:
            writer.transport.abort()  # the server is closing
        finally:
            if task is not None:
                self._handlers.discard(task)
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()


async def _read_head(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str]] | None:
    """The request line's method and target and the headers (names lower-cased); None at
    the end of the connection, ValueError on a bad request line."""
    line = await reader.readline()
    if not line:
        return None
    method, target, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        raw = await reader.readline()
        if raw in (b"\r\n", b"\n", b""):
            return method, target, headers
        name, _, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()


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


def _head(first: str, fields: list[str], headers: Mapping[str, str] | None) -> bytes:
    lines = [first, *fields]
    if headers:
        lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def send(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes,
    content_type: str = "application/json",
    headers: Mapping[str, str] | None = None,
) -> bool:
    """A whole reply with a ``content-length``; True (the connection stays open)."""
    fields = [f"content-type: {content_type}", f"content-length: {len(body)}"]
    writer.write(_head(f"HTTP/1.1 {status} X", fields, headers) + body)
    await writer.drain()
    return True


async def start_stream(
    writer: asyncio.StreamWriter, content_type: str, headers: Mapping[str, str] | None = None
) -> None:
    """The head of a ``200`` reply whose body follows in :func:`frame` chunks."""
    fields = [f"content-type: {content_type}", "transfer-encoding: chunked"]
    writer.write(_head("HTTP/1.1 200 OK", fields, headers))
    await writer.drain()


def frame(data: bytes) -> bytes:
    """One HTTP chunk (never empty: an empty chunk would end the body)."""
    return b"%x\r\n%b\r\n" % (len(data), data)


async def end_stream(writer: asyncio.StreamWriter) -> None:
    """The last chunk: the body is complete and the connection stays open."""
    writer.write(b"0\r\n\r\n")
    await writer.drain()
