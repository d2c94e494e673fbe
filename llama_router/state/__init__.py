"""Routing state: per-deployment health records, limit windows, spend, and the store that
keeps them.

- :mod:`~llama_router.state.health`: :class:`HealthRecord` (mutable, one per deployment)
  and the frozen :class:`HealthSnapshot` the policies read; the circuit breaker.
- :mod:`~llama_router.state.store`: the :class:`StateStore` interface, method by method.
- :mod:`~llama_router.state.memory`: :class:`InMemoryStore`, the default implementation.

Nothing here imports the wire layer (httpx, backends) or decides policy.
"""

from llama_router.state.health import CircuitState, HealthConfig, HealthRecord, HealthSnapshot
from llama_router.state.memory import InMemoryStore
from llama_router.state.store import Limits, StateStore, Ticket

__all__ = [
    "CircuitState",
    "HealthConfig",
    "HealthRecord",
    "HealthSnapshot",
    "InMemoryStore",
    "Limits",
    "StateStore",
    "Ticket",
]
