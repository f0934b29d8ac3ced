"""Database servers the tests own: a throw-away PostgreSQL cluster and redis-server processes.

Shared servers come from :mod:`tests.services` (the environment, a testcontainers
container where Docker runs, or the local defaults); servers needing special settings
(a small ``max_connections``, ``pg_stat_statements`` preloaded, a ``maxmemory``) are
started here on free ports.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import redis

from tests import services
from tests.helpers import free_port

SHARED_PG_DSN = services.PG_DSN
SHARED_REDIS_URL = services.REDIS_URL


def _as_postgres(cmd: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class OwnPostgres:
    """``initdb`` in a temporary directory, then ``postgres`` on a free loopback port.

    With ``primary``, a streaming standby of it instead (``pg_basebackup -R``).
    """

    def __init__(self, primary: OwnPostgres | None = None, **settings: str) -> None:
        self.port = free_port()
        self.primary = primary
        self.settings = settings
        self.dir = Path(tempfile.mkdtemp(prefix="promfleet-pg-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.dir / "server.log"

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def start(self) -> OwnPostgres:
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        data = self.dir / "data"
        if self.primary is None:
            create = ["initdb", "-D", str(data), "-U", "postgres", "-A", "trust",
                      "--no-sync", "-E", "UTF8"]
        else:
            create = ["pg_basebackup", "-D", str(data), "-R", "--no-sync", "--checkpoint=fast",
                      "-d", f"{self.primary.dsn} application_name=standby"]
        subprocess.run(_as_postgres(create), check=True, capture_output=True, timeout=120)
        args = ["postgres", "-D", str(data), "-p", str(self.port), "-k", str(self.dir),
                "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        for key, value in self.settings.items():
            args += ["-c", f"{key}={value}"]
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(_as_postgres(args), stdout=out, stderr=out)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited: {self.log.read_text()[-2000:]}")
            try:
                with psycopg.connect(self.dsn, connect_timeout=2):
                    return self
            except psycopg.OperationalError:
                time.sleep(0.1)
        raise RuntimeError("postgres did not accept connections within 30 s")

    def _postmaster_pid(self) -> int | None:
        try:
            return int((self.dir / "data" / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # The postmaster itself: runuser does not pass SIGINT on to it.
            pid = self._postmaster_pid() or self.proc.pid
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)  # fast shutdown; SIGTERM waits for clients
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                self.proc.kill()
                self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


class OwnRedis:
    """``redis-server`` on a free loopback port with the given extra arguments."""

    def __init__(self, *args: str) -> None:
        self.port = free_port()
        self.args = args
        self.dir = Path(tempfile.mkdtemp(prefix="promfleet-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def start(self) -> OwnRedis:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.dir), *self.args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return self
            except redis.AuthenticationError:
                return self  # it answers; the test holds the password
            except redis.ResponseError as err:
                if "NOAUTH" in str(err):
                    return self
                raise
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not answer within 15 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)
