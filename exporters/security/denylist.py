"""The automated response: offending sources written to an nginx-includable deny-list.

One file, two writers: the exporter (automatic blocks: brute force and attack patterns of
the critical kinds) and ``promfleet-denylist`` (manual blocks and unblocks). Both take
the same lock (``flock`` on ``<file>.lock``), re-read the file under it, and replace it
atomically (temporary file and rename), so nginx never reads half a file and neither
writer drops the other's entries. Each line carries its expiry, its origin and its
reason::

    deny 192.0.2.1;  # until 2024-05-01T10:55:00Z automatic sql_injection
    deny 198.51.100.0/24;  # until 2024-05-01T16:00:00Z manual: scanning /login, OPS-42

Only well-formed IP addresses (and, for a manual block, networks) are written: a source
is text from a log line and must never inject nginx configuration. Lines this module did
not write, entries in a ``never`` network and expired entries are dropped at the next
rewrite. A line written before origins existed is read as an automatic brute-force block.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import ipaddress
import json
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from exporters.security.detect import ATTACK_KINDS
from exporters.security.tail import atomic_write
from exporters.spec import parse_duration

LOG = logging.getLogger("promfleet.exporters.security")
REJECT_REASONS = ("not_an_address", "allowed_network")
ORIGINS = ("automatic", "manual")
# Why a source was blocked: a closed set, so it can be a label.
BLOCK_REASONS = ("brute_force", *ATTACK_KINDS, "manual")
# A block lasts between one hour and a day (the seed's range); one hour by default.
MIN_BLOCK_SECONDS = 3600.0
MAX_BLOCK_SECONDS = 86400.0
DEFAULT_BLOCK_SECONDS = 3600.0
REASON_MAX_CHARS = 200
# A manual block of a whole network is refused above this size: /8 for IPv4, /32 for IPv6.
MIN_PREFIX = {4: 8, 6: 32}
LOCK_TIMEOUT_SECONDS = 5.0
MAX_FILE_BYTES = 8 << 20
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_LINE = re.compile(
    r"deny ([0-9A-Fa-f:.]+(?:/\d{1,3})?);[ \t]+# until (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)"
    r"(?:[ \t]+(automatic|manual)(?::?[ \t]*(.*?))?)?[ \t]*$",
    re.MULTILINE,
)
_AUTO_REASON = re.compile(r"[a-z_]{1,32}")


class DenyListError(Exception):
    """A deny-list operation that cannot be done: a bad address, a lock not obtained."""


def parse_block_duration(value: object) -> float:
    """A block's lifetime: a duration (``6h``, ``90m``, seconds) from 1 hour to 24 hours."""
    seconds = parse_duration(value)
    if not MIN_BLOCK_SECONDS <= seconds <= MAX_BLOCK_SECONDS:
        raise ValueError(
            f"a block lasts from 1h to 24h, got {value!r} ({seconds:g} seconds)"
        )
    return seconds


def parse_target(text: str) -> str:
    """An address or a network to block, normalised (``10.0.0.1/32`` is ``10.0.0.1``).

    Refused with a :class:`ValueError` naming the problem: not an address, host bits set
    in a network (``10.0.0.1/24``: did you mean ``10.0.0.0/24``?), a network too wide.
    """
    raw = str(text).strip()
    if "/" not in raw:
        try:
            return ipaddress.ip_address(raw).compressed
        except ValueError as err:
            raise ValueError(f"{raw!r} is not an IP address or a network (CIDR)") from err
    try:
        interface = ipaddress.ip_interface(raw)
    except ValueError as err:
        raise ValueError(f"{raw!r} is not an IP address or a network (CIDR)") from err
    network = interface.network
    if interface.ip != network.network_address:
        raise ValueError(f"{raw!r} has host bits set: did you mean {network.with_prefixlen}?")
    if network.num_addresses == 1:
        return network.network_address.compressed
    if network.prefixlen < MIN_PREFIX[network.version]:
        raise ValueError(
            f"{raw!r} is too wide: a network must be /{MIN_PREFIX[network.version]} or narrower"
        )
    return network.with_prefixlen


def clean_reason(text: str) -> str:
    """A manual block's reason, as one line of printable text; ValueError otherwise."""
    reason = " ".join(str(text).split())
    if not reason:
        raise ValueError("a reason is required (who asked, and why)")
    if len(reason) > REASON_MAX_CHARS:
        raise ValueError(f"the reason is longer than {REASON_MAX_CHARS} characters")
    if not reason.isprintable():
        raise ValueError("the reason must be printable text")
    return reason


@dataclass(frozen=True)
class Entry:
    """One line of the file."""

    target: str  # an address, or for a manual block a network
    expiry: float  # epoch seconds
    origin: str  # automatic or manual
    reason: str  # automatic: a BLOCK_REASONS value; manual: the operator's text

    def line(self) -> str:
        until = datetime.fromtimestamp(self.expiry, UTC).strftime(_TIME_FORMAT)
        sep = ": " if self.origin == "manual" else " "
        return f"deny {self.target};  # until {until} {self.origin}{sep}{self.reason}".rstrip()


def networks(never: Sequence[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(net, strict=False) for net in never)


def allowed(target: str, never: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    """False when ``target`` (an address or a network) touches a ``never`` network."""
    network = ipaddress.ip_network(target, strict=False)
    return not any(
        network.version == net.version and network.overlaps(net)
        for net in never
    )


def parse_file(
    text: str, now: float, never: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network] = ()
) -> dict[str, Entry]:
    """The unexpired, allowed entries of a deny-list file's text, by target.

    Lines this module did not write (an operator's own ``deny``), malformed targets, an
    automatic network and entries touching ``never`` are left out.
    """
    found: dict[str, Entry] = {}
    for match in _LINE.finditer(text):
        raw, stamp, origin, reason = match.groups()
        try:
            target = parse_target(raw)
            until = datetime.strptime(stamp, _TIME_FORMAT)
        except ValueError:
            continue
        origin = origin or "automatic"
        if origin == "automatic":
            if "/" in target:
                continue
            reason = reason if reason and _AUTO_REASON.fullmatch(reason) else "brute_force"
        else:
            reason = " ".join((reason or "").split())[:REASON_MAX_CHARS] or "-"
        expiry = until.replace(tzinfo=UTC).timestamp()
        if expiry <= now or not allowed(target, never):
            continue
        entry = Entry(target, expiry, origin, reason)
        old = found.get(target)
        if old is None or (old.origin, entry.origin) == ("automatic", "manual"):
            found[target] = entry
    return found


def render(entries: Mapping[str, Entry]) -> str:
    lines = ["# promfleet security deny-list: written by the security exporter and"]
    lines.append("# promfleet-denylist; edit it with promfleet-denylist, not by hand.")
    lines.append("# Include it in an nginx http, server or location block.")
    lines.extend(entries[key].line() for key in sorted(entries))
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def file_lock(path: str, timeout: float = LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
    """Hold the exclusive lock every writer of ``path`` takes (``flock`` on ``path.lock``).

    The lock file is never removed (removing it would let two writers hold two locks).
    It is opened read-only when it exists, so writers running as different users share
    it. Raises :class:`DenyListError` when the lock is not obtained within ``timeout``.
    """
    lock_path = path + ".lock"
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except FileNotFoundError:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as err:
                if err.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise DenyListError(
                        f"{lock_path} is held by another writer for more than {timeout:g} s"
                    ) from err
                time.sleep(0.01)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def read_text(path: str) -> str:
    """The file's text ('' when there is none yet), at most ``MAX_FILE_BYTES``."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read(MAX_FILE_BYTES)
    except FileNotFoundError:
        return ""


def _signature(path: str) -> tuple[int, ...] | None:
    """What tells one version of the file from the next (each rewrite is a new inode)."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


class DenyList:
    """The exporter's side of the file.

    Automatic entries live here, capped at ``max_entries`` (soonest to expire go first);
    manual ones are the file's, re-read whenever another writer changed it. An automatic
    entry that was in the file and is gone from it was unblocked by an operator: it is
    forgotten, not written back.
    """

    def __init__(
        self,
        path: str,
        ttl_seconds: float,
        max_entries: int = 10_000,
        never: Sequence[str] = (),
        clock: Callable[[], float] = time.time,
        lock_timeout: float = LOCK_TIMEOUT_SECONDS,
    ) -> None:
        self.path = path
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self.never = networks(never)
        self.clock = clock
        self.lock_timeout = lock_timeout
        # normalised address -> expiry (epoch seconds), in expiry order: every entry gets
        # the same ttl from now, so the front is the soonest to expire (O(1) eviction).
        self.entries: OrderedDict[str, float] = OrderedDict()
        self.reasons: dict[str, str] = {}  # automatic address -> its BLOCK_REASONS value
        self.manual: dict[str, Entry] = {}
        self.additions = 0
        self.blocks = dict.fromkeys(BLOCK_REASONS, 0)
        self.unblocks = 0  # entries an operator removed from the file
        self.rejected = dict.fromkeys(REJECT_REASONS, 0)
        self.dropped = 0  # entries evicted to make room
        self.writes = 0
        self.write_errors = 0
        self._dirty = True  # write once at start, so nginx's include always exists
        self._written: set[str] = set()  # automatic addresses in the file we last wrote
        self._seen: tuple[int, ...] | None = None  # the file as we last read/wrote it
        self._synced = False  # the file was read once (load, or the first flush)
        self._lock = threading.Lock()

    def add(self, source: str, when: float | None = None, reason: str = "brute_force") -> bool:
        """Deny ``source`` for ``ttl`` from now; False for a non-IP or allowed source.

        Every call that is not refused counts as one block of ``reason`` (a source that
        offends again while blocked has its block renewed, and counted again).
        """
        try:
            address = ipaddress.ip_address(source)
        except ValueError:
            self.rejected["not_an_address"] += 1
            return False
        if any(address in net for net in self.never):
            self.rejected["allowed_network"] += 1
            return False
        if reason not in self.blocks:
            raise ValueError(f"unknown block reason {reason!r}")
        expiry = self.clock() + self.ttl_seconds
        key = address.compressed
        with self._lock:
            self.blocks[reason] += 1
            self.reasons[key] = reason
            if self._put(key, expiry):
                self.additions += 1
        return True

    def _put(self, key: str, expiry: float) -> bool:
        """Set an automatic entry (under the lock); True when it is new."""
        entries = self.entries
        new = key not in entries
        if new and len(entries) >= self.max_entries:
            evicted, _ = entries.popitem(last=False)
            self.reasons.pop(evicted, None)
            self.dropped += 1
        if new or expiry > entries[key]:
            entries[key] = expiry
            entries.move_to_end(key)
        self._dirty = True
        return new

    def _drop(self, key: str) -> None:
        self.entries.pop(key, None)
        self.reasons.pop(key, None)

    def load(self) -> int:
        """Keep the unexpired entries of the file already there; how many were kept.

        Lines this class did not write, addresses now in ``never`` and expired entries
        are left out (the next :meth:`flush` rewrites the file without them).
        """
        try:
            seen = _signature(self.path)
            text = read_text(self.path)
        except OSError as err:
            LOG.warning(json.dumps({"msg": "cannot read deny-list", "error": str(err)}))
            return 0
        found = parse_file(text, self.clock(), self.never)
        with self._lock:
            self._adopt(found)
        self._seen = seen
        return len(found)

    def _adopt(self, found: Mapping[str, Entry]) -> None:
        """Take every entry of the file (at start, under the lock)."""
        automatic = sorted(
            (e.expiry, e.target, e.reason) for e in found.values() if e.origin == "automatic"
        )
        for expiry, key, reason in automatic:  # kept in expiry order
            self._put(key, expiry)
            self.reasons[key] = reason
        self.manual = {k: e for k, e in found.items() if e.origin == "manual"}
        self._written = {key for _, key, _ in automatic}
        self._synced = True

    def _merge(self, found: Mapping[str, Entry]) -> None:
        """Take another writer's changes (under both locks)."""
        manual = {k: e for k, e in found.items() if e.origin == "manual"}
        for key, entry in manual.items():
            old = self.manual.get(key)
            if old is None or old.expiry != entry.expiry:
                self.blocks["manual"] += 1
        self.unblocks += sum(1 for key in self.manual if key not in found)
        for key in list(self.entries):
            if key in manual:
                self._drop(key)  # blocked by hand now: the operator's line wins
            elif key in self._written and key not in found:
                self._drop(key)  # unblocked by an operator: not written back
                self.unblocks += 1
        self.manual = manual
        adopted = sorted(
            (e.expiry, k, e.reason)
            for k, e in found.items()
            if e.origin == "automatic" and k not in self.entries and k not in self._written
        )
        for expiry, key, reason in adopted:
            self._put(key, expiry)
            self.reasons[key] = reason
        self._dirty = True

    def _expire(self, now: float) -> bool:
        expired = [a for a, expiry in self.entries.items() if expiry <= now]
        for address in expired:
            self._drop(address)
        gone = [k for k, e in self.manual.items() if e.expiry <= now]
        for key in gone:
            del self.manual[key]
        return bool(expired or gone)

    def _all(self) -> dict[str, Entry]:
        out = {
            key: Entry(key, expiry, "automatic", self.reasons.get(key, "brute_force"))
            for key, expiry in self.entries.items()
        }
        out.update(self.manual)
        return out

    def render(self, now: float) -> str:
        return render(self._all())

    def flush(self) -> None:
        """Take other writers' changes, drop expired entries, rewrite the file if needed."""
        try:
            with file_lock(self.path, self.lock_timeout):
                self._flush_locked()
        except (OSError, DenyListError) as err:
            self.write_errors += 1
            with self._lock:
                self._dirty = True
            LOG.warning(json.dumps({"msg": "cannot write deny-list", "error": str(err)}))

    def _flush_locked(self) -> None:
        now = self.clock()
        seen = _signature(self.path)
        found = None
        if not self._synced or seen != self._seen:
            found = parse_file(read_text(self.path), now, self.never)
        with self._lock:
            if found is not None:
                if self._synced:
                    self._merge(found)
                else:
                    self._adopt(found)
            expired = self._expire(now)
            if not (expired or self._dirty):
                return
            text = self.render(now)
            written = set(self.entries)
            self._dirty = False
        try:
            atomic_write(self.path, text, mode=0o644)
        except OSError:
            with self._lock:
                self._dirty = True
            raise
        self.writes += 1
        with self._lock:
            self._written = written
        self._seen = _signature(self.path)

    def counts(self) -> dict[str, int]:
        """Entries now, by origin."""
        with self._lock:
            return {"automatic": len(self.entries), "manual": len(self.manual)}

    def __len__(self) -> int:
        return len(self.entries) + len(self.manual)
