"""The automated response: offending sources written to an nginx-includable deny-list.

Entries expire after ``ttl_seconds``; the file is rewritten atomically (temporary file
and rename) only when it changes, so nginx never reads half a file. Only well-formed IP
addresses are written: a source is text from a log line and must never inject nginx
configuration.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from exporters.security.tail import atomic_write

LOG = logging.getLogger("promfleet.exporters.security")


class DenyList:
    """Sources to deny until an expiry; capped at ``max_entries`` (soonest to expire go first)."""

    def __init__(
        self,
        path: str,
        ttl_seconds: float,
        max_entries: int = 10_000,
        never: Sequence[str] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self.never = tuple(ipaddress.ip_network(net, strict=False) for net in never)
        self.clock = clock
        self.entries: dict[str, float] = {}  # normalised address -> expiry (epoch seconds)
        self.additions = 0
        self.rejected = 0
        self.dropped = 0
        self.writes = 0
        self.write_errors = 0
        self._dirty = True  # write once at start, so nginx's include always exists
        self._lock = threading.Lock()

    def add(self, source: str, when: float | None = None) -> bool:
        """Deny ``source`` until ``ttl`` after now; False for a non-IP or allowed source."""
        try:
            address = ipaddress.ip_address(source)
        except ValueError:
            self.rejected += 1
            return False
        if any(address in net for net in self.never):
            self.rejected += 1
            return False
        expiry = self.clock() + self.ttl_seconds
        key = address.compressed
        with self._lock:
            if key not in self.entries:
                self.additions += 1
                if len(self.entries) >= self.max_entries:
                    soonest = min(self.entries, key=self.entries.__getitem__)
                    del self.entries[soonest]
                    self.dropped += 1
            self.entries[key] = expiry
            self._dirty = True
        return True

    def render(self, now: float) -> str:
        lines = ["# promfleet security exporter deny-list: generated, do not edit."]
        lines.append("# Include it in an nginx http, server or location block.")
        for address, expiry in sorted(self.entries.items()):
            until = datetime.fromtimestamp(expiry, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            lines.append(f"deny {address};  # until {until}")
        return "\n".join(lines) + "\n"

    def flush(self) -> None:
        """Drop expired entries and rewrite the file if anything changed."""
        now = self.clock()
        with self._lock:
            expired = [a for a, expiry in self.entries.items() if expiry <= now]
            for address in expired:
                del self.entries[address]
            if not (expired or self._dirty):
                return
            text = self.render(now)
            self._dirty = False
        try:
            atomic_write(self.path, text, mode=0o644)
        except OSError as err:
            self.write_errors += 1
            with self._lock:
                self._dirty = True
            LOG.warning(json.dumps({"msg": "cannot write deny-list", "error": str(err)}))
            return
        self.writes += 1

    def __len__(self) -> int:
        return len(self.entries)
