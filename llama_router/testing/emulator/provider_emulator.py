"""The :class:`ProviderEmulator`: its scripting API, and each request routed to the provider
named by the first segment of its path (or to the control endpoints)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping

from llama_router.testing.emulator import control
from llama_router.testing.emulator.chat import ChatRoute
from llama_router.testing.emulator.dialects import (
    CHAT_DIALECTS,
    PROVIDERS,
    REPLICATE,
    Provider,
)
from llama_router.testing.emulator.faults import Behaviour, Fault, Script, random_chooser
from llama_router.testing.emulator.replicate import Predictions
from llama_router.testing.emulator.server import HttpServer, send
from llama_router.testing.emulator.stats import EmulatorStats, LoggedRequest, Recorder

_Route = ChatRoute | Predictions
"""What answers the requests under one provider's prefix (besides its dialect's fixed GETs)."""


class ProviderEmulator(HttpServer):
    """The emulator; use it as an async context manager.

    With ``record=False`` no :class:`LoggedRequest` is kept (``log`` stays empty) and finished
    Replicate predictions are dropped, so memory stays flat over long runs; :meth:`stats`
    still counts everything."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, record: bool = True) -> None:
        super().__init__(host, port)
        self._script = Script()
        self._recorder = Recorder(PROVIDERS, record=record)
        self._predictions = Predictions(
            REPLICATE, self._script, self._recorder, lambda: self.url("replicate")
        )
        routes: dict[str, _Route] = {
            name: ChatRoute(dialect, self._script, self._recorder)
            for name, dialect in CHAT_DIALECTS.items()
        }
        routes[REPLICATE.name] = self._predictions
        self._routes: Mapping[str, _Route] = routes

    @property
    def record(self) -> bool:
        """Whether every request is logged (see the class's documentation)."""
        return self._recorder.record

    @record.setter
    def record(self, value: bool) -> None:
        self._recorder.record = value

    # -- scripting -------------------------------------------------------------------------

    def url(self, provider: Provider) -> str:
        """The base URL to give ``Deployment(base_url=...)`` for ``provider``."""
        return f"{self.base_url}/{provider}"

    def behave(self, provider: Provider, behaviour: Behaviour) -> None:
        """Answer requests to ``provider`` that get no fault with ``behaviour``."""
        self._script.behave(provider, behaviour)

    def script(self, provider: Provider, *faults: Fault) -> None:
        """Queue faults for the next requests to ``provider`` (one per request)."""
        self._script.queue(provider, faults)

    def choose_faults(self, provider: Provider, chooser: Callable[[int], Fault | None]) -> None:
        """Decide each request's fault with ``chooser(request_number)`` (e.g. seeded random),
        once the scripted faults are used up. ``request_number`` counts the earlier requests
        to ``provider`` from 0 (since the start or the last :meth:`reset`)."""
        self._script.choose(provider, chooser)

    def random_faults(self, provider: Provider, fault: Fault, share: float, seed: int = 0) -> None:
        """Give ``fault`` to a ``share`` (0 to 1) of the requests to ``provider``, chosen by
        ``random.Random(seed)``: the same seed picks the same requests."""
        self.choose_faults(provider, random_chooser(fault, share, seed))

    def reset(self) -> None:
        """Forget all scripted faults, choosers and behaviours, the log and the per-provider
        counters (request numbering starts again at 0). The count of connections accepted
        and Replicate predictions still in flight are kept."""
        self._script.clear()
        self._recorder.clear()

    def stats(self) -> EmulatorStats:
        """A snapshot of the counters: per provider, requests, completed answers and faults
        by kind; the TCP connections accepted."""
        return EmulatorStats(
            connections=self._connections,
            predictions=len(self._predictions),
            providers=self._recorder.providers(),
        )

    @property
    def log(self) -> list[LoggedRequest]:
        """Every request so far, in arrival order (empty with ``record=False``)."""
        return self._recorder.log

    def requests(self, provider: Provider) -> list[LoggedRequest]:
        """The logged requests to ``provider``."""
        return [r for r in self._recorder.log if r.provider == provider]

    # -- routing -----------------------------------------------------------------------------

    async def dispatch(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        path = target.split("?", 1)[0]
        if path.startswith(control.CONTROL_PREFIX):
            name = path[len(control.CONTROL_PREFIX) :]
            return await control.answer(self, method, name, body, writer)
        provider, _, rest = path.lstrip("/").partition("/")
        route = self._routes.get(provider)
        if route is None:
            return await send(writer, 404, b'{"error": "unknown provider prefix"}')
        rest = "/" + rest
        if method == "GET":
            fixed = route.dialect.get_reply(rest)
            if fixed is not None:
                return await send(writer, 200, fixed)
            return await route.get(rest, writer)
        try:
            parsed = json.loads(body) if body else None
        except (ValueError, RecursionError):
            parsed = None
        return await route.post(path, rest, headers, parsed, reader, writer)
