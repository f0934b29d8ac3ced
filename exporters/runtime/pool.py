"""A bounded worker-thread pool for blocking collectors that survives stuck calls.

A call stuck past its scrape deadline (a hung NFS ``statfs``) is *abandoned*: it keeps
its thread, but no longer counts against ``max_workers``, so later scrapes get a fresh
thread instead of queueing behind it. Abandoned threads are capped by ``max_threads``;
past that, new calls wait in the queue. Threads are daemons, so a stuck one never
blocks process exit.
"""

from __future__ import annotations

import functools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

T = TypeVar("T")

_Item = tuple["Future[Any]", Callable[..., Any], tuple[Any, ...]]


class WorkerPool(Executor):
    def __init__(
        self, max_workers: int = 8, max_threads: int = 64, name: str = "collector"
    ) -> None:
        self.max_workers = max_workers
        self.max_threads = max(max_threads, max_workers)
        self._name = name
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0
        self._starting = 0
        self._pending = 0
        self._running: dict[Future[Any], bool] = {}  # future -> abandoned
        self._abandoned = 0
        self._shutdown = False

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        call: Callable[..., Any] = functools.partial(fn, **kwargs) if kwargs else fn
        future: Future[T] = Future()
        with self._lock:
            if self._shutdown:
                raise RuntimeError("worker pool is shut down")
            self._pending += 1
            self._queue.put((future, call, args))
            live = self._threads - self._abandoned
            if (
                self._pending > self._idle + self._starting
                and live < self.max_workers
                and self._threads < self.max_threads
            ):
                self._threads += 1
                self._starting += 1
                threading.Thread(
                    target=self._work, name=f"{self._name}-{self._threads}", daemon=True
                ).start()
        return future

    def abandon(self, future: Future[Any]) -> None:
        """Stop counting a call past its deadline against ``max_workers``."""
        with self._lock:
            if self._running.get(future) is False:
                self._running[future] = True
                self._abandoned += 1

    def _work(self) -> None:
        with self._lock:
            self._starting -= 1
        while True:
            with self._lock:
                self._idle += 1
            item = self._queue.get()
            with self._lock:
                self._idle -= 1
                if item is None:
                    self._threads -= 1
                    return
                self._pending -= 1
                self._running[item[0]] = False
            future, fn, args = item
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args)
                except BaseException as err:  # the executor's job: hand it to the caller
                    future.set_exception(err)
                else:
                    future.set_result(result)
            with self._lock:
                if self._running.pop(future, False):
                    self._abandoned -= 1

    def busy(self) -> tuple[int, int]:
        """(threads, abandoned) for diagnostics."""
        with self._lock:
            return self._threads, self._abandoned

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shutdown = True
            threads = self._threads
        for _ in range(threads):
            self._queue.put(None)
