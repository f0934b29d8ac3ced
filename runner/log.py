"""Structured logs of the local runner: one JSON object a line on stderr."""

from __future__ import annotations

import json
import sys
import time
from typing import Any


def log(event: str, **fields: Any) -> None:
    """Write one log line; callers never pass a secret (DSNs stay in process env only)."""
    record = {"ts": round(time.time(), 3), "logger": "promfleet.runner", "event": event, **fields}
    sys.stderr.write(json.dumps(record, default=str) + "\n")
    sys.stderr.flush()
