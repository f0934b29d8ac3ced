"""``make run TOPOLOGY=ha`` and ``make up TOPOLOGY=sharded`` as a user types them: every
server is printed with its URL, the status line counts every target, and Ctrl-C or
``make down`` stops every process (no orphans); a shard count of zero starts and writes
nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.live.conftest import REPO_ROOT, _require_binaries
from tests.live.test_stack_up_down import _assert_all_gone, _stack, _started

pytestmark = pytest.mark.live

HA = {"prometheus-0", "prometheus-1", "alertmanager-0", "alertmanager-1", "alertmanager-2"}
SHARDED = {"prometheus-shard-0", "prometheus-shard-1", "prometheus-receiver", "alertmanager"}


def _read_until(proc: subprocess.Popen[str], wanted: str, timeout: float) -> list[str]:
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not any(wanted in line for line in lines):
        line = proc.stdout.readline()
        if line:
            lines.append(line)
        elif proc.poll() is not None:
            break
        else:
            time.sleep(0.1)
    return lines


def test_run_with_the_ha_topology_prints_every_server_and_ctrl_c_stops_them_all(
    tmp_path: Path,
) -> None:
    _require_binaries()
    state = tmp_path / "run"
    run = subprocess.Popen(
        [sys.executable, "-m", "runner", "run", "--topology", "ha", "--state-dir", str(state),
         "--members", "system", "--status-every", "1", "--set", "scrape_interval=1s",
         "--set", "scrape_timeout=1s"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        start_new_session=True,
    )
    procs = {}
    try:
        # system, two replicas and three peers: six targets, all up.
        lines = _read_until(run, "targets up 6/6", timeout=120)
        text = "".join(lines)
        assert "targets up 6/6" in text, text
        for name in HA:
            assert any(line.startswith(name) and "http://127.0.0.1:" in line
                       for line in lines), text
        assert 'replica="prometheus-1" (dropped from alerts)' in text
        assert "peer 3 of 3 of the gossip cluster, gossip on 127.0.0.1:" in text
        oncall = next(line for line in lines if line.startswith("on call"))
        assert oncall.count("http://127.0.0.1:") == 4  # three peers and one Prometheus
        procs = _started(state)
        assert set(procs) == HA | {"system"}
    finally:
        run.send_signal(signal.SIGINT)
        try:
            run.wait(timeout=60)
        except subprocess.TimeoutExpired:
            run.kill()
            run.wait(timeout=10)
    assert run.returncode == 0
    _assert_all_gone(procs)


def test_up_with_the_sharded_topology_counts_every_shards_targets_and_down_stops_all(
    tmp_path: Path,
) -> None:
    _require_binaries()
    state = tmp_path / "run"
    up = _stack(state, "up", "--topology", "sharded", "--members", "system",
                "--set", "scrape_interval=1s", "--set", "scrape_timeout=1s", timeout=120)
    procs = {}
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        procs = _started(state)
        assert set(procs) == SHARDED | {"system"}
        assert "shard 1 of 2: scrapes its share" in up.stdout
        assert "prometheus-receiver" in up.stdout and "queries here" in up.stdout
        # system, two agents, the receiver and Alertmanager, counted over both shards.
        deadline = time.monotonic() + 120
        line = ""
        while time.monotonic() < deadline and "targets up 5/5" not in line:
            line = _stack(state, "status").stdout
            time.sleep(1)
        assert "targets up 5/5" in line, line
    finally:
        down = _stack(state, "down")
    assert down.returncode == 0, down.stderr
    assert all(name in down.stdout for name in SHARDED), down.stdout
    _assert_all_gone(procs)


def test_a_shard_count_of_zero_is_refused_by_name_and_starts_nothing(tmp_path: Path) -> None:
    _require_binaries()
    state = tmp_path / "run"
    up = _stack(state, "up", "--topology", "sharded", "--set", "shard_count=0")
    assert up.returncode == 1
    assert "shard_count: must be at least 1" in up.stderr, up.stderr
    assert "Traceback" not in up.stderr
    assert not state.exists() or not any(state.rglob("*"))


def test_make_run_passes_the_topology_to_the_runner() -> None:
    for verb in ("run", "up"):
        done = subprocess.run(["make", "-n", verb, "TOPOLOGY=sharded"], cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        assert f"-m runner {verb} --topology sharded" in done.stdout
