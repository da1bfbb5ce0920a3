"""The JSON seqlab writes (config.json, metrics.jsonl, summaries, caches, bench results) is
strict JSON (RFC 8259), so any parser reads it back.

Python's ``json.dumps`` writes a non-finite float as ``NaN`` or ``Infinity`` by default: not JSON,
and refused by JavaScript, jq and most other readers. A run that stops before its first
validation has no validation loss (NaN) and no best score (infinity); here they become ``null``:

    >>> dumps({"last_val_loss": float("nan"), "steps": 0})
    '{"last_val_loss": null, "steps": 0}'

Readers that want a number back map ``null`` to NaN (``seqlab.training.read_metrics`` does).
"""

from __future__ import annotations

import json
import math
from typing import Any


def finite(obj: Any) -> Any:
    """``obj`` with every non-finite float (NaN, +-inf) replaced by None, in nested dicts, lists
    and tuples too (tuples become lists, as json writes them)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    return obj


def dumps(obj: Any, **kwargs) -> str:
    """``json.dumps`` that writes a non-finite float as null and refuses to write NaN/Infinity
    (``allow_nan=False``), whatever else ``kwargs`` set."""
    return json.dumps(finite(obj), allow_nan=False, **kwargs)
