"""Mount selection, and a hung mount that must never hang a scrape."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from exporters.system import parse
from exporters.system.filesystem import (
    DEFAULT_FS_TYPES_EXCLUDE,
    DEFAULT_MOUNT_POINTS_EXCLUDE,
    FilesystemCollector,
    FilesystemConfig,
    select_mounts,
)
from tests.helpers import sample_value
from tests.system.support import FIXTURE_PROC, FakeStatVfs, scrape_text

DEFAULTS = FilesystemConfig(
    re.compile(DEFAULT_MOUNT_POINTS_EXCLUDE), re.compile(DEFAULT_FS_TYPES_EXCLUDE)
)


def fixture_mounts() -> list[parse.Mount]:
    return parse.parse_mounts(Path(FIXTURE_PROC, "self/mounts").read_text())


def test_default_patterns_drop_pseudo_network_and_container_filesystems_of_a_fixture_table() -> (
    None
):
    kept, dropped = select_mounts(fixture_mounts(), DEFAULTS)
    assert [m.mountpoint for m in kept] == ["/", "/boot/efi", "/run", "/srv/my data", "/data"]
    assert dropped == 0


def test_an_empty_pattern_excludes_nothing() -> None:
    kept, _ = select_mounts(fixture_mounts(), FilesystemConfig(None, None))
    assert len(kept) == len(fixture_mounts())


def test_the_mount_cap_keeps_the_first_mounts_and_counts_the_rest() -> None:
    config = FilesystemConfig(
        DEFAULTS.mount_points_exclude, DEFAULTS.fs_types_exclude, max_mounts=2
    )
    collector = FilesystemCollector(config, FIXTURE_PROC, statvfs=FakeStatVfs())
    text = scrape_text([collector])
    assert sample_value(text, "promfleet_system_filesystem_mounts_dropped") == 3
    labels = {"mountpoint": "/boot/efi", "device": "/dev/vda15", "fstype": "vfat"}
    assert sample_value(text, "promfleet_system_filesystem_size_bytes", labels) is not None
    assert "/run" not in text


def test_the_real_mount_list_reports_every_mount_the_patterns_keep_and_no_other() -> None:
    mounts = parse.parse_mounts(Path("/proc/self/mounts").read_text())
    expected = {
        m.mountpoint
        for m in mounts
        if not DEFAULTS.mount_points_exclude.search(m.mountpoint)  # type: ignore[union-attr]
        and not DEFAULTS.fs_types_exclude.search(m.fstype)  # type: ignore[union-attr]
    }
    text = scrape_text([FilesystemCollector(DEFAULTS)])
    reported = {
        line.split('mountpoint="', 1)[1].split('"', 1)[0]
        for line in text.splitlines()
        if line.startswith("promfleet_system_filesystem_device_error{")
    }
    assert reported == expected
    assert not any(p == "/proc" or p.startswith(("/sys", "/dev")) for p in reported)
    if "/" in expected:
        root = next(m for m in mounts if m.mountpoint == "/" and m.mountpoint in expected)
        labels = {"mountpoint": "/", "device": root.device, "fstype": root.fstype}
        size = sample_value(text, "promfleet_system_filesystem_size_bytes", labels)
        assert size is not None and size > 0


class BlockingStatVfs(FakeStatVfs):
    """Blocks calls on the mount points ``hangs`` picks until ``release`` (a dead NFS server)."""

    def __init__(self, hangs: Callable[[str], bool]) -> None:
        super().__init__()
        self.hangs = hangs
        self.release = threading.Event()

    def __call__(self, path: str) -> Any:
        result = super().__call__(path)
        if self.hangs(path):
            self.release.wait(timeout=30)  # bounded, so a failing test never leaks forever
        return result


def test_a_hung_mount_is_reported_stuck_skipped_until_its_call_returns_then_measured_again() -> (
    None
):
    statvfs = BlockingStatVfs(lambda path: path == "/data")
    config = FilesystemConfig(
        DEFAULTS.mount_points_exclude, DEFAULTS.fs_types_exclude, stat_timeout_s=0.2
    )
    collector = FilesystemCollector(config, FIXTURE_PROC, statvfs=statvfs)
    hung = {"mountpoint": "/data", "device": "/dev/vdd", "fstype": "xfs"}
    root = {"mountpoint": "/", "device": "/dev/vda1", "fstype": "ext4"}
    try:
        first = scrape_text([collector])
        assert sample_value(first, "promfleet_system_filesystem_stuck", hung) == 1
        assert sample_value(first, "promfleet_system_filesystem_device_error", hung) == 1
        assert sample_value(first, "promfleet_system_filesystem_size_bytes", hung) is None
        # The disk alerts keep a failing mount's last figures only while it is writable.
        assert sample_value(first, "promfleet_system_filesystem_readonly", hung) == 0
        assert sample_value(first, "promfleet_system_filesystem_size_bytes", root) is not None

        second = scrape_text([collector])
        assert sample_value(second, "promfleet_system_filesystem_stuck", hung) == 1
        assert statvfs.calls["/data"] == 1, "a stuck mount must not get a second call"
        assert statvfs.calls["/"] == 2
        assert collector.stuck_mount_points() == ["/data"]
    finally:
        statvfs.release.set()

    for _ in range(100):  # the released call finishes on its worker thread
        if not collector.stuck_mount_points():
            break
        threading.Event().wait(0.02)
    third = scrape_text([collector])
    assert sample_value(third, "promfleet_system_filesystem_stuck", hung) == 0
    assert sample_value(third, "promfleet_system_filesystem_size_bytes", hung) == 4096 * 1000
    assert statvfs.calls["/data"] == 2


def test_a_failing_statvfs_sets_device_error_and_leaves_out_the_sizes() -> None:
    collector = FilesystemCollector(DEFAULTS, FIXTURE_PROC, statvfs=FakeStatVfs(failing={"/run"}))
    text = scrape_text([collector])
    labels = {"mountpoint": "/run", "device": "tmpfs", "fstype": "tmpfs"}
    assert sample_value(text, "promfleet_system_filesystem_device_error", labels) == 1
    assert sample_value(text, "promfleet_system_filesystem_stuck", labels) == 0
    assert sample_value(text, "promfleet_system_filesystem_avail_bytes", labels) is None
    # Still published: the disk alerts read it beside the error (see catalogue.system).
    assert sample_value(text, "promfleet_system_filesystem_readonly", labels) == 0


def test_a_hung_first_mount_leaves_the_mounts_after_it_measured_in_the_same_scrape() -> None:
    statvfs = BlockingStatVfs(lambda path: path == "/")
    config = FilesystemConfig(
        DEFAULTS.mount_points_exclude, DEFAULTS.fs_types_exclude, stat_timeout_s=0.2
    )
    collector = FilesystemCollector(config, FIXTURE_PROC, statvfs=statvfs)
    root = {"mountpoint": "/", "device": "/dev/vda1", "fstype": "ext4"}
    data = {"mountpoint": "/data", "device": "/dev/vdd", "fstype": "xfs"}
    try:
        first = scrape_text([collector])
        assert sample_value(first, "promfleet_system_filesystem_stuck", root) == 1
        assert sample_value(first, "promfleet_system_filesystem_size_bytes", root) is None
        assert sample_value(first, "promfleet_system_filesystem_stuck", data) == 0
        assert sample_value(first, "promfleet_system_filesystem_size_bytes", data) == 4096 * 1000
        assert statvfs.calls == {"/": 1, "/boot/efi": 1, "/run": 1, "/srv/my data": 1, "/data": 1}

        second = scrape_text([collector])
        assert sample_value(second, "promfleet_system_filesystem_stuck", root) == 1
        assert sample_value(second, "promfleet_system_filesystem_size_bytes", data) is not None
        assert statvfs.calls["/"] == 1 and statvfs.calls["/data"] == 2
    finally:
        statvfs.release.set()


def test_a_changed_mount_table_is_read_afresh(tmp_path: Path) -> None:
    (tmp_path / "self").mkdir()
    mounts = tmp_path / "self" / "mounts"
    mounts.write_text("/dev/vda1 / ext4 rw 0 0\n")
    collector = FilesystemCollector(DEFAULTS, str(tmp_path), statvfs=FakeStatVfs())
    first = scrape_text([collector])
    assert 'mountpoint="/data"' not in first
    mounts.write_text("/dev/vda1 / ext4 rw 0 0\n/dev/vdb /data xfs ro 0 0\n")
    second = scrape_text([collector])
    labels = {"mountpoint": "/data", "device": "/dev/vdb", "fstype": "xfs"}
    assert sample_value(second, "promfleet_system_filesystem_readonly", labels) == 1
    assert sample_value(second, "promfleet_system_filesystem_size_bytes", labels) == 4096 * 1000


def test_more_hung_mounts_than_workers_never_starve_a_healthy_mount(tmp_path: Path) -> None:
    # Ten mounts of one dead server (more than the pool's 8 workers), then the root.
    (tmp_path / "self").mkdir()
    table = "".join(f"srv:/export/{i} /nfs/{i} ext4 rw 0 0\n" for i in range(10))
    (tmp_path / "self" / "mounts").write_text(table + "/dev/vda1 / ext4 rw 0 0\n")
    statvfs = BlockingStatVfs(lambda path: path.startswith("/nfs/"))
    config = FilesystemConfig(None, None, stat_timeout_s=0.1)
    collector = FilesystemCollector(config, str(tmp_path), statvfs=statvfs)
    root = {"mountpoint": "/", "device": "/dev/vda1", "fstype": "ext4"}
    try:
        texts = [scrape_text([collector]) for _ in range(3)]
        # The root may wait one scrape behind the hung calls, never longer.
        for text in texts[1:]:
            assert sample_value(text, "promfleet_system_filesystem_stuck", root) == 0
            assert sample_value(text, "promfleet_system_filesystem_size_bytes", root) == 4096000
        assert collector.stuck_mount_points() == [f"/nfs/{i}" for i in range(10)]
        assert all(statvfs.calls[f"/nfs/{i}"] == 1 for i in range(10))
        threads, given_up = collector.pool.threads()
        assert given_up == 10 and threads <= 10 + 8
    finally:
        statvfs.release.set()
