from __future__ import annotations

import subprocess
import sys

import llama_router


def test_all_names_exist_and_are_unique() -> None:
    names = llama_router.__all__
    assert len(names) == len(set(names))
    for name in names:
        assert hasattr(llama_router, name), name


def test_every_public_class_is_documented() -> None:
    for name in llama_router.__all__:
        obj = getattr(llama_router, name)
        if isinstance(obj, type):
            assert obj.__doc__, f"{name} has no docstring"


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
