"""Where status records come from: the status directory (files) and Redis (hashes).

Each source returns a :class:`SourceResult`: the records it could parse, and the count of
those it could not, by reason. A source that cannot be read at all (a missing directory,
Redis refusing) gives ``up=False`` and an error for the log; the scrape goes on.
"""

from __future__ import annotations

import asyncio
import errno
import os
import stat
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from exporters.targets import password_of, redact
from exporters.training.records import Record, Rejection, parse_hash, parse_json
from exporters.training.status import SUFFIX

if TYPE_CHECKING:
    from redis.asyncio import Redis


@dataclass
class SourceResult:
    """What one source gave in one scrape."""

    source: str
    up: bool
    records: list[Record] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)
    # (where, reason, detail) for records rejected in this scrape; the collector logs new ones.
    problems: list[tuple[str, str, str]] = field(default_factory=list)
    dropped: int = 0  # documents not read because --records.max was reached
    error: str = ""

    def take(self, where: str, parsed: Record | Rejection) -> None:
        if isinstance(parsed, Rejection):
            self.reject(where, parsed.reason, parsed.detail)
        else:
            self.records.append(parsed)

    def reject(self, where: str, reason: str, detail: str) -> None:
        self.rejected[reason] += 1
        self.problems.append((where, reason, detail))


def _read_regular(path: str, limit: int) -> bytes:
    """Up to ``limit`` bytes of a regular file.

    Opened non-blocking and checked with fstat before reading: a named pipe or a device
    called ``*.json`` would otherwise block the worker thread on every scrape.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                raise IsADirectoryError(path)
            raise OSError(errno.EINVAL, "not a regular file")
        chunks: list[bytes] = []
        size = 0
        while size < limit:
            chunk = os.read(fd, limit - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_directory(directory: str, max_file_bytes: int, max_records: int) -> SourceResult:
    """Every ``*.json`` record in ``directory`` (not recursive).

    Hidden names (a writer's temporary file) and other suffixes are never read, so a
    half-written record is never seen. A file that vanishes between listing and reading
    (a writer replaced it, a job was cleaned up) is skipped without counting it.
    """
    result = SourceResult("directory", up=True)
    try:
        entries = sorted(
            e.name
            for e in os.scandir(directory)
            if not e.name.startswith(".") and e.name.endswith(SUFFIX)
        )
    except OSError as err:
        result.up = False
        result.error = f"{type(err).__name__}: {err.strerror or err}"
        return result
    if len(entries) > max_records:
        result.dropped = len(entries) - max_records
        entries = entries[:max_records]
    for name in entries:
        path = os.path.join(directory, name)
        try:
            data = _read_regular(path, max_file_bytes + 1)
        except (FileNotFoundError, IsADirectoryError):
            continue
        except OSError as err:
            result.reject(name, "unreadable", f"{type(err).__name__}: {err.strerror or err}")
            continue
        if len(data) > max_file_bytes:
            result.reject(name, "too_large", f"over {max_file_bytes} bytes")
            continue
        result.take(name, parse_json(data))
    return result


class RedisSource:
    """Records kept as Redis hashes under ``<prefix>:<kind>:<id>``.

    One client (and its small pool) is reused across scrapes; retries are off, so a dead
    Redis costs one refused connect, and all the work is bound by the scrape deadline.
    Keys are found with ``SCAN MATCH <prefix>:*`` (never ``KEYS``) and read with one
    pipelined ``HGETALL`` per batch. redis-py is imported when a source is made, so
    reading the exporter's ``METRICS`` does not load it.
    """

    BATCH = 200

    def __init__(self, url: str, prefix: str, max_records: int, connect_timeout: float = 2.0):
        self.prefix = prefix
        self.max_records = max_records
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self._secrets = tuple(s for s in (url, password_of(url)) if s)
        self._client: Redis = Redis.from_url(
            url,
            socket_timeout=connect_timeout,
            socket_connect_timeout=connect_timeout,
            retry=Retry(NoBackoff(), 0),
            retry_on_error=[],
            health_check_interval=0,
            client_name="promfleet-exporter-training",
            driver_info=None,  # no CLIENT SETINFO round trip on connect
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def read(self, deadline: float) -> SourceResult:
        from redis.exceptions import RedisError

        result = SourceResult("redis", up=True)
        remaining = deadline - time.monotonic()
        try:
            async with asyncio.timeout(max(0.001, remaining)):
                keys = await self._keys(result)
                for start in range(0, len(keys), self.BATCH):
                    batch = keys[start : start + self.BATCH]
                    pipe = self._client.pipeline(transaction=False)
                    for key in batch:
                        pipe.hgetall(key)
                    replies: list[Any] = await pipe.execute(raise_on_error=False)
                    for key, reply in zip(batch, replies, strict=True):
                        where = key.decode("utf-8", "replace")
                        if isinstance(reply, Exception):
                            # WRONGTYPE: someone stored a string or list under our prefix.
                            result.reject(where, "malformed", type(reply).__name__)
                        elif reply:  # an empty reply: the key expired since SCAN saw it
                            result.take(where, parse_hash(reply))
        except TimeoutError:
            await self._client.connection_pool.disconnect()
            return SourceResult("redis", up=False, error="deadline exceeded")
        except (RedisError, OSError) as err:
            await self._client.connection_pool.disconnect()
            error = redact(_first_line(err), self._secrets)
            return SourceResult("redis", up=False, error=error)
        return result

    async def _keys(self, result: SourceResult) -> list[bytes]:
        keys: list[bytes] = []
        seen: set[bytes] = set()
        cursor: int = 0
        pattern = f"{_escape_glob(self.prefix)}:*"
        while True:
            cursor, chunk = await self._client.scan(cursor, match=pattern, count=500)
            for raw in chunk:
                key = raw if isinstance(raw, bytes) else str(raw).encode("utf-8")
                if key in seen:  # SCAN may return a key twice while the table rehashes
                    continue
                seen.add(key)
                if len(keys) < self.max_records:
                    keys.append(key)
                else:
                    result.dropped += 1
            if cursor == 0:
                break
        keys.sort()
        return keys


def _escape_glob(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0] if lines else ''}"
