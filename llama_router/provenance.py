"""Where an answer (or an error) came from, as the provider identified it: what a support
ticket or a trace needs.

================  ===================================  ==================  ====================
provider          request id                           region              server build
================  ===================================  ==================  ====================
Groq              ``x-request-id`` header, else        ``x-groq-region``   ``system_fingerprint``
                  ``x_groq.id`` in the body / first    header
                  stream chunk
Together          ``x-request-id`` header              (none)              ``x-inference-version``
                                                                           header, else
                                                                           ``system_fingerprint``
llama.cpp         (none)                               (none)              ``system_fingerprint``
                                                                           (``b<build>-<commit>``)
OpenAI-compatible ``x-request-id`` header              (none)              ``system_fingerprint``
Replicate         the prediction's ``id``              (none)              (none)
Ollama            (none: the API sends no id)          (none)              (none)
================  ===================================  ==================  ====================

Only these named headers and fields are read, so a key or a cookie can never end up here;
values are trimmed to printable text of bounded length (they come from the network).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Provenance", "clean_id", "provenance_from_headers"]

_MAX_LEN = 200


@dataclass(frozen=True, slots=True)
class Provenance:
    """The provider's own identifiers for one reply; ``None`` where it sent none."""

    request_id: str | None = None
    """The provider's id of the request (quote it to their support)."""
    region: str | None = None
    """Where the provider served it (Groq's ``x-groq-region``)."""
    server_build: str | None = None
    """The serving software's build (``system_fingerprint``, Together's engine version)."""

    @property
    def is_empty(self) -> bool:
        return self.request_id is None and self.region is None and self.server_build is None

    def or_else(self, other: Provenance | None) -> Provenance:
        """This provenance, with the fields it lacks taken from ``other``."""
        if other is None:
            return self
        return Provenance(
            request_id=self.request_id if self.request_id is not None else other.request_id,
            region=self.region if self.region is not None else other.region,
            server_build=(
                self.server_build if self.server_build is not None else other.server_build
            ),
        )


def clean_id(value: object) -> str | None:
    """A non-empty printable string of bounded length from a header or a JSON field, else
    ``None`` (replies are not trusted)."""
    if not isinstance(value, str):
        return None
    text = value.strip()[:_MAX_LEN]
    if not text or not text.isprintable():
        return None
    return text


def provenance_from_headers(headers: Mapping[str, str] | None) -> Provenance | None:
    """``x-request-id``, ``x-groq-region`` and ``x-inference-version``, when sent."""
    if headers is None:
        return None
    found = Provenance(
        request_id=clean_id(headers.get("x-request-id")),
        region=clean_id(headers.get("x-groq-region")),
        server_build=clean_id(headers.get("x-inference-version")),
    )
    return None if found.is_empty else found
