"""Opt-in process groups against real child processes with distinctive names."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporters.system import process_groups
from exporters.system.process_groups import ProcessGroupCollector, parse_process_groups
from tests.helpers import sample_value
from tests.system.support import scrape_text


@pytest.fixture
def named_sleeper(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A ``sleep`` started through a link with a unique name, so its comm is that name."""
    name = f"pfzz-{secrets.token_hex(4)}"
    link = tmp_path / name
    link.symlink_to("/bin/sleep")
    proc = subprocess.Popen([str(link), "30"])
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # exec has happened once comm shows the name
            if Path(f"/proc/{proc.pid}/comm").read_text().strip() == name:
                break
            time.sleep(0.01)
        yield name, proc
    finally:
        proc.kill()
        proc.wait(timeout=5)


@pytest.fixture
def marked_python() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    marker = f"pfzz-marker-{secrets.token_hex(4)}"
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)", marker],
    )
    try:
        yield marker, proc
    finally:
        proc.kill()
        proc.wait(timeout=5)


def test_a_child_selected_by_name_appears_in_its_group_and_nothing_else_joins_it(
    named_sleeper: tuple[str, subprocess.Popen[bytes]],
) -> None:
    name, proc = named_sleeper
    groups = parse_process_groups(
        f"[{{name: sleepers, comm: '^{name}$'}}, {{name: nobody, comm: '^pfzz-none-xx$'}}]"
    )
    text = scrape_text([ProcessGroupCollector(groups)])
    group = {"group": "sleepers"}
    assert sample_value(text, "promfleet_system_process_group_members", group) == 1
    rss = sample_value(text, "promfleet_system_process_resident_memory_bytes", group)
    status = Path(f"/proc/{proc.pid}/status").read_text()
    vm_rss = next(
        int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:")
    )
    assert rss is not None and rss > 0
    # Same process and unit (bytes, not pages); a starting process still grows a little.
    assert 0.5 * vm_rss <= rss <= 2 * vm_rss
    assert sample_value(text, "promfleet_system_process_threads", group) == 1
    fds = sample_value(text, "promfleet_system_process_open_fds", group)
    assert fds == len(os.listdir(f"/proc/{proc.pid}/fd"))
    start = sample_value(text, "promfleet_system_process_start_time_seconds", group)
    assert start is not None and abs(start - time.time()) < 120
    user = sample_value(
        text, "promfleet_system_process_cpu_seconds_total", {**group, "mode": "user"}
    )
    assert user is not None and user >= 0
    # A group nothing matches has a zero count and no resource series at all.
    assert sample_value(text, "promfleet_system_process_group_members", {"group": "nobody"}) == 0
    assert 'group="nobody"' not in text.replace(
        'promfleet_system_process_group_members{group="nobody"}', ""
    )
    assert f"{proc.pid}" not in text  # a pid is never a label value


def test_a_command_line_pattern_selects_a_process_whose_name_does_not_match(
    marked_python: tuple[str, subprocess.Popen[bytes]],
) -> None:
    marker, _ = marked_python
    groups = parse_process_groups(
        [{"name": "by_name", "comm": marker[:15]}, {"name": "by_cmdline", "cmdline": marker}]
    )
    text = scrape_text([ProcessGroupCollector(groups)])
    assert (
        sample_value(text, "promfleet_system_process_group_members", {"group": "by_cmdline"}) == 1
    )
    assert sample_value(text, "promfleet_system_process_group_members", {"group": "by_name"}) == 0


def test_the_per_group_cap_sums_at_most_that_many_processes_but_counts_all(
    tmp_path: Path,
) -> None:
    name = f"pfzz-{secrets.token_hex(4)}"
    link = tmp_path / name
    link.symlink_to("/bin/sleep")
    procs = [subprocess.Popen([str(link), "30"]) for _ in range(3)]
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not all(
            Path(f"/proc/{p.pid}/comm").read_text().strip() == name for p in procs
        ):
            time.sleep(0.01)
        groups = parse_process_groups([{"name": "many", "comm": f"^{name}$"}])
        text = scrape_text([ProcessGroupCollector(groups, max_per_group=2)])
    finally:
        for p in procs:
            p.kill()
            p.wait(timeout=5)
    assert sample_value(text, "promfleet_system_process_group_members", {"group": "many"}) == 3
    assert sample_value(text, "promfleet_system_process_threads", {"group": "many"}) == 2


def test_a_process_whose_files_are_hidden_is_skipped_and_the_others_are_still_summed(
    named_sleeper: tuple[str, subprocess.Popen[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # procfs with hidepid=1 lists every pid but refuses other users' files; root reads
    # them anyway, so the refusal is played by the reader for one process.
    name, _ = named_sleeper
    hidden = str(os.getppid())
    real_read = process_groups.read_text

    def read_text(path: str) -> str:
        if path.startswith(f"/proc/{hidden}/"):
            raise PermissionError(13, "Permission denied", path)
        return real_read(path)

    monkeypatch.setattr(process_groups, "read_text", read_text)
    groups = parse_process_groups([{"name": "sleeper", "comm": f"^{name}$"}])
    text = scrape_text([ProcessGroupCollector(groups)])
    assert sample_value(text, "promfleet_system_process_group_members", {"group": "sleeper"}) == 1
    assert sample_value(text, "promfleet_system_process_threads", {"group": "sleeper"}) == 1


def test_the_example_config_declares_one_group_per_agent_that_the_exporter_accepts() -> None:
    from exporters import system
    from exporters.runtime.config import resolve
    from tests.helpers import REPO_ROOT

    example = REPO_ROOT / "exporters" / "system" / "example.yml"
    _, settings, _ = resolve(system.EXPORTER, [f"--config.file={example}"], {})
    collectors = system.build(settings)
    groups = next(c for c in collectors if isinstance(c, ProcessGroupCollector)).groups
    names = [g.name for g in groups]
    assert names and all(name.startswith("agent-") for name in names), names
    # The jobs dashboard's agent panels select group=~"agent-.*".
    from generator.catalogue.application.business import AGENT_GROUPS

    assert AGENT_GROUPS == 'group=~"agent-.*"'
