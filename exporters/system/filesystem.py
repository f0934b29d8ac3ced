"""Filesystem space and inodes per mount point, safe against hung (network) mounts.

``statvfs`` on a dead NFS server blocks in the kernel, possibly forever, and no Python
code can interrupt it. So each call runs on a small pool of daemon threads with a
per-mount timeout; a call that has not returned marks its mount point *stuck*, and
the mount is skipped (reported through ``filesystem_stuck`` and
``filesystem_device_error``) until that very call returns. A hung mount therefore costs
one parked thread, never a hung scrape or a growing pile of threads.
"""

from __future__ import annotations

import asyncio
import os
import queue
import re
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import Metric

from exporters.spec import Collector, ScrapeContext
from exporters.system import parse
from exporters.system.collectors import gauge, read_text
from exporters.system.metrics import FAMILIES

# node_exporter 1.5's defaults, plus network filesystems: those are the ones that hang.
DEFAULT_MOUNT_POINTS_EXCLUDE = (
    r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"
)
DEFAULT_FS_TYPES_EXCLUDE = (
    r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs"
    r"|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs"
    r"|squashfs|sysfs|tracefs"
    r"|nfs4?|cifs|smb3|smbfs|ceph|glusterfs|lustre|afs|fuse\.sshfs|fuse\.s3fs)$"
)

StatVfs = Callable[[str], Any]  # os.statvfs or a stand-in returning the same attributes


@dataclass(frozen=True)
class FilesystemConfig:
    mount_points_exclude: re.Pattern[str] | None
    fs_types_exclude: re.Pattern[str] | None
    stat_timeout_s: float = 1.0
    max_mounts: int = 100


class DaemonPool:
    """Daemon threads running blocking calls; they never delay interpreter exit.

    ``concurrent.futures.ThreadPoolExecutor`` joins its threads at exit, so a thread
    stuck in ``statvfs`` would hang shutdown. Threads are started on demand, up to
    ``max_workers`` that the caller still waits for: a call it has given up on
    (:meth:`give_up`, a hung mount) keeps its thread but no longer counts, so an NFS
    server down behind many mounts cannot starve the healthy ones. ``max_threads``
    caps the threads in all; beyond it, calls wait in the queue (and time out).
    """

    def __init__(self, max_workers: int = 8, name: str = "statvfs", max_threads: int = 64) -> None:
        self._max = max_workers
        self._max_threads = max(max_threads, max_workers)
        self._name = name
        self._tasks: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...], Future[Any]]]
        self._tasks = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._workers = 0
        self._idle = 0  # threads started and not running a call
        self._pending = 0  # calls queued, not yet taken by a thread
        self._running: set[Future[Any]] = set()
        self._given_up: set[Future[Any]] = set()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            self._pending += 1
            self._tasks.put((fn, args, future))
            live = self._workers - len(self._given_up)
            if (
                self._pending > self._idle
                and live < self._max
                and self._workers < self._max_threads
            ):
                self._workers += 1
                self._idle += 1
                threading.Thread(
                    target=self._work, name=f"{self._name}-{self._workers}", daemon=True
                ).start()
        return future

    def give_up(self, future: Future[Any]) -> None:
        """Stop counting a running call against ``max_workers`` (its caller stopped waiting)."""
        with self._lock:
            if future in self._running:
                self._given_up.add(future)

    def threads(self) -> tuple[int, int]:
        """(threads started, threads held by calls given up on), for tests and diagnostics."""
        with self._lock:
            return self._workers, len(self._given_up)

    def _work(self) -> None:
        while True:
            fn, args, future = self._tasks.get()
            with self._lock:
                self._idle -= 1
                self._pending -= 1
                self._running.add(future)
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args))
                except BaseException as err:  # handed to the waiter, who decides
                    future.set_exception(err)
            with self._lock:
                self._running.discard(future)
                self._given_up.discard(future)
                self._idle += 1


# In exposition order.
FILESYSTEM_METRICS: tuple[str, ...] = (
    "filesystem_size_bytes",
    "filesystem_free_bytes",
    "filesystem_avail_bytes",
    "filesystem_files",
    "filesystem_files_free",
    "filesystem_readonly",
    "filesystem_device_error",
    "filesystem_stuck",
)


class FilesystemCollector(Collector):
    """Size, free and available bytes and inodes per mount point.

    promfleet_system_filesystem_avail_bytes{device="/dev/vda",fstype="ext4",mountpoint="/"} 1.2e+10
    promfleet_system_filesystem_files_free{device="/dev/vda",fstype="ext4",mountpoint="/"} 3.1e+06
    promfleet_system_filesystem_device_error{device="srv:/x",fstype="nfs",mountpoint="/x"} 1.0
    promfleet_system_filesystem_stuck{device="srv:/x",fstype="nfs",mountpoint="/x"} 1.0
    """

    name = "filesystem"

    def __init__(
        self,
        config: FilesystemConfig,
        proc_root: str = "/proc",
        statvfs: StatVfs = os.statvfs,
        pool: DaemonPool | None = None,
    ) -> None:
        self.config = config
        self.proc_root = proc_root
        self.statvfs = statvfs
        self.pool = pool or DaemonPool()
        self._stuck: dict[str, Future[Any]] = {}  # mount point -> its call still running
        self._lock = threading.Lock()
        self._mounts_text: str | None = None
        self._mounts: tuple[list[parse.Mount], int] = ([], 0)

    def mounts(self) -> tuple[list[parse.Mount], int]:
        """The mount points to report, and how many the cap dropped.

        The answer is reused while the mount table's text is unchanged (mounts change
        rarely; parsing and matching the table on every scrape would redo the same work).
        """
        text = read_text(f"{self.proc_root}/self/mounts")
        if text != self._mounts_text:
            self._mounts = select_mounts(parse.parse_mounts(text), self.config)
            self._mounts_text = text
        return list(self._mounts[0]), self._mounts[1]

    def stuck_mount_points(self) -> list[str]:
        with self._lock:
            return sorted(p for p, f in self._stuck.items() if not f.done())

    def _stat_each(self, calls: list[tuple[str, Future[Any]]]) -> None:
        """statvfs every mount in turn on one worker; a cancelled one is skipped."""
        for point, future in calls:
            if not future.set_running_or_notify_cancel():
                continue  # handed to a call of its own (see collect)
            try:
                future.set_result(self.statvfs(point))
            except BaseException as err:  # handed to the reader: device_error
                future.set_exception(err)

    async def collect(self, ctx: ScrapeContext) -> Iterable[Metric]:
        # Runs on the event loop: the mount table is procfs (never blocks). Every
        # statvfs of this scrape runs in turn on one pooled thread (one hop, not one
        # per mount), awaited with the per-mount timeout. If that runs out, the call
        # in progress marks its mount stuck, and the mounts it had not reached get a
        # call and a timeout of their own, so one hung mount never hides the others.
        mounts, dropped = self.mounts()
        calls: dict[str, Future[Any]] = {}
        stuck_now: set[str] = set()
        with self._lock:
            for point in [p for p, f in self._stuck.items() if f.done()]:
                del self._stuck[point]  # its call returned: try the mount again
            for mount in mounts:
                if mount.mountpoint in self._stuck:
                    stuck_now.add(mount.mountpoint)
                else:
                    calls[mount.mountpoint] = Future()
        if calls:
            timeout = min(self.config.stat_timeout_s, ctx.remaining())
            batch = self.pool.submit(self._stat_each, list(calls.items()))
            await _wait([batch], timeout)
            late = [point for point, future in calls.items() if not future.done()]
            retried = []
            for point in late:
                if calls[point].cancel():  # not reached by the batch
                    calls[point] = self.pool.submit(self.statvfs, point)
                    retried.append(calls[point])
            if late:
                self.pool.give_up(batch)  # its thread is held by a hung mount
            if retried:
                timeout = min(self.config.stat_timeout_s, ctx.remaining())
                await _wait([*retried, *(calls[p] for p in late)], timeout)
            not_done = {f for f in calls.values() if not f.done()}
            if not_done:
                with self._lock:
                    for point, future in calls.items():
                        if future not in not_done:
                            continue
                        if future.cancel():
                            continue  # still queued behind hung calls: late, not hung
                        self.pool.give_up(future)
                        self._stuck[point] = future
                        stuck_now.add(point)

        builders = [FAMILIES[key].start() for key in FILESYSTEM_METRICS]
        size, free, avail, files, files_free, readonly, device_error, stuck = builders
        for mount in mounts:
            labels = (mount.mountpoint, mount.device, mount.fstype)
            point = mount.mountpoint
            result: Any = None
            if point not in stuck_now:
                future = calls[point]
                if not future.cancelled() and future.exception() is None:
                    result = future.result()
            stuck.add(labels, 1.0 if point in stuck_now else 0.0)
            device_error.add(labels, 0.0 if result is not None else 1.0)
            readonly.add(labels, 1.0 if mount.readonly else 0.0)
            if result is None:
                continue
            size.add(labels, result.f_blocks * result.f_frsize)
            free.add(labels, result.f_bfree * result.f_frsize)
            avail.add(labels, result.f_bavail * result.f_frsize)
            files.add(labels, result.f_files)
            files_free.add(labels, result.f_ffree)
        return [*(b.family for b in builders), gauge("filesystem_mounts_dropped", dropped)]


async def _wait(futures: list[Future[Any]], timeout: float) -> None:
    """Wait for thread-pool futures until all are done or ``timeout`` passes."""
    waiting = [asyncio.wrap_future(f) for f in futures]
    await asyncio.wait(waiting, timeout=timeout)
    for wrapper in waiting:
        # Detach from calls still running, so their late result is dropped quietly
        # even if this event loop is gone by then.
        if not wrapper.done():
            wrapper.cancel()


def select_mounts(
    mounts: Iterable[parse.Mount], config: FilesystemConfig
) -> tuple[list[parse.Mount], int]:
    """Mounts not excluded by mount point or fstype, at most ``max_mounts``; and the drop count."""
    kept: list[parse.Mount] = []
    dropped = 0
    for mount in mounts:
        if config.mount_points_exclude is not None and config.mount_points_exclude.search(
            mount.mountpoint
        ):
            continue
        if config.fs_types_exclude is not None and config.fs_types_exclude.search(mount.fstype):
            continue
        if len(kept) >= config.max_mounts:
            dropped += 1
            continue
        kept.append(mount)
    return kept, dropped
