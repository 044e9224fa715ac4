"""Fingerprints of command bodies, so that a replayed command is recognised exactly."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        # 10 and 10.0 are the same number: compare numbers, not spellings.
        return "D" + format(value.normalize(), "f") if value.is_finite() else str(value)
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def fingerprint(kind: str, **fields: Any) -> str:
    """A stable digest of a command's meaning (not of its JSON spelling)."""
    text = json.dumps([kind, _canonical(fields)], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
