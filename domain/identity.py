"""Aggregate ids: a name-based UUID (RFC 4122 version 5) of the kind and the caller's own id,
so the same id always finds the same aggregate. Remembered: a bulk import asks for the same
incident's id once per fact about it."""

from __future__ import annotations

from functools import lru_cache
from uuid import NAMESPACE_URL, UUID, uuid5


@lru_cache(maxsize=65_536)
def named_uuid(kind: str, key: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"sla-credits:{kind}:{key}")
