"""The database runbooks' Diagnosis commands, run as written against real servers.

Every ``psql``, ``pg_isready`` and ``redis-cli`` line of a Diagnosis ```sh block is run
with its placeholders (HOST, PORT, MASTER) pointed at a private PostgreSQL and Redis;
it must exit 0 and print something. Lines for the server's own host (systemctl,
journalctl) are the only ones left out, and nothing else may hide among them.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from generator.catalogue.database import AREA
from tests.database.servers import OwnPostgres, OwnRedis

SH_BLOCK = re.compile(r"```sh\n(.*?)\n```", re.DOTALL)
HOST_ONLY = ("systemctl ", "journalctl ")
RUNNABLE = ("psql ", "pg_isready ", "redis-cli ")


def diagnosis_commands() -> list[tuple[str, str]]:
    """(alert name, shell line) for each command line of each Diagnosis ```sh block."""
    out: list[tuple[str, str]] = []
    for threshold in AREA.thresholds:
        for step in threshold.runbook.diagnosis:
            for block in SH_BLOCK.findall(step):
                for line in block.splitlines():
                    for command in line.split("; "):
                        if command.strip():
                            out.append((threshold.name, command.strip()))
    return out


def test_every_database_runbook_diagnosis_gives_a_psql_or_redis_cli_command() -> None:
    by_alert: dict[str, list[str]] = {}
    for alert, command in diagnosis_commands():
        by_alert.setdefault(alert, []).append(command)
    for threshold in AREA.thresholds:
        tool = "psql " if threshold.name.startswith("Postgres") else "redis-cli "
        commands = by_alert.get(threshold.name, [])
        assert any(c.startswith(tool) for c in commands), (threshold.name, commands)
    strays = [c for _, c in diagnosis_commands()
              if not c.startswith(RUNNABLE) and not c.startswith(HOST_ONLY)]
    assert strays == []


def _pointed(command: str, pg_port: int, redis_port: int) -> str:
    if command.startswith(("psql ", "pg_isready ")):
        command = command.replace("-p 5432", f"-p {pg_port}")
        command = command.replace("-h HOST", f"-h 127.0.0.1 -p {pg_port}", 1)
        # pg_isready names the port itself: keep one -p.
        return command.replace(f"-p {pg_port} -p {pg_port}", f"-p {pg_port}")
    return (command.replace("-h HOST", "-h 127.0.0.1").replace("-h MASTER", "-h 127.0.0.1")
            .replace("-p PORT", f"-p {redis_port}"))


@pytest.mark.parametrize(
    ("alert", "command"),
    [pair for pair in diagnosis_commands() if pair[1].startswith(RUNNABLE)],
    ids=lambda value: str(value)[:60],
)
def test_a_runbook_diagnosis_command_runs_against_a_real_server(
    own_pg: OwnPostgres, own_redis: OwnRedis, alert: str, command: str
) -> None:
    params = dict(part.split("=", 1) for part in own_pg.dsn.split())
    line = _pointed(command, int(params["port"]), own_redis.port)
    assert "HOST" not in line and "PORT" not in line and "MASTER" not in line, line
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", line], capture_output=True, text=True, timeout=30,
        check=False,
    )
    assert done.returncode == 0, (alert, line, done.stderr[-500:])
    assert done.stdout.strip(), (alert, line)
    assert "ERROR" not in done.stderr, (alert, line, done.stderr[-500:])
