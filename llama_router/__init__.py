"""llama_router: one async client for Llama 3 on Ollama, llama.cpp, Groq, Together and
Replicate, with routing and failover.

    from llama_router import Deployment, Router

    async with Router([Deployment(provider="ollama", model="llama-3.1-8b")]) as router:
        reply = await router.chat("llama-3.1-8b", [{"role": "user", "content": "Hi"}])
        print(reply.text)

Provider SDKs are imported only when a deployment of that provider is created.
"""

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
from llama_router.ratelimits import RateLimitInfo
from llama_router.responses import (
    Attempt,
    ChatResponse,
    Continuation,
    FinishReason,
    ProviderTimings,
    StreamDone,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from llama_router.router import Router
from llama_router.routing.health import HealthConfig
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
from llama_router.streaming import ChatStream

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
    "ProviderError",
    "ProviderName",
    "ProviderTimeoutError",
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
]
