"""Every script in examples/ runs: against a local server it answers, and with nothing
running it fails with a clear message, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from llama_router.testing.servers import free_port

from .local_server import REPLY_TEXT, ollama_server

EXAMPLES = Path(__file__).parents[1] / "examples"


def run(script: str, ollama_host: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_TOKEN"))}
    env["OLLAMA_HOST"] = ollama_host
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("script", ["chat.py", "stream.py", "routing.py"])
def test_example_answers_from_a_local_server(script: str) -> None:
    with ollama_server() as url:
        result = run(script, url, "hello")
    assert result.returncode == 0, result.stderr
    if script == "routing.py":  # the explanation table comes first
        assert "ollama/llama3.1:8b" in result.stdout.splitlines()[2]
        assert "chosen" in result.stdout.splitlines()[2]
        assert REPLY_TEXT in result.stdout
    else:
        assert result.stdout.startswith(REPLY_TEXT)
    assert "ollama/llama3.1:8b" in result.stdout


@pytest.mark.parametrize("script", ["chat.py", "stream.py", "routing.py"])
def test_example_explains_when_nothing_is_running(script: str) -> None:
    result = run(script, f"http://127.0.0.1:{free_port()}", "hello")
    assert result.returncode == 1
    assert "No answer: every deployment of 'llama-3.1-8b' failed" in result.stderr
    assert "Traceback" not in result.stderr


def test_health_example_reports_each_deployment() -> None:
    result = run("health.py", f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert all(line.startswith("DOWN") for line in lines)
