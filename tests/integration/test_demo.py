"""The main job: ``llama-router demo`` runs end to end on a fresh machine, offline, with no
keys and no servers running."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import HAVE_LOCAL

pytestmark = pytest.mark.skipif(not HAVE_LOCAL, reason="needs the 'local' extra")


def test_demo_routes_fails_over_and_says_the_model_is_noise(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_TOKEN"))}
    env["XDG_CACHE_HOME"] = str(tmp_path)  # a fresh machine: no model yet
    result = subprocess.run(
        [sys.executable, "-m", "llama_router", "demo", "--requests", "3"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "answers are NOISE" in out
    assert "--model-path" in out
    assert "--ollama llama3.1:8b" in out  # the one-line change to a real model
    assert (tmp_path / "llama-router" / "tiny-llama3-random.gguf").stat().st_size < 1_000_000
    assert "Policy 'ordered'" in out
    assert "Policy 'lowest_latency'" in out
    assert out.count("llama.cpp-server       first token") >= 3
    assert "route: llama.cpp-server   error  ProviderUnreachableError" in out
    assert "route: embedded           ok" in out
    assert "Measured on this machine" in out
    # the server's window was learned from its /props (2 slots of 4096 -> 2048 each)
    assert "llama.cpp-server       2048 tokens" in out
    assert "embedded               2048 tokens" in out
    assert "A burst of 12 requests at once was split: " in out
    assert "Traceback" not in result.stderr
