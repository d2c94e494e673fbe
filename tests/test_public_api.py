from __future__ import annotations

import ast
import inspect
import subprocess
import sys
import textwrap
from dataclasses import dataclass

import llama_router

# Public classes without a docstring of their own. Only ExplanationRow, a dataclass whose
# ``__doc__`` is the signature ``@dataclass`` makes up (library code, reported). The test
# below fails when this set is wrong either way, so a fix must remove the entry.
UNDOCUMENTED: set[str] = set()


def test_all_names_exist_and_are_unique() -> None:
    names = llama_router.__all__
    assert len(names) == len(set(names))
    for name in names:
        assert hasattr(llama_router, name), name


def own_docstring(cls: type) -> str | None:
    """The docstring written in ``cls``'s source, or None. (``cls.__doc__`` cannot tell:
    ``@dataclass`` fills it with the class's signature when the class has none.)"""
    (node,) = ast.parse(textwrap.dedent(inspect.getsource(cls))).body
    assert isinstance(node, ast.ClassDef)
    return ast.get_docstring(node)


@dataclass
class _Bare:
    x: int


def test_a_dataclass_without_a_docstring_is_seen_as_undocumented() -> None:
    assert _Bare.__doc__  # the made-up signature: why __doc__ is not the check
    assert own_docstring(_Bare) is None
    assert own_docstring(llama_router.Router) == inspect.getdoc(llama_router.Router)


def test_every_public_class_is_documented() -> None:
    classes = {
        n: o for n in llama_router.__all__ if isinstance(o := getattr(llama_router, n), type)
    }
    undocumented = {name for name, cls in classes.items() if not own_docstring(cls)}
    assert undocumented == UNDOCUMENTED


def test_import_loads_no_provider_sdk() -> None:
    code = (
        "import sys, llama_router;"
        "print(','.join(sorted(m for m in ('groq', 'together', 'ollama', 'replicate', 'aiohttp')"
        " if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_sdk_is_imported_when_its_deployment_is_created() -> None:
    code = (
        "import sys, asyncio, llama_router as lr;"
        "r = lr.Router([lr.Deployment(provider='ollama', model='llama-3.1-8b')], env={});"
        "print('ollama' in sys.modules, 'groq' in sys.modules);"
        "asyncio.run(r.aclose())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]
