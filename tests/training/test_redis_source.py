"""The Redis source against a real Redis: hashes under a private prefix, bad keys, a dead server."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import redis

from exporters.spec import ScrapeContext, Settings
from exporters.training import build, close
from exporters.training.collector import RecordsCollector, RecordsConfig
from exporters.training.sources import RedisSource, SourceResult
from exporters.training.status import StatusWriter, redis_key, to_hash
from tests.database.proxy import FaultProxy
from tests.helpers import free_port
from tests.training.conftest import REDIS_URL
from tests.training.families import value

NS = "promfleet_training"


def put(
    client: redis.Redis, prefix: str, document: dict[str, object], now: float | None = None
) -> None:
    client.hset(redis_key(prefix, document), mapping=to_hash(document, now))  # type: ignore[arg-type]


def read(source: RedisSource, timeout: float = 5.0) -> SourceResult:
    async def run() -> SourceResult:
        try:
            return await source.read(time.monotonic() + timeout)
        finally:
            await source.close()

    return asyncio.run(run())


def test_records_kept_as_redis_hashes_are_read_through_scan_and_one_pipeline(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    put(
        redis_client,
        redis_prefix,
        {
            "kind": "job",
            "job_id": "r1",
            "model": "m1",
            "state": "running",
            "progress": 0.5,
            "gpus": [0, 1],
        },
    )
    put(redis_client, redis_prefix, {"kind": "model", "model": "m1", "state": "failed"})
    put(
        redis_client,
        redis_prefix,
        {"kind": "drift", "model": "m1", "drift_type": "concept", "detections": 4},
    )
    redis_client.set(f"{redis_prefix}:job:not-a-hash", "oops")
    redis_client.hset(f"{redis_prefix}:job:half", mapping={"schema_version": "1", "kind": "job"})
    redis_client.hset(f"{redis_prefix}-other:job:x", mapping={"kind": "job"})  # another prefix
    try:
        result = read(RedisSource(REDIS_URL, redis_prefix, max_records=100))
    finally:
        redis_client.delete(f"{redis_prefix}-other:job:x")
    assert result.up, result.error
    assert sorted(r.kind for r in result.records) == ["drift", "job", "model"]
    assert dict(result.rejected) == {"malformed": 1, "invalid": 1}


def test_the_collector_merges_redis_and_directory_records_keeping_the_newest(
    redis_client: redis.Redis, redis_prefix: str, tmp_path: Path
) -> None:
    now = time.time()
    StatusWriter(tmp_path).write(
        {"kind": "job", "job_id": "r1", "model": "m1", "state": "running", "progress": 0.2},
        now=now - 60,
    )
    put(
        redis_client,
        redis_prefix,
        {"kind": "job", "job_id": "r1", "model": "m1", "state": "running", "progress": 0.4},
        now=now,
    )
    put(
        redis_client,
        redis_prefix,
        {"kind": "job", "job_id": "r2", "model": "m1", "state": "pending"},
    )
    collector = RecordsCollector(
        RecordsConfig(),
        directory=str(tmp_path),
        redis=RedisSource(REDIS_URL, redis_prefix, max_records=100),
    )

    async def scrape_once() -> list:  # type: ignore[type-arg]
        try:
            return list(await collector.collect(ScrapeContext.with_timeout(5)))
        finally:
            await collector.close()

    families = asyncio.run(scrape_once())
    assert value(families, f"{NS}_source_up", {"source": "redis"}) == 1
    assert value(families, f"{NS}_source_up", {"source": "directory"}) == 1
    assert value(families, f"{NS}_records", {"source": "redis", "kind": "job"}) == 2
    assert value(families, f"{NS}_jobs", {"model": "m1", "state": "running"}) == 1
    assert value(families, f"{NS}_job_progress_ratio", {"model": "m1", "job_id": "r1"}) == 0.4
    assert value(families, f"{NS}_pending_jobs") == 1


def test_more_keys_than_records_max_are_counted_as_dropped(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    for index in range(7):
        put(
            redis_client,
            redis_prefix,
            {"kind": "job", "job_id": f"p{index}", "model": "m1", "state": "pending"},
        )
    result = read(RedisSource(REDIS_URL, redis_prefix, max_records=5))
    assert len(result.records) == 5 and result.dropped == 2


def test_a_refused_redis_is_down_and_its_password_never_reaches_the_error() -> None:
    port = free_port()  # nothing listens there
    url = f"redis://:s3cret-pw@127.0.0.1:{port}/0"
    result = read(RedisSource(url, "promfleet:training", max_records=10))
    assert not result.up
    assert "s3cret-pw" not in result.error and result.error


def test_a_redis_that_hangs_up_is_connected_to_once_per_scrape_without_retries() -> None:
    accepted: list[socket.socket] = []
    with socket.socket() as server:  # accepts, then closes every connection at once
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        server.settimeout(0.05)
        port = server.getsockname()[1]
        stop = threading.Event()

        def hang_up() -> None:
            while not stop.is_set():
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    continue
                accepted.append(conn)
                conn.close()

        thread = threading.Thread(target=hang_up)
        thread.start()
        try:
            result = read(RedisSource(f"redis://127.0.0.1:{port}/0", "p", max_records=10))
        finally:
            stop.set()
            thread.join(timeout=5)
    assert not result.up and result.error
    assert len(accepted) == 1, "redis-py's retries are off: one connection, one failure"


def test_a_redis_that_never_answers_is_cut_off_at_the_deadline() -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        # The socket timeout (2 s) is longer than the deadline: only the deadline ends it.
        result = read(RedisSource(f"redis://127.0.0.1:{port}/0", "p", max_records=10), timeout=0.5)
    assert not result.up and result.error == "deadline exceeded"


def test_the_exporters_close_hangs_up_its_redis_connection(redis_prefix: str) -> None:
    # Counted at a proxy this test owns, not in the shared Redis's CLIENT LIST, where any
    # other training exporter (a live-stack test, `make run`) shows under the same name.
    parts = urlsplit(REDIS_URL)

    def through(proxy: FaultProxy) -> str:
        credentials = parts.netloc.rpartition("@")[0]
        netloc = f"{credentials}@" if credentials else ""
        return urlunsplit(parts._replace(netloc=f"{netloc}127.0.0.1:{proxy.port}"))

    with FaultProxy(parts.hostname or "127.0.0.1", parts.port or 6379) as proxy:
        settings = Settings(
            "training",
            {
                "redis.url": through(proxy),
                "redis.key-prefix": redis_prefix,
                "collector.gpu": False,
            },
        )
        collectors = build(settings)

        async def scrape_then_close() -> int:
            for collector in collectors:
                await collector.collect(ScrapeContext.with_timeout(5))
            during = proxy.open
            await close(collectors)
            return during

        during = asyncio.run(scrape_then_close())
        deadline = time.monotonic() + 10  # the proxy sees the hang-up on its own thread
        while proxy.open and time.monotonic() < deadline:
            time.sleep(0.02)
        assert during == 1 and proxy.accepted == 1, "one connection, reused by the scrape"
        assert proxy.open == 0
