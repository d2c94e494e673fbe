"""Pydantic validation errors as one readable message: each bad key by its path
(``deployments[1].provider``) with what is wrong and, for an unknown key, the allowed ones.

Config files and ``Deployment(...)`` both raise :class:`ConfigurationError` with this text,
never a raw pydantic ``ValidationError``.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

__all__ = ["describe_validation_error"]

_UNKNOWN_KEY = frozenset({"extra_forbidden", "unexpected_keyword_argument"})


def _keys_of(kind: Any) -> list[str] | None:
    allowed = getattr(kind, "allowed_keys", None)
    if callable(allowed):
        keys: list[str] = allowed()
        return keys
    fields = getattr(kind, "model_fields", None)
    if fields:
        return sorted(fields)
    if dataclasses.is_dataclass(kind):
        return sorted(f.name for f in dataclasses.fields(kind))
    return None


def _field_type(kind: Any, name: str) -> Any:
    fields = getattr(kind, "model_fields", None)
    if fields is not None:
        return fields[name].annotation if name in fields else None
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        return typing.get_type_hints(kind).get(name)
    return None


def _container_in(annotation: Any) -> Any:
    """The model or dataclass inside an annotation (``tuple[Deployment, ...]``, ``X | None``)."""
    if isinstance(annotation, type) and (
        issubclass(annotation, BaseModel) or dataclasses.is_dataclass(annotation)
    ):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _container_in(arg)
        if found is not None:
            return found
    return None


def _allowed_keys(root: type[BaseModel], loc: tuple[str | int, ...]) -> list[str] | None:
    """The keys allowed at ``loc`` (the parent of an unknown key)."""
    current: Any = root
    for part in loc:
        if isinstance(part, int):
            continue
        current = _container_in(_field_type(current, part))
        if current is None:
            return None
    return _keys_of(current)


def _where(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def describe_validation_error(
    exc: ValidationError, source: str, root: type[BaseModel], *, where: str = "in the config"
) -> str:
    """``exc`` as ``"{source}: N problems {where}"`` and one line per problem."""
    problems = []
    errors = exc.errors()
    bad = {tuple(e["loc"])[:1] for e in errors if len(e["loc"]) > 1}
    for err in errors:
        loc = tuple(err["loc"])
        if err["type"] == "too_short" and loc[:1] in bad:
            continue  # the items themselves were invalid; those errors say why
        if err["type"] in _UNKNOWN_KEY:
            allowed = _allowed_keys(root, loc[:-1])
            hint = f"; allowed keys: {', '.join(allowed)}" if allowed else ""
            problems.append(f"{_where(loc)}: unknown key{hint}")
        elif err["type"] == "missing":
            problems.append(f"{_where(loc)}: required key is missing")
        else:
            message = err["msg"].removeprefix("Value error, ")
            got = err.get("input")
            shown = f" (got {got!r})" if isinstance(got, (str, int, float, bool)) else ""
            problems.append(f"{_where(loc) + ': ' if loc else ''}{message}{shown}")
    count = len(problems)
    head = f"{source}: {count} problem{'s' if count != 1 else ''} {where}"
    return "\n".join([head, *(f"  - {p}" for p in problems)])
