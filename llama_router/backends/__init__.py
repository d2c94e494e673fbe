"""Provider backends. Each is imported only when a deployment of that provider is created,
so ``import llama_router`` never imports an SDK."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from types import MappingProxyType

from llama_router.backends.base import Backend, BackendResult, Capabilities, HealthReport
from llama_router.deployments import Target
from llama_router.transport import HttpPool

__all__ = ["Backend", "BackendResult", "Capabilities", "HealthReport", "create_backend"]

_BACKENDS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "ollama": ("llama_router.backends.ollama", "OllamaBackend"),
        "llamacpp": ("llama_router.backends.llamacpp", "LlamaCppBackend"),
        "embedded": ("llama_router.backends.embedded", "EmbeddedBackend"),
        "groq": ("llama_router.backends.groq", "GroqBackend"),
        "together": ("llama_router.backends.together", "TogetherBackend"),
        "replicate": ("llama_router.backends.replicate", "ReplicateBackend"),
        "openai_compatible": ("llama_router.backends.openai_compatible", "OpenAICompatibleBackend"),
    }
)


def create_backend(target: Target, http: HttpPool, clock: Callable[[], float]) -> Backend:
    """Import the provider's module (and so its SDK) and build its backend for ``target``."""
    module_name, class_name = _BACKENDS[target.provider]
    cls: type[Backend] = getattr(importlib.import_module(module_name), class_name)
    return cls(target, http, clock=clock)
