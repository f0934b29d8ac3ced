"""An ack made through one Alertmanager of a gossip cluster holds on the other, and is
undone from it: two real Alertmanagers on loopback, the CLI run as a user runs it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import free_port
from tests.oncall.servers import (
    alertmanager_cluster,
    alerts_named,
    needs_servers,
    oncall,
    post_alerts,
    silences,
    wait_for,
)

pytestmark = [pytest.mark.live, needs_servers]

PRIMARY = {"alertname": "ReplicaLag", "severity": "critical", "team": "ops", "instance": "db-1"}
REPLICA = {**PRIMARY, "severity": "warning", "instance": "db-2"}


def silenced_by(url: str, instance: str) -> list[str]:
    (found,) = [a for a in alerts_named(url, "ReplicaLag") if a["labels"]["instance"] == instance]
    return list(found["status"]["silencedBy"])


def test_an_ack_through_one_peer_holds_on_the_other_and_is_undone_from_it(
    tmp_path: Path,
) -> None:
    with alertmanager_cluster(tmp_path) as (am1, am2):
        for url in (am1, am2):  # Prometheus sends every alert to every peer
            post_alerts(url, [PRIMARY, REPLICA])

        done = oncall(
            "ack", "ReplicaLag", "instance=db-1", "--for", "1h", "--comment", "failing over",
            "--author", "alice", "--alertmanager", am1,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        match = re.search(r"silence ([0-9a-f-]{36})", done.stdout)
        assert match, done.stdout
        silence_id = match.group(1)
        assert "escalation to management is muted too" in done.stdout

        # Gossip carries the silence to the second peer, which mutes the same alert there.
        wait_for("the ack to mute db-1 on the second peer", lambda: silenced_by(am2, "db-1"))
        assert silenced_by(am2, "db-1") == [silence_id]
        assert silenced_by(am2, "db-2") == []

        shown = oncall("alerts", "--alertmanager", am2)
        assert shown.returncode == 0, shown.stderr
        rows = {line.split()[3]: line for line in shown.stdout.splitlines()[1:]}
        assert "acknowledged by alice until" in rows["db-1"], shown.stdout
        assert "(failing over)" in rows["db-1"]
        assert rows["db-2"].split()[5] == "active", shown.stdout
        assert shown.stdout.splitlines()[1].split()[:2] == ["ReplicaLag", "critical"]

        # Reads go to the first peer that answers.
        dead = f"http://127.0.0.1:{free_port()}"
        failover = oncall("alerts", "--json", "--alertmanager", f"{dead},{am2}")
        assert failover.returncode == 0, failover.stderr
        assert "acknowledged" in failover.stdout

        undone = oncall("unack", silence_id, "--alertmanager", am2)
        assert undone.returncode == 0, undone.stderr
        assert "alice" in undone.stdout and "failing over" in undone.stdout

        def expired_on_first() -> bool:
            (mine,) = [s for s in silences(am1) if s["id"] == silence_id]
            return mine["status"]["state"] == "expired" and not silenced_by(am1, "db-1")

        wait_for("the unack to expire the silence on the first peer", expired_on_first)
