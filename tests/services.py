"""Where the tests find the shared PostgreSQL and Redis, in the architecture's order.

1. ``PROMFLEET_TEST_PG_DSN`` / ``PROMFLEET_TEST_REDIS_URL`` when set;
2. otherwise a testcontainers container, where a Docker engine answers;
3. otherwise the local server on its default port.

A container started here lives for the test session and is stopped at exit; its
address is exported in the environment so exporter subprocesses and the live stack
use the same server.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
from typing import Any

PG_IMAGE = "postgres:15.6"
REDIS_IMAGE = "redis:7.0.15"
LOCAL_PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
LOCAL_REDIS_URL = "redis://127.0.0.1:6379/0"


def docker_engine_available() -> bool:
    """Whether a Docker engine answers (the client alone is not enough)."""
    if shutil.which("docker") is None:
        return False
    try:
        probe = subprocess.run(["docker", "info"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def _keep(container: Any) -> None:
    atexit.register(container.stop)


def _pg_from_container() -> str:
    from testcontainers.postgres import PostgresContainer

    container = PostgresContainer(PG_IMAGE, username="postgres", password="postgres")
    container.start()
    _keep(container)
    host = container.get_container_host_ip()
    port = container.get_exposed_port(5432)
    return f"host={host} port={port} user=postgres password=postgres dbname=postgres"


def _redis_from_container() -> str:
    from testcontainers.redis import RedisContainer

    container = RedisContainer(REDIS_IMAGE)
    container.start()
    _keep(container)
    host = container.get_container_host_ip()
    port = container.get_exposed_port(6379)
    return f"redis://{host}:{port}/0"


def _resolve(env: str, from_container: Any, local: str, use_docker: bool) -> str:
    value = os.environ.get(env)
    if value:
        return value
    value = from_container() if use_docker else local
    os.environ[env] = value
    return value


_DOCKER = (
    not (os.environ.get("PROMFLEET_TEST_PG_DSN") and os.environ.get("PROMFLEET_TEST_REDIS_URL"))
    and docker_engine_available()
)
PG_DSN = _resolve("PROMFLEET_TEST_PG_DSN", _pg_from_container, LOCAL_PG_DSN, _DOCKER)
REDIS_URL = _resolve("PROMFLEET_TEST_REDIS_URL", _redis_from_container, LOCAL_REDIS_URL, _DOCKER)
