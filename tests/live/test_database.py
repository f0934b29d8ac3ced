"""Database conditions made on real servers page the right receiver through Alertmanager.

A private PostgreSQL with 20 connections (3 reserved) is filled with sessions until the
pool is exhausted: PostgresConnectionsHigh pages at critical; then the server is stopped
and PostgresDown pages. One private Redis with a 4 MiB maxmemory (LRU) is filled past it:
RedisEvictingKeys arrives at warning. Another with a 4 MiB maxmemory and noeviction is
filled until writes are refused while a client keeps writing: RedisOutOfMemory pages and
RedisMemoryHigh warns.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import psycopg
import pytest
import redis

from generator.model import Catalogue
from runner import Member
from tests.database.servers import OwnPostgres, OwnRedis
from tests.live.conftest import LiveStack, StartLiveStack, expected_receiver

pytestmark = pytest.mark.live

# On a loaded machine the stack, the servers and the writers share two cores: generous.
PAGE_TIMEOUT_S = 90.0


class Servers:
    def __init__(self) -> None:
        self.pg = OwnPostgres(max_connections="20", superuser_reserved_connections="3")
        self.lru = OwnRedis("--maxmemory", "4mb", "--maxmemory-policy", "allkeys-lru")
        self.full = OwnRedis("--maxmemory", "4mb", "--maxmemory-policy", "noeviction")

    def start(self) -> Servers:
        self.pg.start()
        self.lru.start()
        self.full.start()
        return self

    def stop(self) -> None:
        self.pg.stop()
        self.lru.stop()
        self.full.stop()


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    own = Servers()
    try:
        yield own.start()
    finally:
        own.stop()


@pytest.fixture(scope="module")
def stack(live_stack: StartLiveStack, servers: Servers) -> LiveStack:
    redis_targets = json.dumps([
        {"name": "cache", "url": servers.lru.url},
        {"name": "full", "url": servers.full.url},
    ])
    return live_stack(members=[
        Member("postgres",
               env={"PROMFLEET_POSTGRES_DSN": servers.pg.dsn,
                    "PROMFLEET_POSTGRES_TARGET_NAME": "main"}),
        Member("redis", env={"PROMFLEET_REDIS_TARGETS": redis_targets}),
    ])


def test_a_postgres_at_its_connection_limit_pages_then_pages_down_once_stopped(
    stack: LiveStack, servers: Servers, catalogue: Catalogue
) -> None:
    pg = servers.pg
    page = expected_receiver(catalogue, "ops", "critical")
    holders = []
    try:
        for _ in range(16):  # with the exporter's own session: 17 of 17 usable slots
            holders.append(psycopg.connect(pg.dsn, application_name="live-holder"))
        full = stack.wait_for_alert(
            "PostgresConnectionsHigh", page, timeout=PAGE_TIMEOUT_S,
            severity="critical", target="main", job="postgres",
        )
        assert full.labels["team"] == "ops"
    finally:
        for conn in holders:
            conn.close()

    pg.stop()
    down = stack.wait_for_alert("PostgresDown", page, timeout=PAGE_TIMEOUT_S,
                                severity="critical", target="main", job="postgres")
    assert down.annotations["runbook_url"].endswith("/PostgresDown.md")


def test_a_redis_full_with_lru_evicts_and_warns(
    stack: LiveStack, servers: Servers, catalogue: Catalogue
) -> None:
    client = servers.lru.client()
    pipe = client.pipeline(transaction=False)
    for i in range(1_000):  # 10 MB into 4 MB
        pipe.set(f"fill:{i}", b"x" * 10_000)
    pipe.execute()
    evict = stack.wait_for_alert(
        "RedisEvictingKeys", expected_receiver(catalogue, "ops", "warning"),
        timeout=PAGE_TIMEOUT_S, severity="warning", target="cache", job="redis",
    )
    assert evict.annotations["runbook_url"].endswith("/RedisEvictingKeys.md")


def test_a_redis_out_of_memory_refusing_writes_pages(
    stack: LiveStack, servers: Servers, catalogue: Catalogue
) -> None:
    refused = 0
    stop = threading.Event()

    def keep_writing() -> None:
        # An application that keeps writing into a full Redis, as a queue producer does.
        nonlocal refused
        client = servers.full.client()
        i = 0
        while not stop.is_set():
            try:
                client.set(f"job:{i}", b"x" * 10_000)
            except redis.exceptions.OutOfMemoryError:
                refused += 1
                stop.wait(0.05)
            i += 1

    writer = threading.Thread(target=keep_writing, daemon=True)
    writer.start()
    try:
        oom = stack.wait_for_alert(
            "RedisOutOfMemory", expected_receiver(catalogue, "ops", "critical"),
            timeout=PAGE_TIMEOUT_S, severity="critical", target="full", job="redis",
        )
        assert oom.labels["team"] == "ops"
        memory = stack.wait_for_alert(
            "RedisMemoryHigh", expected_receiver(catalogue, "ops", "warning"),
            timeout=PAGE_TIMEOUT_S, severity="warning", target="full", job="redis",
        )
        assert memory.annotations["runbook_url"].endswith("/RedisMemoryHigh.md")
    finally:
        stop.set()
        writer.join(timeout=10)
    assert refused > 10
    # The LRU cache beside it evicts instead of refusing: no page for it.
    assert not [d for d in stack.webhook.deliveries
                if d.name == "RedisOutOfMemory" and d.labels.get("target") == "cache"]
