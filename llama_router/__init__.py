"""llama_router: one async client for Llama 3 on Ollama, llama.cpp, Groq, Together and
Replicate, with routing and failover.

    from llama_router import Deployment, Router

    async with Router([Deployment(provider="ollama", model="llama-3.1-8b")]) as router:
        reply = await router.chat("llama-3.1-8b", [{"role": "user", "content": "Hi"}])
        print(reply.text)

Provider SDKs are imported only when a deployment of that provider is created.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llama_router._version import __version__
    from llama_router.backends.base import Backend, BackendResult, Capabilities, HealthReport
    from llama_router.catalog import CANONICAL_MODELS, CatalogEntry, ModelCatalog, Price
    from llama_router.config import ConfigFileError, RouterConfig, load_config
    from llama_router.deployments import PROVIDERS, Deployment, ProviderName, Target
    from llama_router.exceptions import (
        AllDeploymentsFailedError,
        AuthenticationError,
        BudgetExceededError,
        ColdStartError,
        ConfigurationError,
        ContextLengthExceededError,
        DeadlineExceededError,
        FirstTokenTimeoutError,
        InvalidRequestError,
        LlamaRouterError,
        MalformedResponseError,
        MissingCredentialsError,
        MissingDependencyError,
        ModelNotFoundError,
        NoDeploymentAvailableError,
        ProviderError,
        ProviderTimeoutError,
        ProviderUnavailableError,
        ProviderUnreachableError,
        RateLimitedError,
        RequestValidationError,
        StreamInterruptedError,
        UnknownModelError,
        UnsupportedFeatureError,
    )
    from llama_router.explain import Explanation, ExplanationRow
    from llama_router.messages import (
        ChatRequest,
        GenerationSettings,
        Message,
        ResponseFormat,
        Role,
        Tool,
        ToolCall,
    )
    from llama_router.provenance import Provenance
    from llama_router.providers import (
        EmbeddedOptions,
        OllamaOptions,
        ProviderOptions,
        ProviderSpec,
        ReplicateOptions,
        register_provider,
        unregister_provider,
    )
    from llama_router.ratelimits import RateLimitInfo
    from llama_router.responses import (
        Attempt,
        ChatResponse,
        Continuation,
        FinishReason,
        ProviderTimings,
        ReasoningDelta,
        StreamDone,
        StreamEvent,
        TextDelta,
        ToolCallDelta,
        Usage,
    )
    from llama_router.router import Router
    from llama_router.routing.options import Budget, Hedging, RetryPolicy, Timeouts
    from llama_router.routing.policy import (
        Policy,
        best_availability,
        cheapest_under,
        cloud_first,
        local_first,
        lowest_cost,
        lowest_latency,
        ordered,
    )
    from llama_router.state.health import HealthConfig
    from llama_router.streaming import ChatStream

# Public names and the module that defines each: imported on first use, so that
# `import llama_router` stays cheap (httpx, pydantic models and the router load when a
# name that needs them is first touched).
_EXPORTS: dict[str, str] = {
    "AllDeploymentsFailedError": "llama_router.exceptions",
    "Attempt": "llama_router.responses",
    "AuthenticationError": "llama_router.exceptions",
    "Backend": "llama_router.backends.base",
    "BackendResult": "llama_router.backends.base",
    "Budget": "llama_router.routing.options",
    "BudgetExceededError": "llama_router.exceptions",
    "CANONICAL_MODELS": "llama_router.catalog",
    "Capabilities": "llama_router.capabilities",
    "CatalogEntry": "llama_router.catalog",
    "ChatRequest": "llama_router.messages",
    "ChatResponse": "llama_router.responses",
    "ChatStream": "llama_router.streaming",
    "ColdStartError": "llama_router.exceptions",
    "ConfigFileError": "llama_router.config",
    "ConfigurationError": "llama_router.exceptions",
    "ContextLengthExceededError": "llama_router.exceptions",
    "Continuation": "llama_router.responses",
    "DeadlineExceededError": "llama_router.exceptions",
    "Deployment": "llama_router.deployments",
    "EmbeddedOptions": "llama_router.providers",
    "Explanation": "llama_router.explain",
    "ExplanationRow": "llama_router.explain",
    "FinishReason": "llama_router.responses",
    "GenerationSettings": "llama_router.messages",
    "HealthConfig": "llama_router.state.health",
    "HealthReport": "llama_router.backends.base",
    "Hedging": "llama_router.routing.options",
    "InvalidRequestError": "llama_router.exceptions",
    "LlamaRouterError": "llama_router.exceptions",
    "MalformedResponseError": "llama_router.exceptions",
    "Message": "llama_router.messages",
    "MissingCredentialsError": "llama_router.exceptions",
    "MissingDependencyError": "llama_router.exceptions",
    "ModelCatalog": "llama_router.catalog",
    "ModelNotFoundError": "llama_router.exceptions",
    "NoDeploymentAvailableError": "llama_router.exceptions",
    "OllamaOptions": "llama_router.providers",
    "PROVIDERS": "llama_router.deployments",
    "Policy": "llama_router.routing.policy",
    "Price": "llama_router.catalog",
    "Provenance": "llama_router.provenance",
    "ProviderError": "llama_router.exceptions",
    "ProviderName": "llama_router.deployments",
    "ProviderOptions": "llama_router.providers",
    "ProviderSpec": "llama_router.providers",
    "ProviderTimeoutError": "llama_router.exceptions",
    "FirstTokenTimeoutError": "llama_router.exceptions",
    "ProviderTimings": "llama_router.responses",
    "ProviderUnavailableError": "llama_router.exceptions",
    "ProviderUnreachableError": "llama_router.exceptions",
    "RateLimitInfo": "llama_router.ratelimits",
    "RateLimitedError": "llama_router.exceptions",
    "ReplicateOptions": "llama_router.providers",
    "RequestValidationError": "llama_router.exceptions",
    "ResponseFormat": "llama_router.messages",
    "RetryPolicy": "llama_router.routing.options",
    "Role": "llama_router.messages",
    "Router": "llama_router.router",
    "RouterConfig": "llama_router.config",
    "ReasoningDelta": "llama_router.responses",
    "StreamDone": "llama_router.responses",
    "StreamEvent": "llama_router.responses",
    "StreamInterruptedError": "llama_router.exceptions",
    "Target": "llama_router.deployments",
    "TextDelta": "llama_router.responses",
    "Timeouts": "llama_router.routing.options",
    "Tool": "llama_router.messages",
    "ToolCall": "llama_router.messages",
    "ToolCallDelta": "llama_router.responses",
    "UnknownModelError": "llama_router.exceptions",
    "UnsupportedFeatureError": "llama_router.exceptions",
    "Usage": "llama_router.responses",
    "best_availability": "llama_router.routing.policy",
    "cheapest_under": "llama_router.routing.policy",
    "cloud_first": "llama_router.routing.policy",
    "load_config": "llama_router.config",
    "local_first": "llama_router.routing.policy",
    "lowest_cost": "llama_router.routing.policy",
    "lowest_latency": "llama_router.routing.policy",
    "ordered": "llama_router.routing.policy",
    "register_provider": "llama_router.providers",
    "unregister_provider": "llama_router.providers",
    "__version__": "llama_router._version",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'llama_router' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "CANONICAL_MODELS",
    "PROVIDERS",
    "AllDeploymentsFailedError",
    "Attempt",
    "AuthenticationError",
    "Backend",
    "BackendResult",
    "Budget",
    "BudgetExceededError",
    "Capabilities",
    "CatalogEntry",
    "ChatRequest",
    "ChatResponse",
    "ChatStream",
    "ColdStartError",
    "ConfigFileError",
    "ConfigurationError",
    "ContextLengthExceededError",
    "Continuation",
    "DeadlineExceededError",
    "Deployment",
    "Explanation",
    "ExplanationRow",
    "FinishReason",
    "GenerationSettings",
    "HealthConfig",
    "HealthReport",
    "Hedging",
    "InvalidRequestError",
    "LlamaRouterError",
    "MalformedResponseError",
    "Message",
    "MissingCredentialsError",
    "MissingDependencyError",
    "ModelCatalog",
    "ModelNotFoundError",
    "NoDeploymentAvailableError",
    "Policy",
    "Price",
    "Provenance",
    "ProviderError",
    "ProviderName",
    "ProviderTimeoutError",
    "FirstTokenTimeoutError",
    "ProviderTimings",
    "ProviderUnavailableError",
    "ProviderUnreachableError",
    "RateLimitInfo",
    "RateLimitedError",
    "RequestValidationError",
    "ResponseFormat",
    "RetryPolicy",
    "RouterConfig",
    "Role",
    "Router",
    "ReasoningDelta",
    "StreamDone",
    "StreamEvent",
    "StreamInterruptedError",
    "Target",
    "TextDelta",
    "Timeouts",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "UnknownModelError",
    "UnsupportedFeatureError",
    "Usage",
    "best_availability",
    "cheapest_under",
    "cloud_first",
    "load_config",
    "local_first",
    "lowest_cost",
    "lowest_latency",
    "ordered",
    "__version__",
    "EmbeddedOptions",
    "OllamaOptions",
    "ProviderOptions",
    "ProviderSpec",
    "ReplicateOptions",
    "register_provider",
    "unregister_provider",
]
