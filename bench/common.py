"""What every benchmark section shares: the emulator server process, CPU pinning, the
loopback guard, the timing loop and markdown tables.

The server is :mod:`llama_router.testing.emulator` in its own process, pinned to the last
CPU; the client is pinned to CPU 0, so ``time.process_time()`` of the client process is the
client's CPU alone.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

__all__ = [
    "Emulator",
    "Measured",
    "install_loopback_guard",
    "measure",
    "percentile",
    "run_calls",
    "pin_client",
    "table",
]

MESSAGES = [{"role": "user", "content": "Say hello."}]
MODEL = "llama-3.1-8b"
GROQ_MODEL_ID = "llama-3.1-8b-instant"
KEY = "gsk_bench_not_a_real_key"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", b"127.0.0.1", b"localhost", b"::1"})
_PROBE = "bench.loopback_guard.probe"
_WATCHED = frozenset({"socket.connect", "socket.sendto", "socket.getaddrinfo", _PROBE})
_INET = frozenset({socket.AF_INET, socket.AF_INET6})


class EgressBlocked(RuntimeError):
    """A connection or name lookup for a host other than loopback was attempted."""


def _report(event: str, host: object) -> None:
    print(f"loopback guard: refused {event} to {host!r}", file=sys.stderr, flush=True)


def install_loopback_guard(on_refusal: Callable[[str, object], None] = _report) -> None:
    """Make any socket connect, sendto or lookup for a non-loopback host raise ``EgressBlocked``.

    An audit hook cannot be removed: the guard holds for the rest of the process. Installing it
    again is a no-op. ``on_refusal(event, host)`` is called before each refusal.
    """
    installed: list[bool] = []
    sys.audit(_PROBE, installed)
    if installed:
        return

    def guard(event: str, args: tuple[Any, ...]) -> None:
        if event not in _WATCHED:  # every audit event of the process comes here: keep it cheap
            return
        if event == _PROBE:
            args[0].append(True)
            return
        if event != "socket.getaddrinfo":  # connect or sendto: (socket, address)
            if args[0].family not in _INET:
                return  # AF_UNIX and the like never leave the machine
            host = args[1][0]
        else:
            host = args[0]
        if host is None or host in LOOPBACK_HOSTS:
            return
        on_refusal(event, host)
        raise EgressBlocked(f"{event} to {host!r}: only loopback is allowed in the benchmarks")

    sys.addaudithook(guard)


def pin_client() -> None:
    """Run this process on CPU 0 (the server has the last CPU)."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})


def server_cpu() -> int | None:
    count = os.cpu_count() or 1
    return count - 1 if count > 1 else None


class Emulator:
    """The provider emulator in a separate process, with its control endpoints."""

    def __init__(self, attach: str | None = None) -> None:
        """Start the emulator, or with ``attach=root URL`` drive one already running."""
        self._proc: subprocess.Popen[str] | None = None
        if attach is not None:
            self.root = attach
            self._control = httpx.Client(base_url=self.root + "/_emulator", timeout=10)
            return
        command = [sys.executable, "-m", "llama_router.testing.emulator", "--no-record"]
        cpu = server_cpu()
        if cpu is not None:
            command += ["--cpu", str(cpu)]
        self._proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            self._proc.kill()
            raise RuntimeError(f"the emulator did not start: {line!r}")
        self.root = line.removeprefix("listening on ")
        self._control = httpx.Client(base_url=self.root + "/_emulator", timeout=10)

    def url(self, provider: str) -> str:
        return f"{self.root}/{provider}"

    def _post(self, path: str, body: dict[str, Any]) -> None:
        response = self._control.post(path, json=body)
        if response.status_code != 200:
            raise RuntimeError(f"emulator {path}: {response.status_code} {response.text}")

    def behave(self, provider: str, **fields: Any) -> None:
        self._post("/behave", {"provider": provider, **fields})

    def script(self, provider: str, *faults: dict[str, Any]) -> None:
        self._post("/script", {"provider": provider, "faults": list(faults)})

    def random(self, provider: str, fault: dict[str, Any], share: float, seed: int = 0) -> None:
        self._post("/random", {"provider": provider, "fault": fault, "share": share, "seed": seed})

    def reset(self) -> None:
        self._post("/reset", {})

    def stats(self) -> dict[str, Any]:
        data: dict[str, Any] = self._control.get("/stats").json()
        return data

    def requests(self, provider: str) -> int:
        """Requests to ``provider`` since the last reset."""
        return int(self.stats()["providers"][provider]["requests"])

    def close(self) -> None:
        self._control.close()
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def __enter__(self) -> Emulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@dataclass(frozen=True)
class Measured:
    calls: int
    cpu_us: float
    """Client CPU microseconds per call."""
    per_second: float
    """Calls completed per wall-clock second."""


async def run_calls(
    call: Callable[[int], Awaitable[object]], calls: int, concurrency: int, start: int = 0
) -> None:
    """``call(i)`` for i in ``start .. start + calls - 1``, ``concurrency`` at a time."""
    numbers = iter(range(start, start + calls))

    async def worker() -> None:
        for i in numbers:
            await call(i)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def measure(call: Callable[[], Awaitable[object]], calls: int, concurrency: int) -> Measured:
    """Run ``calls`` calls, ``concurrency`` at a time, after a warm-up; CPU and throughput."""
    for _ in range(min(50, calls)):  # connections, caches and latency estimates warm up
        await call()
    cpu, wall = time.process_time(), time.perf_counter()
    await run_calls(lambda _: call(), calls, concurrency)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return Measured(calls, cpu / calls * 1e6, calls / wall)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by linear interpolation."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=1000, method="inclusive")[max(0, int(q * 1000) - 1)]


def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], right: int = 1) -> str:
    """A markdown table; columns from ``right`` on are right-aligned."""
    align = ["---" if i < right else "---:" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def us(value: float) -> str:
    return f"{value:,.0f}"
