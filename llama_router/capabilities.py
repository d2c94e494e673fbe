"""What a provider's API can do for a request (read by backends and by routing filters)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Capabilities"]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a provider's API can do for a request."""

    tools: bool = True
    json_mode: bool = True
    json_schema: bool = True
    seed: bool = True
