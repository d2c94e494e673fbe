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

The modules: :mod:`.provider_emulator` (the class and its routing), :mod:`.server` (HTTP/1.1),
:mod:`.dialects` (each provider's wire format), :mod:`.chat` (chat requests, whole or
streamed), :mod:`.replicate` (the prediction lifecycle), :mod:`.faults` (faults, behaviours
and which a request gets), :mod:`.stats` (the log and counters), :mod:`.control` (the
``/_emulator/`` endpoints), :mod:`.checks` (checks of JSON values), :mod:`.cli` (the command).
"""

# ``X as X``: the old module's other public names, importable as before (not in __all__).
from llama_router.testing.emulator.cli import main
from llama_router.testing.emulator.control import CONTROL_PREFIX as CONTROL_PREFIX
from llama_router.testing.emulator.dialects import PROVIDERS as PROVIDERS
from llama_router.testing.emulator.dialects import Provider as Provider
from llama_router.testing.emulator.faults import FAULT_KINDS as FAULT_KINDS
from llama_router.testing.emulator.faults import MAX_TOKEN_COUNT as MAX_TOKEN_COUNT
from llama_router.testing.emulator.faults import Behaviour, Fault
from llama_router.testing.emulator.faults import FaultKind as FaultKind
from llama_router.testing.emulator.provider_emulator import ProviderEmulator
from llama_router.testing.emulator.server import LOOPBACK as LOOPBACK
from llama_router.testing.emulator.stats import EmulatorStats, LoggedRequest, ProviderStats

__all__ = [
    "Behaviour",
    "EmulatorStats",
    "Fault",
    "LoggedRequest",
    "ProviderEmulator",
    "ProviderStats",
    "main",
]
