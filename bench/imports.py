"""Import cost: time and resident memory of importing each library in a fresh process.

    python -m bench.imports [--runs N]

Each figure is the median of N fresh interpreters. Time is measured inside the process
around the import statement; RSS is the process's resident set after the import, next to
the RSS of an interpreter that imported nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from bench.common import table

_PROBE = """
import json, sys, time
def _guard(event, args):  # nothing leaves loopback (litellm would fetch its cost map)
    if event in ("socket.connect", "socket.getaddrinfo"):
        host = args[0] if event == "socket.getaddrinfo" else args[1]
        if event == "socket.connect" and not isinstance(host, tuple):
            return  # a Unix socket never leaves the machine
        host = host[0] if isinstance(host, tuple) else host
        if host not in (None, "127.0.0.1", "localhost", "::1", b"127.0.0.1", b"localhost"):
            raise PermissionError(f"benchmarks stay on loopback, not {{host!r}}")
sys.addaudithook(_guard)
t = time.perf_counter()
{code}
elapsed = time.perf_counter() - t
rss = 0
with open("/proc/self/status") as status:
    for line in status:
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) * 1024
print(json.dumps({{"seconds": elapsed, "rss": rss}}))
"""

_LITELLM_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_OFFLINE_MODE": "true",
    "HF_HUB_OFFLINE": "1",
    "LITELLM_MODE": "PRODUCTION",
}

CORE_CASES: tuple[tuple[str, str], ...] = (
    ("`import llama_router`, core install only", "import llama_router"),
    ("`from llama_router import Router`, core install only", "from llama_router import Router"),
)
"""Run with ``$BENCH_CORE_PYTHON``: an environment with ``pip install llama-router`` and no
extras (httpx, pydantic, tenacity), which ``bench/run`` creates as ``.venv-bench-core``."""

CASES: tuple[tuple[str, str, bool], ...] = (
    ("nothing (the interpreter alone)", "pass", False),
    ("`import llama_router`", "import llama_router", False),
    ("`from llama_router import Router`", "from llama_router import Router", False),
    (
        "`from llama_router import Router` + every SDK and aiohttp",
        "from llama_router import Router\nimport groq, together, ollama, replicate, httpx_aiohttp",
        False,
    ),
    ("`import groq`", "import groq", False),
    ("`import litellm`", "import litellm", True),
    ("`from litellm import Router`", "from litellm import Router", True),
)


def probe(code: str, env: dict[str, str], python: str = sys.executable) -> tuple[float, int]:
    out = subprocess.run(
        [python, "-c", _PROBE.format(code=code)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    ).stdout
    data = json.loads(out.strip().splitlines()[-1])
    return float(data["seconds"]), int(data["rss"])


def _row(label: str, samples: list[tuple[float, int]]) -> list[str]:
    seconds = statistics.median(s for s, _ in samples)
    rss = statistics.median(r for _, r in samples)
    return [label, f"{seconds:.3f} s", f"{rss / 2**20:,.0f} MB"]


def run(runs: int, litellm: bool) -> str:
    rows = []
    core = os.environ.get("BENCH_CORE_PYTHON")
    if core:
        for label, code in CORE_CASES:
            rows.append(_row(label, [probe(code, {}, core) for _ in range(runs)]))
    for label, code, needs_litellm in CASES:
        if needs_litellm and not litellm:
            continue
        samples = [probe(code, _LITELLM_ENV if needs_litellm else {}) for _ in range(runs)]
        rows.append(_row(label if code == "pass" else f"{label}, every extra installed", samples))
    return table(["import", f"time (median of {runs})", "RSS after"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-litellm", action="store_true")
    args = parser.parse_args()
    from bench.clients import litellm_available

    print(run(args.runs, litellm_available() and not args.no_litellm))


if __name__ == "__main__":
    main()
