"""Integration tests against real local engines: the tiny GGUF model served by upstream
llama.cpp's server, and run in-process by the embedded backend (both from xllamacpp).

They need the ``local`` extra. Outside CI they are skipped when it is missing; in CI
(``CI`` set) a missing extra is an error, so they can never be silently skipped there.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

try:
    import xllamacpp  # noqa: F401

    HAVE_LOCAL = True
except ImportError:  # pragma: no cover - depends on the install
    HAVE_LOCAL = False

if not HAVE_LOCAL and os.environ.get("CI"):
    raise RuntimeError("CI must run the integration tests: install the 'local' extra")

pytestmark = pytest.mark.skipif(not HAVE_LOCAL, reason="needs the 'local' extra")

N_CTX = 1024


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not HAVE_LOCAL:
        pytest.skip("needs the 'local' extra")
    from llama_router.testing import write_tiny_llama

    return write_tiny_llama(tmp_path_factory.mktemp("models") / "tiny.gguf")


@pytest.fixture
async def server(tiny_model: Path) -> AsyncIterator[object]:
    from llama_router.testing.servers import LlamaCppServer

    async with LlamaCppServer(tiny_model, n_ctx=N_CTX, n_threads=1) as running:
        yield running
