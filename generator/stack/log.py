"""Structured logs of the live stack: one JSON object a line on stderr."""

from __future__ import annotations

from typing import Any

from exporters.runtime.logs import log_event


def log(event: str, **fields: Any) -> None:
    """Write one log line; callers never pass a secret (DSNs stay in process env only)."""
    log_event("promfleet.stack", event, **fields)
