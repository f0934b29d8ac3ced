"""Database conditions made on real servers page the right receiver through Alertmanager.

A private PostgreSQL with 20 connections (3 reserved) is filled with sessions until the
pool is exhausted: PostgresConnectionsHigh pages at critical. A private Redis with a
4 MiB maxmemory is filled past it: RedisEvictingKeys arrives at warning.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from generator.model import Catalogue
from generator.stack import Member
from tests.database.servers import OwnPostgres, OwnRedis
from tests.live.conftest import StartLiveStack, expected_receiver

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[OwnPostgres, OwnRedis]]:
    pg = OwnPostgres(max_connections="20", superuser_reserved_connections="3")
    rd = OwnRedis("--maxmemory", "4mb", "--maxmemory-policy", "allkeys-lru")
    try:
        yield pg.start(), rd.start()
    finally:
        pg.stop()
        rd.stop()


def test_exhausted_postgres_connections_and_redis_evictions_page_their_receivers(
    live_stack: StartLiveStack, servers: tuple[OwnPostgres, OwnRedis], catalogue: Catalogue
) -> None:
    pg, rd = servers
    stack = live_stack(members=[
        Member("postgres", "exporters.postgres",
               env={"PROMFLEET_POSTGRES_DSN": pg.dsn, "PROMFLEET_POSTGRES_TARGET_NAME": "main"}),
        Member("redis", "exporters.redis",
               env={"PROMFLEET_REDIS_URL": rd.url, "PROMFLEET_REDIS_TARGET_NAME": "cache"}),
    ])
    holders = []
    try:
        for _ in range(16):  # with the exporter's own session: 17 of 17 usable slots
            holders.append(psycopg.connect(pg.dsn, application_name="live-holder"))
        client = rd.client()
        pipe = client.pipeline(transaction=False)
        for i in range(1_000):  # 10 MB into 4 MB
            pipe.set(f"fill:{i}", b"x" * 10_000)
        pipe.execute()

        page = stack.wait_for_alert(
            "PostgresConnectionsHigh", expected_receiver(catalogue, "ops", "critical"),
            timeout=45, severity="critical", target="main", job="postgres",
        )
        assert page.labels["team"] == "ops"
        evict = stack.wait_for_alert(
            "RedisEvictingKeys", expected_receiver(catalogue, "ops", "warning"),
            timeout=45, severity="warning", target="cache", job="redis",
        )
        assert evict.annotations["runbook_url"].endswith("/RedisEvictingKeys.md")
    finally:
        for conn in holders:
            conn.close()
