"""Following log files for the security exporter: rotation, truncation, position file.

A :class:`LogFollower` reads one configured path in binary, hands complete lines to the
:class:`~exporters.security.engine.Engine` and keeps only a partial last line (at most
``max_line_bytes``). It survives rotation by rename (the old file is drained until it
goes quiet) and by copytruncate (the bytes it had not read yet are recovered from the
copy when the copy is found), and a :class:`PositionFile` lets a restart resume exactly.
:class:`Tailer` runs the followers in one background thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from exporters.security.engine import Engine, LogConfig

LOG = logging.getLogger("promfleet.exporters.security")
CHUNK_BYTES = 1 << 20
FINGERPRINT_BYTES = 256
DRAIN_QUIET_SECONDS = 2.0


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _head(fh: IO[bytes], length: int) -> bytes:
    return os.pread(fh.fileno(), length, 0)


def atomic_write(path: str, text: str, mode: int = 0o600) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (never half-written)."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            os.fchmod(handle.fileno(), mode)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class LineSplitter:
    """Cuts a byte stream into complete lines; a line longer than the cap is dropped."""

    def __init__(self, max_line_bytes: int) -> None:
        self.max_line_bytes = max_line_bytes
        self.partial = b""
        self.skipping = False
        self.skipped_bytes = 0  # bytes of the too-long line being skipped

    @property
    def pending(self) -> int:
        """Bytes read since the last complete line."""
        return len(self.partial) + self.skipped_bytes

    def feed(self, data: bytes) -> tuple[bytes, int]:
        """Complete lines found so far (one block, newline-terminated), and too-long lines."""
        too_long = 0
        if self.skipping:
            newline = data.find(b"\n")
            if newline == -1:
                self.skipped_bytes += len(data)
                return b"", 0
            data = data[newline + 1 :]
            self.skipping = False
            self.skipped_bytes = 0
        last = data.rfind(b"\n")
        if last == -1:
            block, rest = b"", self.partial + data
        else:
            block = self.partial + data[: last + 1] if self.partial else data[: last + 1]
            rest = data[last + 1 :]
        if len(rest) > self.max_line_bytes:
            too_long += 1
            self.skipping = True
            self.skipped_bytes = len(rest)
            rest = b""
        self.partial = rest
        return block, too_long

    def finish(self) -> bytes:
        """The last line of a file that will not grow any more, even without a newline."""
        rest, self.partial = self.partial, b""
        self.skipping = False
        self.skipped_bytes = 0
        return rest


@dataclass(frozen=True)
class Position:
    """Where a log was left: which file (device, inode, head hash) and the offset."""

    path: str
    device: int
    inode: int
    offset: int
    head_length: int
    head_sha256: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: Any) -> Position | None:
        try:
            return cls(
                path=str(data["path"]),
                device=int(data["device"]),
                inode=int(data["inode"]),
                offset=int(data["offset"]),
                head_length=int(data["head_length"]),
                head_sha256=str(data["head_sha256"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


class PositionFile:
    """A JSON file of log name -> :class:`Position`, rewritten atomically."""

    def __init__(self, path: str) -> None:
        self.path = path

    def load(self) -> dict[str, Position]:
        try:
            with open(self.path, encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as err:
            LOG.warning(
                json.dumps({"msg": "position file unreadable, starting afresh", "error": str(err)})
            )
            return {}
        logs = data.get("logs", {}) if isinstance(data, dict) else {}
        out: dict[str, Position] = {}
        for name, entry in logs.items() if isinstance(logs, dict) else ():
            position = Position.from_json(entry)
            if position is not None:
                out[str(name)] = position
        return out

    def save(self, positions: dict[str, Position]) -> None:
        body = {"version": 1, "logs": {n: p.to_json() for n, p in sorted(positions.items())}}
        atomic_write(self.path, json.dumps(body, indent=1, sort_keys=True) + "\n")


class _Open:
    """One open file being read: its handle, identity and read position."""

    def __init__(self, fh: IO[bytes], max_line_bytes: int) -> None:
        self.fh = fh
        stat = os.fstat(fh.fileno())
        self.device, self.inode = stat.st_dev, stat.st_ino
        self.read_pos = 0
        self.splitter = LineSplitter(max_line_bytes)
        self.head = b""
        self.last_data = time.monotonic()

    def seek(self, offset: int) -> None:
        self.fh.seek(offset)
        self.read_pos = offset

    @property
    def offset(self) -> int:
        return self.read_pos - self.splitter.pending

    def refresh_head(self) -> None:
        if len(self.head) < FINGERPRINT_BYTES:
            self.head = _head(self.fh, FINGERPRINT_BYTES)

    def head_changed(self) -> bool:
        return bool(self.head) and _head(self.fh, len(self.head)) != self.head

    def close(self) -> None:
        self.fh.close()


class LogFollower:
    """Follows one configured log path across rotations."""

    def __init__(
        self,
        config: LogConfig,
        engine: Engine,
        max_line_bytes: int,
        start_at_end: bool,
        saved: Position | None = None,
    ) -> None:
        self.config = config
        self.engine = engine
        self.max_line_bytes = max_line_bytes
        self.start_at_end = start_at_end
        self.saved = saved
        self.current: _Open | None = None
        self.draining: list[_Open] = []
        self.first_open = True
        self.counts = engine.counts[config.name]
        self._last_error: tuple[str, str] | None = None  # logged once until it changes

    # Reading ---------------------------------------------------------------------------

    def _feed(self, opened: _Open, data: bytes) -> None:
        opened.read_pos += len(data)
        opened.last_data = time.monotonic()
        block, too_long = opened.splitter.feed(data)
        if too_long:
            self.engine.skip(self.config.name, "too_long", too_long)
        if block:
            self.engine.process(self.config.name, block)

    def _read(self, opened: _Open, budget: int) -> bool:
        """Read up to ``budget`` bytes; True when the budget ran out before the end."""
        while budget > 0:
            data = opened.fh.read(min(CHUNK_BYTES, budget))
            if not data:
                return False
            budget -= len(data)
            self._feed(opened, data)
            if opened.head == b"" or len(opened.head) < FINGERPRINT_BYTES:
                opened.refresh_head()
        return True

    def _finish(self, opened: _Open) -> None:
        """Count the file's unterminated last line and close it."""
        rest = opened.splitter.finish()
        if rest:
            self.engine.process(self.config.name, rest)
        opened.close()

    def _drain_from(self, path: str, offset: int, head: tuple[int, str] | None) -> bool:
        """Read ``path`` from ``offset`` to its end, if its head matches; True if it did."""
        try:
            fh = open(path, "rb")  # noqa: SIM115 - closed by _finish
        except OSError:
            return False
        opened = _Open(fh, self.max_line_bytes)
        size = os.fstat(fh.fileno()).st_size
        if head is not None:
            length, digest = head
            if size < offset or _hash(_head(fh, length)) != digest:
                fh.close()
                return False
        opened.seek(offset)
        self._read(opened, 1 << 62)
        self._finish(opened)
        return True

    def _drain_whole(self, path: str, current: _Open) -> bool:
        """Read a newer copytruncate copy from its start; False if it is not one."""
        try:
            stat = os.stat(path)
        except OSError:
            return False
        if (stat.st_dev, stat.st_ino) == (current.device, current.inode):
            return False
        return self._drain_from(path, 0, None)

    def _open(self) -> bool:
        try:
            fh = open(self.config.path, "rb")  # noqa: SIM115 - kept open while following
        except FileNotFoundError:
            self.counts.present = False
            if self.first_open:
                # Absent at start: whatever appears later is new, read from its start;
                # a file we had been reading may have been rotated away meanwhile.
                self.first_open = False
                saved, self.saved = self.saved, None
                if saved is not None:
                    self._finish_rotated(saved)
            return False
        except OSError as err:
            self._error("open", err)
            return False
        self._last_error = None
        opened = _Open(fh, self.max_line_bytes)
        size = os.fstat(fh.fileno()).st_size
        if self.first_open:
            self.first_open = False
            saved, self.saved = self.saved, None
            if saved is not None:
                self._resume(opened, saved, size)
            elif self.start_at_end:
                opened.seek(self._after_last_newline(fh, size))
        opened.refresh_head()
        self.current = opened
        self.counts.present = True
        return True

    def _resume(self, opened: _Open, saved: Position, size: int) -> None:
        same = (opened.device, opened.inode) == (saved.device, saved.inode)
        head_ok = _hash(_head(opened.fh, saved.head_length)) == saved.head_sha256
        if same and head_ok and size >= saved.offset:
            opened.seek(saved.offset)
            return
        self._finish_rotated(saved)

    def _finish_rotated(self, saved: Position) -> None:
        """Rotated while we were stopped: finish the old file from where we left it."""
        for candidate in self._rotated_paths():
            if self._drain_from(candidate, saved.offset, (saved.head_length, saved.head_sha256)):
                return

    def _rotated_paths(self) -> tuple[str, ...]:
        return self.config.rotated or (self.config.path + ".1",)

    @staticmethod
    def _after_last_newline(fh: IO[bytes], size: int) -> int:
        start = max(0, size - 65536)
        tail = os.pread(fh.fileno(), size - start, start)
        newline = tail.rfind(b"\n")
        return start + newline + 1 if newline != -1 else size

    def poll(self, budget: int = 8 * CHUNK_BYTES) -> bool:
        """Read what is new; True when more data is probably waiting."""
        try:
            return self._poll(budget)
        except OSError as err:
            self._error("read", err)
            return False

    def _poll(self, budget: int) -> bool:
        for old in list(self.draining):
            if self._read(old, budget):
                return True
            if time.monotonic() - old.last_data > DRAIN_QUIET_SECONDS:
                self.draining.remove(old)
                self._finish(old)
        if self.current is None and not self._open():
            return False
        current = self.current
        assert current is not None
        # Before reading on: was the file truncated (smaller, or a different head)?
        if os.fstat(current.fh.fileno()).st_size < current.read_pos or current.head_changed():
            self._truncated(current)
        if self._read(current, budget):
            self._update_gauges(current)
            return True
        try:
            stat = os.stat(self.config.path)
        except FileNotFoundError:
            self._update_gauges(current)
            return False  # moved away; keep reading the old file until a new one appears
        if (stat.st_dev, stat.st_ino) != (current.device, current.inode):
            self.counts.rotations["rename"] += 1
            self.draining.append(current)
            self.current = None
            self._open()
            return True
        size = os.fstat(current.fh.fileno()).st_size
        if size < current.read_pos or current.head_changed():
            self._truncated(current)
            return True
        self._update_gauges(current, size)
        return False

    def _truncated(self, current: _Open) -> None:
        """copytruncate: recover unread bytes from the copy, then start again at 0."""
        self.counts.rotations["truncate"] += 1
        recovered = False
        candidates = self._rotated_paths()
        newer: tuple[str, ...] = ()
        for index, candidate in enumerate(candidates):
            try:
                fh = open(candidate, "rb")  # noqa: SIM115 - closed below
            except OSError:
                continue
            with fh:
                stat = os.fstat(fh.fileno())
                same_file = (stat.st_dev, stat.st_ino) == (current.device, current.inode)
                if same_file or stat.st_size < current.read_pos:
                    continue
                if current.head and _head(fh, len(current.head)) != current.head:
                    continue
                fh.seek(current.read_pos)
                while data := fh.read(CHUNK_BYTES):
                    self._feed(current, data)
                recovered = True
                newer = candidates[:index]
                break
        rest = current.splitter.finish()
        if rest and recovered:
            self.engine.process(self.config.name, rest)
        elif rest:
            self.engine.skip(self.config.name, "truncated")
        # Our copy was found further down the list (newest first): the file was truncated
        # again before this poll, and each newer copy holds a whole generation no poll
        # has read. Read them oldest first, before the file itself.
        for path in reversed(newer):
            if self._drain_whole(path, current):
                self.counts.rotations["truncate"] += 1
        current.seek(0)
        current.head = b""
        current.refresh_head()

    def _update_gauges(self, current: _Open, size: int | None = None) -> None:
        self.counts.offset = current.offset
        self.counts.size = size if size is not None else max(current.read_pos, 0)

    def _error(self, action: str, err: OSError) -> None:
        """Count every failed attempt; log it once, not on every poll, until it changes."""
        self.counts.read_errors += 1
        error = (action, err.strerror or type(err).__name__)
        if error == self._last_error:
            return
        self._last_error = error
        LOG.warning(
            json.dumps(
                {
                    "msg": f"cannot {action} log",
                    "log": self.config.name,
                    "error": error[1],
                }
            )
        )

    # State -----------------------------------------------------------------------------

    def position(self) -> Position | None:
        current = self.current
        if current is None:
            return self.saved
        head = current.head
        return Position(
            path=self.config.path,
            device=current.device,
            inode=current.inode,
            offset=current.offset,
            head_length=len(head),
            head_sha256=_hash(head),
        )

    def close(self) -> None:
        for old in self.draining:
            self._read(old, 1 << 62)
            self._finish(old)
        self.draining.clear()
        if self.current is not None:
            self.current.close()
            self.current = None


class Tailer:
    """Runs every follower in one background thread until :meth:`stop`."""

    def __init__(
        self,
        engine: Engine,
        followers: list[LogFollower],
        poll_seconds: float = 0.25,
        positions: PositionFile | None = None,
        housekeeping: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.followers = followers
        self.poll_seconds = poll_seconds
        self.positions = positions
        self.housekeeping = housekeeping
        self.position_errors = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_save = 0.0
        self._saved: dict[str, Position] = {}

    def run_once(self) -> bool:
        """One pass over every log; True when some log has more to read."""
        busy = False
        for follower in self.followers:
            busy = follower.poll() or busy
        return busy

    def _loop(self) -> None:
        try:
            self._run()
        finally:
            if not self._stop.is_set():  # raised: the traceback follows on stderr
                LOG.error(json.dumps({"msg": "log tailer stopped unexpectedly"}))

    def _run(self) -> None:
        while not self._stop.is_set():
            busy = self.run_once()
            now = time.monotonic()
            if now - self._last_save >= 1.0:
                self._last_save = now
                self.save_positions()
                self.engine.expire()
                if self.housekeeping is not None:
                    self.housekeeping()
            if not busy:
                self._stop.wait(self.poll_seconds)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="security-tail", daemon=True)
        self._thread.start()

    @property
    def failed(self) -> bool:
        """True when the thread was started, not stopped, and is gone (it raised)."""
        thread = self._thread
        return thread is not None and not thread.is_alive() and not self._stop.is_set()

    def save_positions(self) -> None:
        if self.positions is None:
            return
        current = {f.config.name: p for f in self.followers if (p := f.position()) is not None}
        if current == self._saved:
            return
        try:
            self.positions.save(current)
        except OSError as err:
            self.position_errors += 1
            LOG.warning(json.dumps({"msg": "cannot write position file", "error": str(err)}))
            return
        self._saved = current

    def stop(self) -> None:
        """Stop the thread, read what is left, and save positions."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.save_positions()
        for follower in self.followers:
            follower.close()
        if self.housekeeping is not None:
            self.housekeeping()
