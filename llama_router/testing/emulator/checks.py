"""Checks of JSON values sent to the emulator (faults, behaviours, control bodies): each
raises :class:`ValueError` saying what is wrong."""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping
from typing import Any, TypeGuard


def json_body(raw: bytes) -> dict[str, Any]:
    """A request body that must be a JSON object (an empty body is ``{}``)."""
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"the body is not valid JSON: {exc}") from None
    return json_object(value, "the body")


def json_object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{what} must be a JSON object, got {value!r}"[:300])
    return dict(value)


def check_fields(data: Mapping[str, Any], allowed: Collection[str], what: str) -> None:
    unknown = sorted(str(key) for key in data if key not in allowed)
    if unknown:
        expected = ", ".join(sorted(allowed)) or "none"
        raise ValueError(f"unknown {what} field(s): {', '.join(unknown)} (expected: {expected})")


def is_number(value: object) -> TypeGuard[int | float]:
    """A finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def seconds(data: Mapping[str, Any], key: str) -> float:
    value = data.get(key, 0.0)
    if not is_number(value) or value < 0:
        raise ValueError(f"{key} must be a finite number >= 0, got {value!r}")
    return float(value)


def count(data: Mapping[str, Any], key: str, default: int, maximum: int | None = None) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{key} must be an integer >= 0, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{key} must be at most {maximum}, got {value}")
    return value
