"""Training test fixtures: the shared Redis under a private key prefix, deleted afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from tests.services import REDIS_URL


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    """A client of the shared test Redis (never reconfigured, never flushed)."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as err:
        pytest.fail(f"the test Redis at PROMFLEET_TEST_REDIS_URL or :6379 is required: {err}")
    yield client
    client.close()


@pytest.fixture
def redis_prefix(redis_client: redis.Redis) -> Iterator[str]:
    """A key prefix no other test uses; every key under it is deleted afterwards."""
    prefix = f"promfleet-test:{uuid.uuid4().hex}"
    yield prefix
    keys = list(redis_client.scan_iter(match=f"{prefix}:*", count=500))
    if keys:
        redis_client.delete(*keys)
