"""Start and stop a real llama.cpp server on 127.0.0.1 (upstream llama.cpp's own C++ server,
from the prebuilt ``xllamacpp`` wheel, in a child process), for tests and
``llama-router demo``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

from llama_router.exceptions import MissingDependencyError, ProviderUnavailableError

__all__ = ["LlamaCppServer", "free_port"]


def free_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LlamaCppServer:
    """Upstream llama.cpp's server serving ``model_path`` on a free loopback port, with
    ``n_parallel`` slots sharing ``n_ctx`` (each slot's window is ``n_ctx / n_parallel``).

    Use as ``async with LlamaCppServer(path) as server: server.base_url``. :meth:`kill`
    stops it abruptly (to test failover), :meth:`stop` politely.
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
        n_ctx: int = 2048,
        port: int | None = None,
        n_threads: int | None = None,
        n_parallel: int = 1,
        sleep_idle_seconds: int | None = None,
        startup_timeout: float = 120.0,
    ) -> None:
        self.model_path = Path(model_path)
        self.n_ctx = n_ctx
        self.port = port or free_port()
        self.n_threads = n_threads
        self.n_parallel = n_parallel
        self.sleep_idle_seconds = sleep_idle_seconds
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [
            sys.executable,
            "-m",
            "llama_router.testing.llama_server",
            "--model",
            str(self.model_path),
            "--port",
            str(self.port),
            "--n-ctx",
            str(self.n_ctx),
            "--parallel",
            str(self.n_parallel),
        ]
        if self.n_threads:
            cmd += ["--threads", str(self.n_threads)]
        if self.sleep_idle_seconds:
            cmd += ["--sleep-idle-seconds", str(self.sleep_idle_seconds)]
        return cmd

    def start(self) -> None:
        """Start the process (returns at once; see :meth:`wait_ready`)."""
        try:
            import xllamacpp  # noqa: F401
        except ImportError as exc:
            raise MissingDependencyError(
                'the llama.cpp server needs xllamacpp: pip install "llama-router[local]"'
            ) from exc
        self.process = subprocess.Popen(
            self.command(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
        )

    async def wait_ready(self) -> None:
        """Wait until ``/health`` answers 200 (it says 503 while the model loads)."""
        deadline = time.monotonic() + self.startup_timeout
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise ProviderUnavailableError(
                        f"llama.cpp server exited with code {self.process.returncode}",
                        provider="llamacpp",
                    )
                with contextlib.suppress(httpx.HTTPError):
                    response = await client.get(f"{self.base_url}/health")
                    if response.status_code == 200:
                        return
                await asyncio.sleep(0.1)
        await asyncio.to_thread(self.kill)
        raise ProviderUnavailableError(
            f"llama.cpp server did not become ready within {self.startup_timeout:g} s",
            provider="llamacpp",
        )

    def kill(self) -> None:
        """Stop the server at once (SIGKILL): connections drop mid-stream."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        """Stop the server politely (SIGTERM, then SIGKILL after 5 s)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()

    async def __aenter__(self) -> LlamaCppServer:
        self.start()
        try:
            await self.wait_ready()
        except BaseException:
            await asyncio.to_thread(self.kill)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)
