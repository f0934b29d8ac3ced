"""One scrape: run every collector concurrently under the deadline and report each outcome.

A collector that raises or misses the deadline gets ``success 0`` and its duration; the
others are served. A blocking call stuck past its deadline is abandoned to its thread
(see :mod:`exporters.runtime.pool`); until it returns, that collector fails at once
instead of piling another stuck thread on top.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

from prometheus_client.core import Metric

from exporters.families import FamilyTemplate
from exporters.runtime.pool import WorkerPool
from exporters.runtime.process import ProcessMetrics
from exporters.runtime.selfmetrics import scrape_metrics
from exporters.spec import Collector, ScrapeContext

T = TypeVar("T")

_log = logging.getLogger("promfleet.runtime")


class _Tracker(Executor):
    """Submits to the shared pool and remembers one collector run's thread calls."""

    __slots__ = ("futures", "pool")

    def __init__(self, pool: WorkerPool) -> None:
        self.pool = pool
        self.futures: list[Future[Any]] = []

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future = self.pool.submit(fn, *args, **kwargs)
        self.futures.append(future)
        return future


class _Families:
    """The ``collect()`` that prometheus-client's exposition functions iterate."""

    __slots__ = ("families",)

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


class _Waiting:
    """Runs a scrape's collector coroutines and waits for all of them or the deadline.

    Each run notes when it starts and ends and counts itself down; the last one to
    end, or the deadline's timer, wakes the scrape. Per collector that is one task
    step, where asyncio.wait's done callbacks and a callback to time each run cost a
    third more. A run's own start matters: collectors that read procfs run on the
    event loop one after another, and timing each from the scrape's start would
    charge every collector with the ones that ran before it.
    """

    __slots__ = ("_loop", "_pending", "_waiter", "ends", "starts")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._pending = 0
        self._waiter: asyncio.Future[None] = loop.create_future()
        self.starts: dict[asyncio.Task[Any], float] = {}
        self.ends: dict[asyncio.Task[Any], float] = {}

    def start(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """A task running ``coro``, counted until it ends."""
        self._pending += 1
        return self._loop.create_task(self._run(coro))

    async def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        task = asyncio.current_task()
        if task is not None:
            self.starts[task] = time.monotonic()
        try:
            return await coro
        finally:
            if task is not None:
                self.ends[task] = time.monotonic()
            self._pending -= 1
            if self._pending == 0:
                self._release()

    def _release(self) -> None:
        if not self._waiter.done():
            self._waiter.set_result(None)

    async def wait(self, timeout_s: float) -> None:
        """Until every started run has ended, or ``timeout_s`` has passed."""
        if self._pending == 0:
            return
        timer = self._loop.call_later(timeout_s, self._release)
        try:
            await self._waiter
        finally:
            timer.cancel()


class Scraper:
    """Runs collectors for a scrape and adds the runtime's own families."""

    def __init__(self, namespace: str, pool: WorkerPool, multi_target: bool = False) -> None:
        self.namespace = namespace
        self.pool = pool
        self.multi_target = multi_target
        success_spec, duration_spec = scrape_metrics(namespace, multi_target)
        self._success = FamilyTemplate(success_spec)
        self._duration = FamilyTemplate(duration_spec)
        self._process = ProcessMetrics()
        self._failing: dict[tuple[str, str], str] = {}  # (collector, target) -> error class
        self._stuck: dict[tuple[str, str], list[Future[Any]]] = {}

    def _labels(self, collector: Collector) -> tuple[str, ...]:
        name = collector.name or type(collector).__name__
        return (name, collector.target) if self.multi_target else (name,)

    def _report(self, key: tuple[str, str], error: str | None) -> None:
        """Log a failure once per episode (not every scrape), and the recovery that ends it."""
        fields: dict[str, str] = {"collector": key[0]}
        if key[1]:
            fields["target"] = key[1]
        if error is None:
            if self._failing.pop(key, None) is not None:
                _log.info("collector recovered", extra={"fields": fields})
            return
        if key not in self._failing:
            self._failing[key] = error.split(":", 1)[0]
            _log.error("collector failed", extra={"fields": {**fields, "error": error}})

    async def scrape(
        self,
        collectors: Sequence[Collector],
        timeout_s: float,
        params: Mapping[str, str] | None = None,
        process_metrics: bool = True,
    ) -> _Families:
        loop = asyncio.get_running_loop()
        start = time.monotonic()
        deadline = start + timeout_s
        waiting = _Waiting(loop)

        runs: list[tuple[Collector, tuple[str, str], asyncio.Task[Any] | None, _Tracker | None]]
        runs = []
        for collector in collectors:
            key = (collector.name or type(collector).__name__, collector.target)
            stuck = self._stuck.get(key)
            if stuck is not None:
                if any(not f.done() for f in stuck):
                    runs.append((collector, key, None, None))
                    continue
                del self._stuck[key]
            new_tracker = _Tracker(self.pool)
            ctx = ScrapeContext(deadline, params, loop, new_tracker)
            new_task: asyncio.Task[Any] = waiting.start(collector.collect(ctx))
            runs.append((collector, key, new_task, new_tracker))

        await waiting.wait(max(0.0, deadline - time.monotonic()))
        starts, ends = waiting.starts, waiting.ends

        success = self._success.start()
        duration = self._duration.start()
        by_name: dict[str, Metric] = {}
        out: list[Metric] = []
        now = time.monotonic()
        for collector, key, task, tracker in runs:
            labels = self._labels(collector)
            error: str | None = None
            if task is None:
                error = "StillRunning: the previous run is stuck past its deadline"
                elapsed = 0.0
            elif not task.done():
                task.cancel()
                error = f"DeadlineExceeded: no result within {timeout_s:.3g}s"
                elapsed = now - starts.get(task, now)
                if tracker is not None:
                    pending = [f for f in tracker.futures if not f.done()]
                    for future in pending:
                        self.pool.abandon(future)
                    if pending:
                        self._stuck[key] = pending
            else:
                elapsed = ends.get(task, now) - starts.get(task, start)
                exc = task.exception() if not task.cancelled() else asyncio.CancelledError()
                if exc is not None:
                    error = f"{type(exc).__name__}: {exc}"
                else:
                    for family in task.result():
                        seen = by_name.get(family.name)
                        if seen is None:
                            by_name[family.name] = family
                            out.append(family)
                        elif seen.type == family.type:
                            seen.samples.extend(family.samples)  # same family, several targets
                        else:
                            error = f"TypeConflict: {family.name} is {seen.type} elsewhere"
            self._report(key, error)
            success.add(labels, 0.0 if error else 1.0)
            duration.add(labels, elapsed)
        out.append(success.family)
        out.append(duration.family)
        if process_metrics:
            out.extend(self._process.collect())
        return _Families(out)
