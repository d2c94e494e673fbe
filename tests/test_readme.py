"""The README's quick start runs when pasted: against a real local server it prints the
answer; with nothing running it prints what it tried instead of a traceback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from llama_router.testing.servers import free_port

from .local_server import REPLY_TEXT, ollama_server

README = Path(__file__).parents[1] / "README.md"


def quick_start() -> str:
    text = README.read_text()
    section = text.split("## Quick start", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "no python block in the quick start"
    return match.group(1)


def run(code: str, ollama_host: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_TOKEN"))}
    env["OLLAMA_HOST"] = ollama_host
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_quick_start_prints_the_answer_from_a_local_server() -> None:
    with ollama_server() as url:
        result = run(quick_start(), url)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == REPLY_TEXT
    assert lines[1].startswith("answered by ollama/llama3.1:8b in ")
    assert "16 tokens, $0.000000" in lines[1]


def test_quick_start_explains_when_nothing_is_running() -> None:
    result = run(quick_start(), f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("No answer: every deployment of 'llama-3.1-8b' failed")
    assert "ollama" in result.stdout
    assert "llamacpp" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
