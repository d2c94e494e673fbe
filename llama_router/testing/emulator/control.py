"""The control endpoints under ``/_emulator/``: a thin HTTP layer over
:meth:`ProviderEmulator.behave`, ``script``, ``random_faults``, ``reset`` and ``stats``, for a
driver in another process. Bodies are checked; a bad one is answered 400 with what is wrong."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Protocol, cast

from llama_router.testing.emulator import checks
from llama_router.testing.emulator.dialects import PROVIDERS, Provider
from llama_router.testing.emulator.faults import Behaviour, Fault
from llama_router.testing.emulator.server import send
from llama_router.testing.emulator.stats import EmulatorStats

CONTROL_PREFIX = "/_emulator/"


class Controlled(Protocol):
    """What the control endpoints drive (the :class:`ProviderEmulator`)."""

    def behave(self, provider: Provider, behaviour: Behaviour) -> None: ...

    def script(self, provider: Provider, *faults: Fault) -> None: ...

    def random_faults(
        self, provider: Provider, fault: Fault, share: float, seed: int = 0
    ) -> None: ...

    def reset(self) -> None: ...

    def stats(self) -> EmulatorStats: ...


async def answer(
    emulator: Controlled, method: str, name: str, raw: bytes, writer: asyncio.StreamWriter
) -> bool:
    """Answer a request to ``/_emulator/{name}``."""
    if name == "stats":
        if method != "GET":
            return await send(
                writer, 405, _error("use GET for /_emulator/stats"), headers={"allow": "GET"}
            )
        return await send(writer, 200, json.dumps(emulator.stats().to_json()).encode())
    action = _ACTIONS.get(name)
    if action is None:
        known = ", ".join([*_ACTIONS, "stats"])
        return await send(writer, 404, _error(f"no control endpoint {name!r}; there are {known}"))
    if method != "POST":
        return await send(
            writer, 405, _error(f"use POST for /_emulator/{name}"), headers={"allow": "POST"}
        )
    try:
        action(emulator, checks.json_body(raw))
    except ValueError as exc:
        return await send(writer, 400, _error(str(exc)))
    return await send(writer, 200, b'{"ok": true}')


def _error(message: str) -> bytes:
    return json.dumps({"error": message}).encode()


def _provider(data: Mapping[str, Any]) -> Provider:
    value = data.get("provider")
    if value not in PROVIDERS:
        raise ValueError(f"unknown provider {value!r}; expected one of {', '.join(PROVIDERS)}")
    return cast(Provider, value)


def _behave(emulator: Controlled, data: dict[str, Any]) -> None:
    provider = _provider(data)
    fields = {k: v for k, v in data.items() if k != "provider"}
    emulator.behave(provider, Behaviour.from_dict(fields))


def _script(emulator: Controlled, data: dict[str, Any]) -> None:
    checks.check_fields(data, ("provider", "faults"), "script")
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
    emulator.script(provider, *faults)


def _random(emulator: Controlled, data: dict[str, Any]) -> None:
    checks.check_fields(data, ("provider", "share", "seed", "fault"), "random")
    provider = _provider(data)
    share = data.get("share")
    if not checks.is_number(share) or not 0 <= share <= 1:
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
    emulator.random_faults(provider, fault, float(share), seed)


def _reset(emulator: Controlled, data: dict[str, Any]) -> None:
    checks.check_fields(data, (), "reset")
    emulator.reset()


_ACTIONS: Mapping[str, Callable[[Controlled, dict[str, Any]], None]] = MappingProxyType(
    {"behave": _behave, "script": _script, "random": _random, "reset": _reset}
)
"""The POST endpoints, by name."""
