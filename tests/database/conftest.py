"""Fixtures of the database tests: shared and own servers, fault proxies, scrape helpers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from exporters.spec import Collector as ExporterCollector
from exporters.spec import ScrapeContext
from tests.database.proxy import FaultProxy
from tests.database.servers import OwnPostgres, OwnRedis
from tests.helpers import exposition as exposition  # re-exported for the database tests


async def scrape_text(collector: ExporterCollector, timeout: float = 5.0) -> str:
    return exposition(await collector.collect(ScrapeContext.with_timeout(timeout)))


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


@pytest.fixture
def unique() -> str:
    """A name unique to this test run, for roles, databases and application_name."""
    return "pftest_" + uuid.uuid4().hex[:12]


@pytest.fixture(scope="session")
def own_pg() -> Iterator[OwnPostgres]:
    """A private cluster: 20 connections (3 reserved), pg_stat_statements, fast deadlocks."""
    server = OwnPostgres(
        max_connections="20",
        superuser_reserved_connections="3",
        shared_preload_libraries="pg_stat_statements",
        deadlock_timeout="100ms",
    )
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def own_redis() -> Iterator[OwnRedis]:
    """A private redis-server with a 4 MiB maxmemory (LRU), so evictions can be forced."""
    server = OwnRedis("--maxmemory", "4mb", "--maxmemory-policy", "allkeys-lru")
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def pg_proxy() -> Iterator[FaultProxy]:
    """A fault proxy in front of the shared PostgreSQL."""
    from tests.database.servers import SHARED_PG_DSN

    params = dict(part.split("=", 1) for part in SHARED_PG_DSN.split())
    with FaultProxy(params.get("host", "127.0.0.1"), int(params.get("port", "5432"))) as proxy:
        yield proxy


@pytest.fixture
def redis_proxy() -> Iterator[FaultProxy]:
    """A fault proxy in front of the shared Redis."""
    from urllib.parse import urlsplit

    from tests.database.servers import SHARED_REDIS_URL

    parts = urlsplit(SHARED_REDIS_URL)
    with FaultProxy(parts.hostname or "127.0.0.1", parts.port or 6379) as proxy:
        yield proxy
