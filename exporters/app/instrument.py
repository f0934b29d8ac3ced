"""The instrumentation a service holds: HTTP request recording and the signal helpers.

One :class:`Instrumentation` per process, built in ``main()``. Its helpers are context
managers that also decorate sync and async functions::

    instr = Instrumentation(registry=CollectorRegistry())
    with instr.job("nightly-sync"): ...
    @instr.workflow("checkout")
    async def checkout(...): ...
"""

from __future__ import annotations

import functools
import inspect
import math
import threading
import time
from bisect import bisect_left
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar, cast

from prometheus_client import REGISTRY, CollectorRegistry

from exporters.app.exposition import multiprocess_dir
from exporters.app.metrics import (
    DELIVERY_CHANNELS,
    EXTERNAL_OUTCOMES,
    INF,
    LOGIN_REASONS,
    MEMORY_OPERATIONS,
    OTHER,
    TOKEN_OPERATIONS,
    USER_OPERATIONS,
    AppMetrics,
    InstrumentationConfig,
)

F = TypeVar("F", bound=Callable[..., Any])

_METHODS = {m: m for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")}
_STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")


def status_class(code: int) -> str:
    """``404`` -> ``"4xx"``; anything outside 100..599 -> ``"other"``."""
    index = code // 100 - 1
    return _STATUS_CLASSES[index] if 0 <= index < 5 else OTHER


class _Tracked:
    """Base for helpers usable as ``with``, ``async with`` and as a decorator."""

    def _enter(self) -> None:
        raise NotImplementedError

    def _exit(self, failed: bool) -> None:
        raise NotImplementedError

    def __enter__(self) -> _Tracked:
        self._enter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._exit(exc_type is not None)

    async def __aenter__(self) -> _Tracked:
        self._enter()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._exit(exc_type is not None)

    def _fresh(self) -> _Tracked:
        raise NotImplementedError

    def __call__(self, fn: F) -> F:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                async with self._fresh():
                    return await fn(*args, **kwargs)

            return cast(F, async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self._fresh():
                return fn(*args, **kwargs)

        return cast(F, wrapper)


class _RunningStarts:
    """Start times of the runs in progress, per job, to publish the oldest one."""

    def __init__(self) -> None:
        self._starts: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def add(self, job: str, started: float) -> float:
        with self._lock:
            runs = self._starts.setdefault(job, [])
            runs.append(started)
            return min(runs)

    def remove(self, job: str, started: float) -> float:
        with self._lock:
            runs = self._starts.get(job, [])
            if started in runs:
                runs.remove(started)
            return min(runs) if runs else INF


class JobRun(_Tracked):
    """One run of a background job or agent: duration, outcome, in progress, last success."""

    def __init__(self, instr: Instrumentation, job: str) -> None:
        self._instr = instr
        self._job = job
        self._wall = 0.0
        self._t0 = 0.0

    def _fresh(self) -> JobRun:
        return JobRun(self._instr, self._job)

    def _enter(self) -> None:
        m = self._instr.metrics
        self._t0 = time.perf_counter()
        self._wall = time.time()
        m.job_running.labels(self._job).inc()
        m.job_oldest_start.labels(self._job).set(self._instr._starts.add(self._job, self._wall))

    def _exit(self, failed: bool) -> None:
        m = self._instr.metrics
        elapsed = time.perf_counter() - self._t0
        m.job_duration.labels(self._job).observe(elapsed)
        m.job_runs.labels(self._job, "failure" if failed else "success").inc()
        if not failed:
            m.job_last_success.labels(self._job).set(time.time())
        m.job_running.labels(self._job).dec()
        m.job_oldest_start.labels(self._job).set(self._instr._starts.remove(self._job, self._wall))


class WorkflowRun(_Tracked):
    """One business workflow: started on entry; completed (with its duration) or failed."""

    def __init__(self, instr: Instrumentation, workflow: str, tenant: str) -> None:
        self._instr = instr
        self._workflow = workflow
        self._tenant = tenant
        self._t0 = 0.0

    def _fresh(self) -> WorkflowRun:
        return WorkflowRun(self._instr, self._workflow, self._tenant)

    def _enter(self) -> None:
        self._t0 = time.perf_counter()
        self._instr.metrics.workflows_started.labels(self._workflow, self._tenant).inc()

    def _exit(self, failed: bool) -> None:
        if failed:
            self._instr.workflow_failed(self._workflow, self._tenant)
        else:
            self._instr.workflow_completed(
                self._workflow, time.perf_counter() - self._t0, self._tenant
            )


class Delivery(_Tracked):
    """One webhook or websocket delivery: a failure when the block raises."""

    def __init__(self, instr: Instrumentation, channel: str) -> None:
        self._instr = instr
        self._channel = channel

    def _fresh(self) -> Delivery:
        return self

    def _enter(self) -> None:
        return None

    def _exit(self, failed: bool) -> None:
        self._instr.delivery(self._channel, ok=not failed)


class MemoryOperation(_Tracked):
    """One operation on an agent memory tier: a failure when the block raises."""

    def __init__(self, instr: Instrumentation, operation: str, tier: str) -> None:
        self._instr = instr
        self._operation = operation
        self._tier = tier

    def _fresh(self) -> MemoryOperation:
        return self

    def _enter(self) -> None:
        return None

    def _exit(self, failed: bool) -> None:
        self._instr.memory_operation(self._operation, self._tier, success=not failed)


class Session(_Tracked):
    """An authenticated session, counted in ``active_sessions`` while open."""

    def __init__(self, instr: Instrumentation) -> None:
        self._instr = instr

    def _fresh(self) -> Session:
        return self

    def _enter(self) -> None:
        self._instr.metrics.active_sessions.inc()

    def _exit(self, failed: bool) -> None:
        self._instr.metrics.active_sessions.dec()


class Instrumentation:
    """The application metrics of one process and the helpers that feed them."""

    def __init__(
        self,
        config: InstrumentationConfig | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.config = config or InstrumentationConfig()
        self.registry = registry if registry is not None else REGISTRY
        self.metrics = AppMetrics(self.registry, self.config, fast_http=multiprocess_dir() is None)
        self.in_flight = self.metrics.http_in_flight
        stats = self.metrics.http_stats
        self._bounds = stats.bounds if stats is not None else ()
        self.metrics.start_time.set(time.time())
        self._starts = _RunningStarts()
        # (method, route, status, tenant) -> (requests child, duration child)
        self._http_children: dict[tuple[str, str, str, str], tuple[Any, Any]] = {}
        self._exception_children: dict[tuple[str, str], Any] = {}
        # Label values whose every outcome series exists (bounded by the label guards).
        self._jobs_seen: set[str] = set()
        self._workflows_seen: set[tuple[str, str]] = set()
        self._memory_seen: set[tuple[str, str]] = set()
        self._external_outcomes = frozenset(EXTERNAL_OUTCOMES)

    # HTTP -------------------------------------------------------------------------------

    def record_request(
        self, method: str, route: str, status: int, seconds: float, tenant: str = ""
    ) -> None:
        """Count one served request; the hot path of both middlewares.

        Call it from the event loop thread (where the middlewares run): in one process
        the request series are plain cells without locks (``httpstats``).
        """
        key = (
            method,
            route,
            _STATUS_CLASSES[status // 100 - 1] if 100 <= status < 600 else OTHER,
            tenant,
        )
        children = self._http_children.get(key)
        if children is None:
            children = self._http_child(key)
        if self._bounds:
            children[0][0] += 1
            durations = children[1]
            durations[bisect_left(self._bounds, seconds)] += 1
            durations[-1] += seconds
        else:
            children[0].inc()
            children[1].observe(seconds)

    def _http_child(self, key: tuple[str, str, str, str]) -> tuple[Any, Any]:
        method, route, status, tenant = key
        method = _METHODS.get(method, OTHER)
        route = self.metrics.route_guard(route)
        stats = self.metrics.http_stats
        children: tuple[Any, Any] = (
            stats.cells(method, route, status, tenant)
            if stats is not None
            else (
                self.metrics.http_requests.labels(method, route, status, tenant),
                self.metrics.http_duration.labels(method, route),
            )
        )
        # Bounded: methods x guarded routes x status classes x tenants; the raw
        # method is a key only until it maps to "other".
        if len(self._http_children) < 20_000:
            self._http_children[key] = children
        return children

    def record_exception(self, method: str, route: str) -> None:
        key = (method, route)
        child = self._exception_children.get(key)
        if child is None:
            child = self.metrics.http_exceptions.labels(
                _METHODS.get(method, OTHER), self.metrics.route_guard(route)
            )
            if len(self._exception_children) < 5_000:
                self._exception_children[key] = child
        child.inc()

    def tenant(self, value: str | None) -> str:
        return self.metrics.tenant(value)

    # Jobs and agents ----------------------------------------------------------------------

    def job(self, name: str, expected_runtime_seconds: float | None = None) -> JobRun:
        """Track one run of a background job or agent (``with``, ``async with``, decorator).

        ``expected_runtime_seconds``: how long one run may take by design (a model
        retraining: an hour); published at once as ``job_expected_runtime_seconds``, the
        limit AppJobRunningTooLong holds the job to. A job that declares none is held to
        the default, 5 minutes.
        """
        job = self._job_label(name)
        if expected_runtime_seconds is not None:
            self.expect_runtime(job, expected_runtime_seconds)
        return JobRun(self, job)

    def expect_runtime(self, name: str, seconds: float) -> None:
        """Declare how long one run of job ``name`` may take, without starting a run."""
        if not (math.isfinite(seconds) and seconds > 0):
            raise ValueError("expected_runtime_seconds must be a positive number of seconds")
        self.metrics.job_expected_runtime.labels(self._job_label(name)).set(seconds)

    def _job_label(self, name: str) -> str:
        """The guarded job name, its outcome series created at 0 the first time.

        A job whose runs all fail still has a success series (at 0), so its success
        ratio is 0 rather than absent, and ``rate()`` sees its first run.
        """
        job = self.metrics.job_guard(name)
        if job not in self._jobs_seen:
            m = self.metrics
            for outcome in ("success", "failure"):
                m.job_runs.labels(job, outcome)
            m.job_running.labels(job)
            self._jobs_seen.add(job)
        return job

    def scheduled_job(
        self, name: str, interval_seconds: float, expected_runtime_seconds: float | None = None
    ) -> JobRun:
        """Declare a job meant to succeed every ``interval_seconds``; returns its tracker.

        Its last-success time starts at registration, so a job that never succeeds is
        reported once two intervals have passed, not at start-up.
        ``expected_runtime_seconds`` is as for :meth:`job`.
        """
        if interval_seconds <= 0:
            raise ValueError("interval_seconds must be positive")
        job = self._job_label(name)
        if expected_runtime_seconds is not None:
            self.expect_runtime(job, expected_runtime_seconds)
        self.metrics.job_interval.labels(job).set(interval_seconds)
        self.metrics.job_last_success.labels(job).set(time.time())
        self.metrics.job_oldest_start.labels(job).set(INF)
        return JobRun(self, job)

    def set_queue_depth(self, queue: str, depth: float) -> None:
        self.metrics.queue_depth.labels(self.metrics.queue_guard(queue)).set(depth)

    # Workflows ----------------------------------------------------------------------------

    def workflow(self, name: str, tenant: str | None = None) -> WorkflowRun:
        """Track one workflow within this process (``with``, ``async with``, decorator)."""
        wf, label = self._workflow_labels(name, self.tenant(tenant))
        return WorkflowRun(self, wf, label)

    def _workflow_labels(self, name: str, tenant: str) -> tuple[str, str]:
        """(guarded workflow, tenant label), their three counters created at 0 the first time.

        A workflow that never completes still has a completed series (at 0), so its
        failure ratio is 1 rather than absent.
        """
        wf = self.metrics.workflow_guard(name)
        key = (wf, tenant)
        if key not in self._workflows_seen:
            m = self.metrics
            for counter in (m.workflows_started, m.workflows_completed, m.workflows_failed):
                counter.labels(wf, tenant)
            self._workflows_seen.add(key)
        return key

    def workflow_started(self, name: str, tenant: str | None = None) -> None:
        """For workflows that span processes: count a start here, the end elsewhere."""
        wf, label = self._workflow_labels(name, self.tenant(tenant))
        self.metrics.workflows_started.labels(wf, label).inc()

    def workflow_completed(self, name: str, seconds: float, tenant: str | None = None) -> None:
        wf, label = self._workflow_labels(name, self._tenant_label(tenant))
        self.metrics.workflows_completed.labels(wf, label).inc()
        self.metrics.workflow_duration.labels(wf).observe(seconds)

    def workflow_failed(self, name: str, tenant: str | None = None) -> None:
        wf, label = self._workflow_labels(name, self._tenant_label(tenant))
        self.metrics.workflows_failed.labels(wf, label).inc()

    def step_abandoned(self, workflow: str, step: str) -> None:
        """Count a workflow step a user or caller left unfinished (workflow and step capped)."""
        self.metrics.steps_abandoned.labels(
            self.metrics.workflow_guard(workflow), self.metrics.step_guard(step)
        ).inc()

    def business_case_created(self, tenant: str | None = None) -> None:
        self.metrics.business_cases.labels(self.tenant(tenant)).inc()

    def set_data_quality(self, dataset: str, score: float) -> None:
        """Publish a dataset's data-quality score, a ratio from 0 to 1 (not a percentage)."""
        if not (math.isfinite(score) and 0 <= score <= 1):
            raise ValueError("a data-quality score must be a ratio between 0 and 1")
        self.metrics.data_quality.labels(self.metrics.dataset_guard(dataset)).set(score)

    # Agent memory ---------------------------------------------------------------------------

    def memory_operation(self, operation: str, tier: str, success: bool = True) -> None:
        """Count one store, retrieve or search on a memory tier (the tier name is capped).

        A tier's first operation creates both outcome series, so its failure ratio is 0
        rather than absent until something fails.
        """
        if operation not in MEMORY_OPERATIONS:
            raise ValueError(f"memory operation must be one of {sorted(MEMORY_OPERATIONS)}")
        label = self.metrics.tier_guard(tier)
        key = (operation, label)
        if key not in self._memory_seen:
            for outcome in ("success", "failure"):
                self.metrics.memory_operations.labels(operation, label, outcome)
            self._memory_seen.add(key)
        outcome = "success" if success else "failure"
        self.metrics.memory_operations.labels(operation, label, outcome).inc()

    def memory(self, operation: str, tier: str) -> MemoryOperation:
        """Track one memory operation (``with``/``async with``): a failure when it raises."""
        if operation not in MEMORY_OPERATIONS:
            raise ValueError(f"memory operation must be one of {sorted(MEMORY_OPERATIONS)}")
        return MemoryOperation(self, operation, tier)

    def _tenant_label(self, tenant: str | None) -> str:
        # Already a label value ("" or "other") when it comes from a WorkflowRun.
        if tenant in ("", OTHER):
            return tenant or ""
        return self.tenant(tenant)

    # Authentication -------------------------------------------------------------------------

    def login(self, success: bool, reason: str = "ok") -> None:
        """Count a login attempt; ``reason`` outside the closed set becomes "other"."""
        label = reason if reason in LOGIN_REASONS else OTHER
        self.metrics.logins.labels("success" if success else "failure", label).inc()

    def token(self, operation: str, success: bool = True) -> None:
        if operation not in TOKEN_OPERATIONS:
            raise ValueError(f"token operation must be one of {sorted(TOKEN_OPERATIONS)}")
        self.metrics.token_operations.labels(operation, "success" if success else "failure").inc()

    def session(self) -> Session:
        """An open authenticated session (``with``/``async with``)."""
        return Session(self)

    def set_active_sessions(self, count: float) -> None:
        """Publish the sessions open now, for services that keep them in a shared store."""
        if not (math.isfinite(count) and count >= 0):
            raise ValueError("active sessions must be a count, 0 or more")
        self.metrics.active_sessions.set(count)

    def user_operation(self, operation: str, success: bool = True) -> None:
        """Count an operation on a user account; one outside the closed set is "other"."""
        label = operation if operation in USER_OPERATIONS else OTHER
        self.metrics.user_operations.labels(label, "success" if success else "failure").inc()

    # Outbound ------------------------------------------------------------------------------

    def external_target(self, host: str | None, explicit: str | None = None) -> str:
        """The target label for a call: the explicit name, else the host's configured name."""
        name = explicit or self.config.external_targets.get(host or "", OTHER)
        return self.metrics.target_guard(name)

    def record_external(self, target: str, outcome: str, seconds: float) -> None:
        """Count one outbound call; a target past the cap becomes "other", an outcome
        outside the closed set "error" (the client trace passes values already bounded)."""
        name = self.metrics.target_guard(target)
        label = outcome if outcome in self._external_outcomes else "error"
        self.metrics.external_requests.labels(name, label).inc()
        self.metrics.external_duration.labels(name).observe(seconds)

    def set_quota(self, target: str, used: float, limit: float) -> None:
        name = self.metrics.target_guard(target)
        self.metrics.external_quota_used.labels(name).set(used)
        self.metrics.external_quota_limit.labels(name).set(limit)

    def delivery(self, channel: str, ok: bool) -> None:
        if channel not in DELIVERY_CHANNELS:
            raise ValueError(f"channel must be one of {sorted(DELIVERY_CHANNELS)}")
        self.metrics.deliveries.labels(channel, "success" if ok else "failure").inc()

    def deliver(self, channel: str) -> Delivery:
        """Track one delivery (``with``/``async with``): a failure when the block raises."""
        if channel not in DELIVERY_CHANNELS:
            raise ValueError(f"channel must be one of {sorted(DELIVERY_CHANNELS)}")
        return Delivery(self, channel)
