"""The instrumented demo service: a small aiohttp app that misbehaves on demand.

``python -m exporters.app.demo --port PORT [--workers N]`` serves an API, ``/healthz``
in the format the probe exporter reads, and ``/metrics``. ``POST /chaos`` (query or
JSON) sets how it misbehaves: ``error_rate``, ``latency_seconds``, ``job_failure_rate``,
``login_failure_rate``, ``memory_failure_rate``, ``data_quality`` (0 to 1), ``queue_depth``,
``memory_load`` (rounds of store, retrieve and search per tier each scheduler tick, 1 to
1,000; 1, under the memory alert's floor, by default), ``health`` (healthy, degraded,
unhealthy) and
``dependency.<name>=false``. Rates are exact, not random: 0.5 fails every other call.
With ``--workers N`` the workers share the port and merge their metrics through
prometheus-client's multi-process mode, and share one chaos state through a file the
supervisor owns: a ``POST /chaos`` that reached one worker applies to all of them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from aiohttp import web

from exporters.runtime.logs import log_event

DEPENDENCIES = ("database", "redis")
HEALTH_STATES = ("healthy", "degraded", "unhealthy")
# Job runs started by requests and not finished yet (each removes itself when done).
BACKGROUND = web.AppKey("background", set[asyncio.Task[None]])


def log(event: str, **fields: Any) -> None:
    """One JSON object a line on stderr."""
    log_event("promfleet.app.demo", event, **fields)


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request's body as a JSON object, else a 400 saying that is what was expected."""
    try:
        body = await request.json()
    except ValueError as err:  # not JSON, or not UTF-8
        raise web.HTTPBadRequest(text="expected a JSON object\n") from err
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="expected a JSON object\n")
    return body


class ExactRate:
    """Says yes to exactly ``rate`` of the calls, spread evenly (no randomness in tests)."""

    def __init__(self) -> None:
        self._credit = 0.0

    def hit(self, rate: float) -> bool:
        if rate <= 0:
            return False
        self._credit += rate
        if self._credit >= 1.0 - 1e-9:
            self._credit -= 1.0
            return True
        return False


@dataclass(frozen=True)
class Chaos:
    """How the service misbehaves now; replaced as a whole by ``POST /chaos``."""

    error_rate: float = 0.0
    latency_seconds: float = 0.0
    job_failure_rate: float = 0.0
    login_failure_rate: float = 0.0
    memory_failure_rate: float = 0.0
    memory_load: int = 1
    data_quality: float = 0.97
    queue_depth: float = 0.0
    health: str = "healthy"
    dependencies: Mapping[str, bool] = field(
        default_factory=lambda: dict.fromkeys(DEPENDENCIES, True)
    )

    def updated(self, values: Mapping[str, str]) -> Chaos:
        """A copy with ``values`` applied; raises ``ValueError`` naming a bad key or value."""
        changes: dict[str, Any] = {}
        deps = dict(self.dependencies)
        for key, raw in values.items():
            if key.startswith("dependency."):
                name = key.removeprefix("dependency.")
                if name not in DEPENDENCIES:
                    raise ValueError(f"unknown dependency {name!r}")
                deps[name] = str(raw).lower() in {"1", "true", "yes", "up"}
            elif key == "health":
                if raw not in HEALTH_STATES:
                    raise ValueError(f"health must be one of {', '.join(HEALTH_STATES)}")
                changes["health"] = raw
            elif key in {
                "error_rate",
                "job_failure_rate",
                "login_failure_rate",
                "memory_failure_rate",
                "data_quality",
            }:
                rate = float(raw)
                if not 0 <= rate <= 1:
                    raise ValueError(f"{key} must be between 0 and 1")
                changes[key] = rate
            elif key == "memory_load":
                try:
                    rounds = int(raw)
                except ValueError:
                    raise ValueError("memory_load must be a whole number") from None
                if not 1 <= rounds <= 1000:
                    raise ValueError("memory_load must be between 1 and 1000")
                changes[key] = rounds
            elif key in {"latency_seconds", "queue_depth"}:
                number = float(raw)
                if number < 0 or number > 3600:
                    raise ValueError(f"{key} must be between 0 and 3600")
                changes[key] = number
            else:
                raise ValueError(f"unknown chaos setting {key!r}")
        return replace(self, dependencies=deps, **changes)

    @classmethod
    def from_dict(cls, values: object) -> Chaos:
        """The inverse of :meth:`as_dict`, validated as :meth:`updated` validates."""
        if not isinstance(values, Mapping):
            raise ValueError("chaos state: expected a JSON object")
        deps = values.get("dependencies") or {}
        if not isinstance(deps, Mapping):
            raise ValueError("chaos state: 'dependencies' must be an object")
        flat = {k: str(v) for k, v in values.items() if k != "dependencies"}
        flat.update({f"dependency.{k}": "true" if v else "false" for k, v in deps.items()})
        return cls().updated(flat)

    def as_dict(self) -> dict[str, Any]:
        return {
            "error_rate": self.error_rate,
            "latency_seconds": self.latency_seconds,
            "job_failure_rate": self.job_failure_rate,
            "login_failure_rate": self.login_failure_rate,
            "memory_failure_rate": self.memory_failure_rate,
            "memory_load": self.memory_load,
            "data_quality": self.data_quality,
            "queue_depth": self.queue_depth,
            "health": self.health,
            "dependencies": dict(self.dependencies),
        }


class ChaosState:
    """The chaos in force: in memory, or in a JSON file that several workers share.

    With a file, ``update`` reads, changes and replaces it under an exclusive lock (no
    update is lost to a race between workers), and ``get`` reloads it when it changed,
    which costs one ``stat`` a call.
    """

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self._chaos = Chaos()
        self._seen: tuple[int, int, int] | None = None

    def get(self) -> Chaos:
        if self.path is None:
            return self._chaos
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return self._chaos
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if key != self._seen:
            try:
                with open(self.path, encoding="utf-8") as f:
                    self._chaos = Chaos.from_dict(json.load(f))
                self._seen = key
            except (OSError, ValueError) as err:  # keep the last good state, say why
                log("chaos_file_unreadable", path=self.path, error=str(err))
        return self._chaos

    def update(self, values: Mapping[str, str]) -> Chaos:
        """Apply ``values``; raises ``ValueError`` naming a bad key or value."""
        if self.path is None:
            self._chaos = self._chaos.updated(values)
            return self._chaos
        with open(self.path + ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            chaos = self.get().updated(values)
            tmp = f"{self.path}.{os.getpid()}.tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(chaos.as_dict(), f)
            os.replace(tmp, self.path)
            self._chaos, self._seen = chaos, None
        return chaos


@dataclass(frozen=True)
class DemoConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    job_interval_seconds: float = 5.0
    reuse_port: bool = False
    tenants: frozenset[str] = frozenset({"acme", "globex"})
    chaos_file: str | None = None  # shared by the workers of one supervisor


def build_app(config: DemoConfig, instr: Any = None) -> Any:
    """The aiohttp application, instrumented; ``instr`` defaults to a fresh one."""
    from prometheus_client import CollectorRegistry

    from exporters.app import Instrumentation, InstrumentationConfig
    from exporters.app.aiohttp_middleware import setup

    if instr is None:
        instr = Instrumentation(
            InstrumentationConfig(tenants=config.tenants), registry=CollectorRegistry()
        )
    chaos_state = ChaosState(config.chaos_file)
    depth = [0.0]

    def current() -> Chaos:
        chaos = chaos_state.get()
        if chaos.queue_depth != depth[0]:  # set by a POST that reached another worker
            depth[0] = chaos.queue_depth
            instr.set_queue_depth("demo-queue", chaos.queue_depth)
        return chaos

    errors, job_failures, login_failures = ExactRate(), ExactRate(), ExactRate()
    memory_failures = ExactRate()
    sync_job = instr.scheduled_job(
        "demo-sync", config.job_interval_seconds, expected_runtime_seconds=60
    )
    # A retraining that takes an hour by design: declared, so it is held to its own hour.
    instr.expect_runtime("model-retraining", 3600)
    instr.set_data_quality("business-cases", Chaos().data_quality)
    instr.set_active_sessions(3)
    pid_header = {"X-Worker-Pid": str(os.getpid())}

    async def misbehave() -> None:
        chaos = current()
        if chaos.latency_seconds:
            await asyncio.sleep(chaos.latency_seconds)
        if errors.hit(chaos.error_rate):
            raise web.HTTPInternalServerError(text="chaos: injected error\n", headers=pid_header)

    async def index(request: web.Request) -> web.Response:
        return web.Response(text="promfleet demo service\n", headers=pid_header)

    async def get_item(request: web.Request) -> web.Response:
        await misbehave()
        return web.json_response({"id": request.match_info["item_id"]}, headers=pid_header)

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("demo: an unhandled exception, on purpose")

    async def login(request: web.Request) -> web.Response:
        body = await json_object(request)
        chaos = current()
        if login_failures.hit(chaos.login_failure_rate) or body.get("password") != "demo":
            instr.login(False, "bad_password")
            raise web.HTTPUnauthorized(text="login failed\n")
        instr.login(True)
        instr.token("issue")
        return web.json_response({"token": "demo-token"})

    async def run_job(request: web.Request) -> web.Response:
        try:
            seconds = float(request.query.get("seconds", "0"))
        except ValueError as err:
            raise web.HTTPBadRequest(text="seconds must be a number\n") from err
        if not (math.isfinite(seconds) and 0 <= seconds <= 600):
            raise web.HTTPBadRequest(text="seconds must be between 0 and 600\n")
        fail = request.query.get("fail", "0") in {"1", "true"}
        name = request.match_info["name"]

        async def job() -> None:
            with contextlib.suppress(RuntimeError):
                async with instr.job(name):
                    await asyncio.sleep(seconds)
                    if fail:
                        raise RuntimeError("demo: job failed on request")

        background = request.app[BACKGROUND]
        task = asyncio.create_task(job())
        background.add(task)
        task.add_done_callback(background.discard)  # a finished run is not kept
        return web.json_response({"job": name, "seconds": seconds, "fail": fail}, status=202)

    async def checkout(request: web.Request) -> web.Response:
        fail = request.query.get("fail", "0") in {"1", "true"}
        tenant = request.headers.get("X-Tenant")
        with contextlib.suppress(RuntimeError):
            async with instr.workflow("checkout", tenant=tenant):
                await misbehave()
                if fail:
                    raise RuntimeError("demo: workflow failed on request")
                return web.json_response({"workflow": "checkout", "ok": True})
        return web.json_response({"workflow": "checkout", "ok": False}, status=500)

    async def deliver(request: web.Request) -> web.Response:
        fail = request.query.get("fail", "0") in {"1", "true"}
        instr.delivery(request.match_info["channel"], ok=not fail)
        return web.json_response({"delivered": not fail})

    async def set_chaos(request: web.Request) -> web.Response:
        values: dict[str, str] = dict(request.query)
        if request.can_read_body:
            body = await json_object(request)
            values.update({str(k): str(v) for k, v in body.items()})
        try:
            chaos = chaos_state.update(values)
        except ValueError as err:
            raise web.HTTPBadRequest(text=f"{err}\n") from err
        current()
        log("chaos", **chaos.as_dict())
        return web.json_response(chaos.as_dict())

    async def get_chaos(request: web.Request) -> web.Response:
        return web.json_response(current().as_dict())

    async def healthz(request: web.Request) -> web.Response:
        chaos = current()
        status = chaos.health
        if status == "healthy" and not all(chaos.dependencies.values()):
            status = "degraded"
        body = {"status": status, "dependencies": dict(chaos.dependencies)}
        return web.json_response(
            body, status=503 if status == "unhealthy" else 200, headers=pid_header
        )

    def business_tick(tick: int) -> None:
        """Healthy business traffic each scheduler tick, under every alert's floor: a
        value case completed, agent memory used without failures, tokens validated, and
        every twelfth tick a refresh, a revocation, a user update, an abandoned step."""
        chaos = current()
        instr.set_data_quality("business-cases", chaos.data_quality)
        with instr.workflow("value-case"):
            for _ in range(chaos.memory_load):
                for tier in ("working", "long-term"):
                    for operation in ("store", "retrieve", "search"):
                        failed = memory_failures.hit(chaos.memory_failure_rate)
                        instr.memory_operation(operation, tier, success=not failed)
        instr.token("validate")
        if tick % 12 == 0:
            instr.business_case_created()
            instr.token("refresh")
            instr.token("revoke")
            instr.user_operation("update")
            instr.step_abandoned("value-case", "pricing")

    # When the background scheduler last woke up: /healthz/scheduler reports on it.
    scheduler_tick = [time.monotonic()]

    async def scheduler_health(request: web.Request) -> web.Response:
        age = time.monotonic() - scheduler_tick[0]
        alive = age <= 3 * config.job_interval_seconds + 5
        body = {"status": "healthy" if alive else "unhealthy", "last_run_age_seconds": age}
        return web.json_response(body, status=200 if alive else 503, headers=pid_header)

    async def browser_health(request: web.Request) -> web.Response:
        # A stand-in: the demo drives no browser. It answers like a browser-automation
        # service's health check, so the probe target and its alerts run end to end; a
        # real deployment points the target at the service's own check.
        body = {"status": "healthy", "dependencies": {"browser": True}}
        return web.json_response(body, headers=pid_header)

    async def scheduler(app: web.Application) -> Any:
        async def loop() -> None:
            tick = 0
            while True:
                business_tick(tick)
                tick += 1
                await asyncio.sleep(config.job_interval_seconds)
                scheduler_tick[0] = time.monotonic()
                with contextlib.suppress(RuntimeError):
                    async with sync_job._fresh():
                        if job_failures.hit(current().job_failure_rate):
                            raise RuntimeError("demo: scheduled job failed")

        task = asyncio.create_task(loop())
        yield
        task.cancel()
        for pending in [task, *app[BACKGROUND]]:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending

    app = web.Application()
    app[BACKGROUND] = set()
    # The probe's signals, not traffic.
    setup(app, instr, exclude=("/healthz", "/healthz/browser", "/healthz/scheduler"))
    app.router.add_get("/", index)
    app.router.add_get("/api/items/{item_id}", get_item)
    app.router.add_get("/api/boom", boom)
    app.router.add_post("/api/login", login)
    app.router.add_post("/api/jobs/{name:report|import|agent}/run", run_job)
    app.router.add_post("/api/workflows/checkout", checkout)
    app.router.add_post("/api/deliveries/{channel:webhook|websocket}", deliver)
    app.router.add_post("/chaos", set_chaos)
    app.router.add_get("/chaos", get_chaos)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/healthz/browser", browser_health)
    app.router.add_get("/healthz/scheduler", scheduler_health)
    app.cleanup_ctx.append(scheduler)
    instr.set_queue_depth("demo-queue", 0)
    return app


def serve(config: DemoConfig) -> None:
    from prometheus_client import disable_created_metrics

    from exporters.app.exposition import mark_process_dead

    disable_created_metrics()  # type: ignore[no-untyped-call]  # the *_created series only cost scrape bytes here
    app = build_app(config)
    log("listening", host=config.host, port=config.port, pid=os.getpid())
    try:
        web.run_app(
            app,
            host=config.host,
            port=config.port,
            reuse_port=config.reuse_port,
            print=None,
            access_log=None,
            handle_signals=True,
        )
    finally:
        mark_process_dead()


def supervise(config: DemoConfig, workers: int) -> int:
    """Run ``workers`` processes on one port sharing a multi-process metrics directory."""
    own_dir = None
    env = dict(os.environ)
    if not env.get("PROMETHEUS_MULTIPROC_DIR"):
        own_dir = tempfile.mkdtemp(prefix="promfleet-demo-")
        env["PROMETHEUS_MULTIPROC_DIR"] = own_dir
    chaos_dir = tempfile.mkdtemp(prefix="promfleet-demo-chaos-")
    command = [
        sys.executable, "-m", "exporters.app.demo", "--host", config.host,
        "--port", str(config.port), "--job-interval", str(config.job_interval_seconds),
        "--reuse-port", "--chaos-file", os.path.join(chaos_dir, "chaos.json"),
    ]  # fmt: skip
    children = [subprocess.Popen(command, env=env) for _ in range(workers)]
    stopping = False

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.2)
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if own_dir is not None:
            shutil.rmtree(own_dir, ignore_errors=True)
        shutil.rmtree(chaos_dir, ignore_errors=True)
    return 0 if stopping else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exporters.app.demo", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--job-interval", type=float, default=5.0, help="seconds")
    parser.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--chaos-file", help=argparse.SUPPRESS)  # set by --workers
    args = parser.parse_args(argv)
    if args.workers < 1 or args.job_interval <= 0:
        parser.error("--workers must be at least 1 and --job-interval positive")
    config = DemoConfig(
        host=args.host,
        port=args.port,
        job_interval_seconds=args.job_interval,
        reuse_port=args.reuse_port,
        chaos_file=args.chaos_file,
    )
    if args.workers > 1:
        return supervise(config, args.workers)
    serve(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
