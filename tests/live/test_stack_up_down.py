"""``make run``, ``make up`` and ``make down`` as a user types them: the demo writers are
listed, counted in the status line, and stopped with everything else (no orphans)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.live.conftest import REPO_ROOT, _require_binaries

pytestmark = pytest.mark.live

MEMBERS = "training,security"  # the two exporters the demo writers feed
WRITERS = ("training-demo", "security-demo")
STARTED = {"prometheus", "alertmanager", "training", "security", *WRITERS}


def _stack(state: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runner", *args, "--state-dir", str(state)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, check=False)


def _started(state: Path) -> dict[str, psutil.Process]:
    """Every process the pid files name, as psutil handles (checked by start time)."""
    out = {}
    for pid_file in (state / "pids").glob("*.json"):
        record = json.loads(pid_file.read_text(encoding="utf-8"))
        proc = psutil.Process(record["pid"])
        assert abs(proc.create_time() - record["create_time"]) < 0.01
        out[record["name"]] = proc
    return out


def _assert_all_gone(procs: dict[str, psutil.Process]) -> None:
    _gone, alive = psutil.wait_procs(list(procs.values()), timeout=15)
    left = [f"{p.pid} {p.cmdline()}" for p in alive if p.is_running()
            and p.status() != psutil.STATUS_ZOMBIE]
    assert left == [], f"left running: {left}"


def test_up_lists_the_writers_counts_them_in_status_and_down_stops_them_all(
    tmp_path: Path,
) -> None:
    _require_binaries()
    state = tmp_path / "run"
    up = _stack(state, "up", "--members", MEMBERS)
    procs: dict[str, psutil.Process] = {}
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        procs = _started(state)
        assert set(procs) == STARTED
        for writer in WRITERS:
            assert any(line.startswith(writer) and " writes " in line
                       for line in up.stdout.splitlines()), up.stdout
        assert (state / "training").is_dir() and any((state / "training").glob("job-*.json"))
        assert (state / "security" / "access.log").stat().st_size > 0
        status = _stack(state, "status")
        assert status.returncode == 0, status.stderr
        assert "writers running 2/2" in status.stdout
    finally:
        down = _stack(state, "down")
    assert down.returncode == 0, down.stderr
    assert all(name in down.stdout for name in WRITERS), down.stdout
    _assert_all_gone(procs)
    assert "nothing was running" in _stack(state, "down").stdout


def test_run_prints_the_writers_in_its_status_line_and_ctrl_c_stops_everything(
    tmp_path: Path,
) -> None:
    _require_binaries()
    state = tmp_path / "run"
    run = subprocess.Popen(
        [sys.executable, "-m", "runner", "run", "--state-dir", str(state),
         "--members", MEMBERS, "--status-every", "1"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        start_new_session=True,
    )
    procs: dict[str, psutil.Process] = {}
    lines: list[str] = []
    try:
        assert run.stdout is not None
        os.set_blocking(run.stdout.fileno(), False)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not any("writers running 2/2" in line
                                                       for line in lines):
            chunk = run.stdout.readline()
            if chunk:
                lines.append(chunk)
            elif run.poll() is not None:
                break
            else:
                time.sleep(0.1)
        assert any("writers running 2/2" in line for line in lines), "".join(lines)
        assert any(line.startswith("training-demo") for line in lines)
        procs = _started(state)
        assert set(procs) == STARTED  # what must be gone after Ctrl-C
    finally:
        run.send_signal(signal.SIGINT)
        try:
            run.wait(timeout=40)
        except subprocess.TimeoutExpired:
            run.kill()
            run.wait(timeout=10)
    assert run.returncode == 0
    _assert_all_gone(procs)
