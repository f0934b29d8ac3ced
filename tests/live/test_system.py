"""A host condition reaches the ops receiver through the real stack, and a quiet host does not.

The system exporter reads a procfs copy the test owns (``path.procfs``): this host's own
``stat``, ``meminfo``, ``vmstat``, ``loadavg``, ``diskstats``, ``net/dev`` and
``sys/fs/file-nr``, taken when the test starts. While nothing changes, no OOM kill is
reported; then the kernel's ``oom_kill`` count rises by one, as it does when the OOM
killer ends a process, and SystemOOMKill reaches the ops warning receiver for that host.
(Killing a real process by exhausting this machine's memory is not a thing a test may do.)
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator.model import Catalogue
from runner import Member
from tests.live.conftest import LiveStack, StartLiveStack, expected_receiver

pytestmark = pytest.mark.live

PAGE_TIMEOUT_S = 90.0
FILES = ("stat", "meminfo", "vmstat", "loadavg", "diskstats", "net/dev", "sys/fs/file-nr")


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def with_oom_kills(vmstat: str, count: int) -> str:
    """``vmstat`` with its ``oom_kill`` line set to ``count`` (added where the kernel has
    none)."""
    if re.search(r"^oom_kill \d+$", vmstat, flags=re.MULTILINE):
        return re.sub(r"^oom_kill \d+$", f"oom_kill {count}", vmstat, flags=re.MULTILINE)
    return vmstat.rstrip("\n") + f"\noom_kill {count}\n"


@pytest.fixture(scope="module")
def proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("proc")
    for name in FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f"/proc/{name}", root / name)
    vmstat = root / "vmstat"
    write_atomically(vmstat, with_oom_kills(vmstat.read_text(), 3))
    yield root


@pytest.fixture(scope="module")
def stack(live_stack: StartLiveStack, proc: Path) -> LiveStack:
    return live_stack(members=[
        Member("system", env={"PROMFLEET_SYSTEM_PATH_PROCFS": str(proc)}),
    ])


def test_an_oom_kill_on_a_host_pages_ops_and_a_quiet_host_does_not(
    stack: LiveStack, proc: Path, catalogue: Catalogue
) -> None:
    receiver = expected_receiver(catalogue, "ops", "warning")
    stack.wait_for_targets_up()
    # Some samples of the unchanged count first: increase() needs them, and the quiet
    # host must stay quiet (an OOM count already above zero is history, not a kill now).
    stack.wait_for_data('promfleet_system_oom_kills_total == 3', timeout=30.0)
    time.sleep(5.0)
    assert not stack.query('ALERTS{alertname="SystemOOMKill"}')
    assert not stack.webhook.find(lambda d: d.name == "SystemOOMKill")

    vmstat = proc / "vmstat"
    write_atomically(vmstat, with_oom_kills(vmstat.read_text(), 4))
    page = stack.wait_for_alert("SystemOOMKill", receiver, timeout=PAGE_TIMEOUT_S,
                                severity="warning", job="system")
    assert page.labels["team"] == "ops"
    assert page.annotations["runbook_url"].endswith("/SystemOOMKill.md")


def test_with_oom_kills_sets_or_adds_the_kernel_line() -> None:
    assert with_oom_kills("pgfault 1\noom_kill 2\npgmajfault 3\n", 5) == (
        "pgfault 1\noom_kill 5\npgmajfault 3\n"
    )
    assert with_oom_kills("pgfault 1\n", 1) == "pgfault 1\noom_kill 1\n"
