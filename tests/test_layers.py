"""The layers the folders show: pure routing and the state package import nothing from the
wire layer; the request path owns no rule of its own."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "llama_router"
WIRE = ("httpx", "llama_router.backends", "llama_router.transport", "llama_router.http")


def imports_of(folder: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((PACKAGE / folder).glob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
        found[path.name] = names
    return found


@pytest.mark.parametrize("folder", ["routing", "state"])
def test_pure_layers_import_nothing_from_the_wire_or_the_request_path(folder: str) -> None:
    for module, names in imports_of(folder).items():
        bad = sorted(
            n for n in names if n.startswith(WIRE) or n.startswith("llama_router.dispatch")
        )
        assert not bad, f"llama_router/{folder}/{module} imports {bad}"


def test_state_does_not_depend_on_routing_decisions() -> None:
    for module, names in imports_of("state").items():
        bad = sorted(n for n in names if n.startswith("llama_router.routing"))
        assert not bad, f"llama_router/state/{module} imports {bad}"


def test_importing_routing_loads_no_httpx_and_no_backend() -> None:
    code = (
        "import sys, llama_router.routing, llama_router.routing.outcomes, llama_router.state;"
        "print(sorted(m for m in sys.modules if m == 'httpx' or m.startswith("
        "('llama_router.backends', 'llama_router.dispatch'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_request_path_asks_the_outcome_rules_and_does_not_restate_them() -> None:
    # The rules' error classes appear in dispatch/ only where an error is *raised*, never in
    # an isinstance() test: what to retry, where to fail over, what cools down and what
    # counts against health is decided in routing/outcomes.py.
    for path in sorted((PACKAGE / "dispatch").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance":
                checked = ast.unparse(node.args[1])
                assert "RateLimited" not in checked, f"{path.name}: isinstance(..., {checked})"
                assert "Authentication" not in checked, f"{path.name}: isinstance(..., {checked})"
                assert "InvalidRequest" not in checked, f"{path.name}: isinstance(..., {checked})"
                assert "ColdStart" not in checked, f"{path.name}: isinstance(..., {checked})"
                assert "ContextLength" not in checked, f"{path.name}: isinstance(..., {checked})"
