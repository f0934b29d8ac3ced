"""The automated response: offending sources written to an nginx-includable deny-list.

Entries expire after ``ttl_seconds``; the file is rewritten atomically (temporary file
and rename) only when it changes, so nginx never reads half a file. Only well-formed IP
addresses are written: a source is text from a log line and must never inject nginx
configuration. At start the entries of the existing file that have not expired are
kept (:meth:`DenyList.load`), so a restart does not lift a block early.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from exporters.security.tail import atomic_write

LOG = logging.getLogger("promfleet.exporters.security")
REJECT_REASONS = ("not_an_address", "allowed_network")
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_ENTRY = re.compile(r"deny ([0-9A-Fa-f:.]+);\s+# until (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")


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
        # normalised address -> expiry (epoch seconds), in expiry order: every entry gets
        # the same ttl from now, so the front is the soonest to expire (O(1) eviction).
        self.entries: OrderedDict[str, float] = OrderedDict()
        self.additions = 0
        self.rejected = dict.fromkeys(REJECT_REASONS, 0)
        self.dropped = 0  # entries evicted to make room
        self.writes = 0
        self.write_errors = 0
        self._dirty = True  # write once at start, so nginx's include always exists
        self._lock = threading.Lock()

    def add(self, source: str, when: float | None = None) -> bool:
        """Deny ``source`` until ``ttl`` after now; False for a non-IP or allowed source."""
        try:
            address = ipaddress.ip_address(source)
        except ValueError:
            self.rejected["not_an_address"] += 1
            return False
        if any(address in net for net in self.never):
            self.rejected["allowed_network"] += 1
            return False
        expiry = self.clock() + self.ttl_seconds
        with self._lock:
            if self._put(address.compressed, expiry):
                self.additions += 1
        return True

    def _put(self, key: str, expiry: float) -> bool:
        """Set an entry (under the lock); True when it is new."""
        entries = self.entries
        new = key not in entries
        if new and len(entries) >= self.max_entries:
            entries.popitem(last=False)
            self.dropped += 1
        if new or expiry > entries[key]:
            entries[key] = expiry
            entries.move_to_end(key)
        self._dirty = True
        return new

    def load(self) -> int:
        """Keep the unexpired entries of the file already there; how many were kept.

        Lines this class did not write, addresses now in ``never`` and expired entries
        are left out (the next :meth:`flush` rewrites the file without them).
        """
        try:
            with open(self.path, encoding="utf-8", errors="replace") as handle:
                text = handle.read(8 << 20)
        except FileNotFoundError:
            return 0
        except OSError as err:
            LOG.warning(json.dumps({"msg": "cannot read deny-list", "error": str(err)}))
            return 0
        now = self.clock()
        found: list[tuple[float, str]] = []
        for match in _ENTRY.finditer(text):
            try:
                address = ipaddress.ip_address(match.group(1))
                until = datetime.strptime(match.group(2), _TIME_FORMAT)
            except ValueError:
                continue
            expiry = until.replace(tzinfo=UTC).timestamp()
            if expiry > now and not any(address in net for net in self.never):
                found.append((expiry, address.compressed))
        with self._lock:
            for expiry, key in sorted(found):  # kept in expiry order
                self._put(key, expiry)
        return len(found)

    def render(self, now: float) -> str:
        lines = ["# promfleet security exporter deny-list: generated, do not edit."]
        lines.append("# Include it in an nginx http, server or location block.")
        for address, expiry in sorted(self.entries.items()):
            until = datetime.fromtimestamp(expiry, UTC).strftime(_TIME_FORMAT)
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
