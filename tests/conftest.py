"""Shared test fixtures.

* No test reaches the network: HTTP goes through ``respx`` (``mock_http``), and a guard
  refuses any socket connection to an address other than loopback.
* Keys used in tests are fake and distinctive so leaks are easy to detect (see
  ``test_secrets.py``).
"""

from __future__ import annotations

import asyncio
import inspect
import ipaddress
import socket
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from llama_router import ChatStream, Deployment, Router, StreamEvent, TextDelta
from llama_router.routing.options import RetryPolicy

FIXTURES = Path(__file__).parent / "fixtures"

FAKE_KEYS = {
    "GROQ_API_KEY": "gsk_TESTKEY_groq_0123456789abcdef",
    "TOGETHER_API_KEY": "tgp_TESTKEY_together_0123456789abcdef",
    "REPLICATE_API_TOKEN": "r8_TESTKEY_replicate_0123456789abcdef",
}


def fixture_text(relative: str) -> str:
    """The text of ``tests/fixtures/<relative>``."""
    return (FIXTURES / relative).read_text()


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse any socket connection that is not to loopback."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def allowed(address: Any) -> bool:
        if isinstance(address, tuple) and address:
            host = str(address[0])
            if host == "localhost":
                return True
            try:
                return ipaddress.ip_address(host).is_loopback
            except ValueError:
                return False
        return True  # unix sockets (the event loop's self-pipe) are local

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        if not allowed(address):
            raise OSError(f"test tried to reach a non-loopback address: {address!r}")
        return real_connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> Any:
        if not allowed(address):
            raise OSError(f"test tried to reach a non-loopback address: {address!r}")
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)


@pytest.fixture(autouse=True)
def _event_loop_for_sync_tests(request: pytest.FixtureRequest) -> Iterator[None]:
    """looptime's pytest hook looks up an event loop for every test; for a sync test that
    creates one nobody closes (a ResourceWarning, an error here). Give sync tests a loop and
    close it afterwards."""
    if inspect.iscoroutinefunction(getattr(request, "function", None)):
        yield
        return
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    asyncio.set_event_loop(None)
    loop.close()


@pytest.fixture(autouse=True)
def _clean_provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDKs read their own variables; keep the developer's real ones out of tests."""
    for name in (
        "GROQ_API_KEY",
        "GROQ_BASE_URL",
        "GROQ_CUSTOM_HEADERS",
        "TOGETHER_API_KEY",
        "TOGETHER_BASE_URL",
        "TOGETHER_CUSTOM_HEADERS",
        "TOGETHER_PROJECT_ID",
        "REPLICATE_API_TOKEN",
        "REPLICATE_BASE_URL",
        "REPLICATE_POLL_INTERVAL",
        "OLLAMA_HOST",
        "OLLAMA_API_KEY",
        "LLAMACPP_HOST",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def env() -> dict[str, str]:
    """A fake environment with one key per cloud provider."""
    return dict(FAKE_KEYS)


@pytest.fixture
def mock_http() -> Iterator[respx.MockRouter]:
    """A respx router; unmatched requests fail the test."""
    with respx.MockRouter(assert_all_called=False, assert_all_mocked=True) as router:
        yield router


@pytest.fixture
def transport(mock_http: respx.MockRouter) -> httpx.AsyncBaseTransport:
    """An httpx transport that answers from ``mock_http``; give it to ``Router(transport=)``."""
    return httpx.MockTransport(mock_http.async_handler)


RouterFactory = Callable[..., Router]


@pytest.fixture
async def make_router(
    transport: httpx.AsyncBaseTransport, env: dict[str, str]
) -> AsyncIterator[RouterFactory]:
    """Build routers on the mocked transport; all are closed after the test."""
    made: list[Router] = []

    def factory(deployments: Sequence[Deployment], **kw: Any) -> Router:
        kw.setdefault("transport", transport)
        kw.setdefault("env", env)
        # Wire tests count one request per attempt; the router's own retries (and their
        # backoff sleeps) are exercised by the routing tests under virtual time.
        # Nor does a wire test wait for a cooling-down deployment to come back.
        kw.setdefault("retry", RetryPolicy(max_retries=0, max_cooldown_wait=0))
        router = Router(deployments, **kw)
        made.append(router)
        return router

    yield factory
    for router in made:
        await router.aclose()


class FakeClock:
    """A manual monotonic clock."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def sse(*chunks: str, done: bool = True) -> str:
    """An OpenAI-style SSE body from JSON chunk texts."""
    body = "".join(f"data: {c}\n\n" for c in chunks)
    return body + ("data: [DONE]\n\n" if done else "")


def ndjson(*objects: str) -> str:
    return "".join(f"{o}\n" for o in objects)


USER_HI = [{"role": "user", "content": "Say hi."}]


async def drain(stream: ChatStream, into: list[StreamEvent]) -> None:
    """Iterate ``stream`` to the end, appending every event to ``into`` as it arrives (so the
    caller still sees what was delivered when the stream raises): one call to put inside
    ``pytest.raises``."""
    async with stream as s:
        async for event in s:
            into.append(event)


def text_of(events: Sequence[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))
