"""The llama-router command: chat, explain and health against a real loopback server,
and clear messages with the right exit codes for everything that can go wrong."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llama_router.cli import default_deployments, main
from llama_router.testing.servers import free_port

from .local_server import REPLY_TEXT, ollama_server


def config_for(tmp_path: Path, ollama_url: str, policy: str = "ordered") -> Path:
    path = tmp_path / "router.toml"
    path.write_text(f"""
[router]
policy = "{policy}"

[[deployments]]
provider = "ollama"
model = "llama-3.1-8b"
base_url = "{ollama_url}"
""")
    return path


def run(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    out = io.StringIO()
    code = main(argv, env={} if env is None else env, out=out)
    return code, out.getvalue()


def test_chat_streams_the_answer_then_prints_the_route(tmp_path: Path) -> None:
    with ollama_server() as url:
        code, out = run(["chat", "Say hi", "--config", str(config_for(tmp_path, url))])
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == REPLY_TEXT
    assert "route:" in lines
    assert any(line.strip().startswith("ollama/llama3.1:8b") and " ok " in line for line in lines)
    last = lines[-1]
    assert last.startswith("answered by ollama/llama3.1:8b (llama3.1:8b): first token ")
    assert "11+5 tokens, cost $0.000000" in last


def test_chat_without_streaming(tmp_path: Path) -> None:
    with ollama_server() as url:
        code, out = run(["chat", "Say hi", "--no-stream", "-c", str(config_for(tmp_path, url))])
    assert code == 0
    assert out.splitlines()[0] == REPLY_TEXT


def test_explain_prints_the_candidate_table(tmp_path: Path) -> None:
    code, out = run(
        [
            "explain",
            "Say hi",
            "--config",
            str(config_for(tmp_path, "http://127.0.0.1:9", "local_first")),
        ]
    )
    assert code == 0
    assert "policy local_first" in out.splitlines()[0]
    assert "ollama/llama3.1:8b" in out
    assert "chosen" in out


def test_defaults_are_local_first_plus_clouds_with_keys() -> None:
    plain = default_deployments("llama-3.1-8b", {})
    assert [d.provider for d in plain] == ["ollama", "llamacpp"]
    keyed = default_deployments("llama-3.1-8b", {"GROQ_API_KEY": "k", "REPLICATE_API_TOKEN": ""})
    assert [d.provider for d in keyed] == ["ollama", "llamacpp", "groq"]


def test_nothing_reachable_says_what_was_tried_and_how_to_fix_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _ = run(["chat", "Say hi"], env={"OLLAMA_HOST": f"http://127.0.0.1:{free_port()}"})
    err = capsys.readouterr().err
    assert code == 1
    assert "no answer" in err
    assert "[ollama/llama3.1:8b] cannot connect to Ollama" in err
    assert "[llamacpp/llama-3.1-8b] cannot connect to http://127.0.0.1:8080" in err
    assert "How to fix" in err
    assert "ollama pull llama3.1:8b" in err
    assert "GROQ_API_KEY" in err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[router]\npolicy = "fastest"\n'
            '[[deployments]]\nprovider="ollama"\nmodel="llama-3.1-8b"\n',
            "router.policy",
        ),
        ('[[deployments]]\nprovider = "groq"\nmodel = "llama-3.1-8b"\n', "GROQ_API_KEY"),
        ('[[deployments]]\nprovider = "ollama"\nmodel = "llama-9"\n', "Unknown model 'llama-9'"),
        ("not toml [", "not valid TOML"),
    ],
)
def test_bad_config_exits_2_with_a_message_and_no_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    code, out = run(["chat", "hi", "--config", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("llama-router: configuration error:")
    assert expected in err
    assert "Traceback" not in err + out


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run(["chat", "hi", "--temperature", "9", "--config", "/nonexistent.toml"])
    assert code == 2
    assert "cannot read the config file" in capsys.readouterr().err


def test_the_installed_command_runs_without_a_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_TOKEN"))}
    env["OLLAMA_HOST"] = f"http://127.0.0.1:{free_port()}"
    result = subprocess.run(
        [sys.executable, "-m", "llama_router", "health"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1  # nothing is up
    assert "DOWN ollama/llama3.1:8b" in result.stdout
    assert "Traceback" not in result.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "llama_router", "chat"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2  # argparse: the prompt is missing
    assert "the following arguments are required: prompt" in bad.stderr
