"""Shared test helpers: free ports, exporter subprocesses, scraping and exposition checks.

Every exporter test uses these: start ``python -m exporters NAME`` on a free loopback port
with :class:`ExporterProcess`, :func:`scrape` it, and check the scrape against the
module's declarations with :func:`assert_matches_declaration` and
:func:`promtool_check_metrics`.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web
from prometheus_client.core import Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry
from prometheus_client.samples import Sample

from exporters.spec import MetricSpec
from runner.process import free_port as process_free_port

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, picked where no outgoing
    connection can take it before the server binds it (see :func:`runner.process.free_port`)."""
    return process_free_port("127.0.0.1")


def scrape(
    url: str,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
    ssl_context: ssl.SSLContext | None = None,
) -> tuple[int, dict[str, str], str]:
    """GET ``url``: (status, headers with lower-case names, body text).

    A 4xx/5xx is returned, not raised. A gzip body is decompressed (the
    ``content-encoding`` header still says it was gzip).
    """
    request = urllib.request.Request(url, headers=dict(headers or {}))
    return _fetch(request, timeout, ssl_context)


def post_json(
    url: str, body: Mapping[str, object] | None = None, timeout: float = 10.0
) -> tuple[int, str]:
    """POST ``body`` as JSON (an empty body when None): (status, body text).

    A 4xx/5xx is returned, not raised, as in :func:`scrape`.
    """
    data = json.dumps(body).encode() if body is not None else b""
    request = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": "application/json"}
    )
    status, _, text = _fetch(request, timeout, None)
    return status, text


def _fetch(
    request: urllib.request.Request, timeout: float, ssl_context: ssl.SSLContext | None
) -> tuple[int, dict[str, str], str]:
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=ssl_context) as response:
            status = int(response.status)
            raw_headers = response.headers
            body = response.read()
    except urllib.error.HTTPError as err:
        status = err.code
        raw_headers = err.headers
        body = err.read()
    out_headers = {key.lower(): value for key, value in raw_headers.items()}
    if out_headers.get("content-encoding") == "gzip":
        body = gzip.decompress(body)
    return status, out_headers, body.decode("utf-8", errors="replace")


@asynccontextmanager
async def serve_app(
    app: web.Application, ssl_context: ssl.SSLContext | None = None, shutdown_timeout: float = 0.5
) -> AsyncIterator[str]:
    """Serve ``app`` from this test's event loop on a free loopback port; yields its base
    URL (https when ``ssl_context`` is given)."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    scheme = "https" if ssl_context else "http"
    try:
        yield f"{scheme}://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment for a child that imports the repository's packages:
    the repository root first on PYTHONPATH, then ``extra``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
    )
    env.update(extra or {})
    return env


class ExporterProcess:
    """``python -m exporters NAME --web.listen-address=127.0.0.1:PORT *args`` for a test.

    Use as a context manager: it starts the process, waits (bounded) until ``/healthz``
    answers (any status below 500 counts: a 401 means the server is up), and on exit
    sends SIGTERM, then SIGKILL after ``stop_timeout`` seconds. ``.url`` is the base URL,
    ``.pid`` the process id, ``.logs()`` what it wrote to stdout and stderr.
    """

    def __init__(
        self,
        name: str,
        *args: str,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        scheme: str = "http",
        ssl_context: ssl.SSLContext | None = None,
        wait_headers: Mapping[str, str] | None = None,
        start_timeout: float = 20.0,
        stop_timeout: float = 10.0,
        wait: bool = True,
    ) -> None:
        self.name = name
        self.args = args
        self.env = dict(env or {})
        self.port = port or free_port()
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.ssl_context = ssl_context
        self.wait_headers = dict(wait_headers or {})
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.wait = wait
        self.returncode: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        # Files, not pipes: a chatty exporter never blocks on a full pipe; closed in __exit__.
        self._stdout = tempfile.TemporaryFile()  # noqa: SIM115
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        self._kept: dict[int, str] = {}

    @property
    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "exporters",
            self.name,
            f"--web.listen-address=127.0.0.1:{self.port}",
            *self.args,
        ]

    @property
    def pid(self) -> int:
        assert self._proc is not None, "process not started"
        return self._proc.pid

    def start(self) -> ExporterProcess:
        env = child_env({"PYTHONUNBUFFERED": "1", **self.env})
        self._proc = subprocess.Popen(
            self.command, cwd=REPO_ROOT, env=env, stdout=self._stdout, stderr=self._stderr
        )
        if self.wait:
            self.wait_ready()
        return self

    def wait_ready(self) -> None:
        """Poll /healthz until it answers, the process exits, or the bound passes."""
        assert self._proc is not None
        deadline = time.monotonic() + self.start_timeout
        last_error = "no attempt"
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"exporter {self.name} exited with {self._proc.returncode} before it "
                    f"was ready:\n{self.logs()}"
                )
            try:
                status, _, _ = scrape(
                    self.url + "/healthz",
                    headers=self.wait_headers,
                    timeout=2.0,
                    ssl_context=self.ssl_context,
                )
            except (OSError, urllib.error.URLError) as err:
                last_error = repr(err)
            else:
                if status < 500:
                    return
                last_error = f"status {status}"
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"exporter {self.name} not ready after {self.start_timeout}s ({last_error}):\n"
            f"{self.logs()}"
        )

    def signal(self, signum: int = signal.SIGTERM) -> None:
        assert self._proc is not None
        self._proc.send_signal(signum)

    def wait_exit(self, timeout: float) -> int:
        """Wait (bounded) for the process to end; its exit status."""
        assert self._proc is not None
        self.returncode = self._proc.wait(timeout=timeout)
        return self.returncode

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after ``stop_timeout``; the exit status."""
        if self._proc is None:
            return None
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=self.stop_timeout)
        self.returncode = self._proc.returncode
        return self.returncode

    def _read(self, handle: Any) -> str:
        if handle.closed:  # after exit: what was kept when the files were closed
            return self._kept.get(id(handle), "")
        handle.flush()
        handle.seek(0)
        return str(handle.read().decode("utf-8", errors="replace"))

    def logs(self) -> str:
        """Everything the process wrote so far (also after exit), stdout then stderr."""
        return self._read(self._stdout) + self._read(self._stderr)

    def log_records(self) -> list[dict[str, Any]]:
        """The structured log lines (JSON objects) written to stderr."""
        records = []
        for line in self._read(self._stderr).splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                records.append(record)
        return records

    def __enter__(self) -> ExporterProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        for handle in (self._stdout, self._stderr):
            self._kept[id(handle)] = self._read(handle)
            handle.close()


def run_exporter(
    name: str, *args: str, env: Mapping[str, str] | None = None, timeout: float = 30.0
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m exporters NAME *args`` to completion (for --help and bad config)."""
    return subprocess.run(
        [sys.executable, "-m", "exporters", name, *args],
        cwd=REPO_ROOT,
        env=child_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class _Fixed:
    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self.families


def exposition(families: Iterable[Metric]) -> str:
    """The text client_python would serve for these families (a fresh registry)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(families))  # type: ignore[arg-type]
    return generate_latest(registry).decode()


def parse_families(text: str) -> dict[str, Any]:
    """{family name as declared: parsed family}; counters keep their ``_total``."""
    out: dict[str, Any] = {}
    for family in text_string_to_metric_families(text):
        name = family.name
        if family.type == "counter" and not name.endswith("_total"):
            name += "_total"
        out[name] = family
    return out


def samples(text: str) -> list[Sample]:
    """Every sample of a scrape, flat."""
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def sample_value(text: str, name: str, labels: Mapping[str, str] | None = None) -> float | None:
    """The value of series ``name`` whose labels are exactly ``labels``; None if absent."""
    wanted = dict(labels or {})
    for sample in samples(text):
        if sample.name == name and sample.labels == wanted:
            return float(sample.value)
    return None


_TEXT_TYPE = {"info": "gauge", "stateset": "gauge"}


def _allowed_label_sets(spec: MetricSpec, extra: Sequence[str]) -> dict[str, set[str]]:
    """{sample name: exact label names} a spec's samples may carry."""
    base = {*spec.labels, *extra}
    if spec.type == "histogram":
        return {
            f"{spec.name}_bucket": base | {"le"},
            f"{spec.name}_sum": base,
            f"{spec.name}_count": base,
            f"{spec.name}_created": base,
        }
    if spec.type == "summary":
        return {
            spec.name: base | {"quantile"},
            f"{spec.name}_sum": base,
            f"{spec.name}_count": base,
            f"{spec.name}_created": base,
        }
    if spec.type == "stateset":
        return {spec.name: base | {spec.name}}
    if spec.type == "counter":
        return {spec.name: base, spec.name.removesuffix("_total") + "_created": base}
    return {spec.name: base}


def declaration_problems(
    text: str,
    specs: Iterable[MetricSpec],
    *,
    extra_labels: Sequence[str] = (),
    allow_missing: Iterable[str] = (),
) -> list[str]:
    """Every way the scrape differs from the declared families (empty when it matches)."""
    declared = {spec.name: spec for spec in specs}
    families = parse_families(text)
    problems: list[str] = []
    for name, family in sorted(families.items()):
        spec = declared.get(name)
        if spec is None:
            problems.append(f"{name}: published but not declared")
            continue
        expected_type = _TEXT_TYPE.get(spec.type, spec.type)
        if family.type not in (expected_type, spec.type):
            problems.append(f"{name}: type {family.type}, declared {spec.type}")
        allowed = _allowed_label_sets(spec, extra_labels)
        for sample in family.samples:
            if sample.name not in allowed:
                problems.append(f"{name}: unexpected series {sample.name}")
                continue
            if set(sample.labels) != allowed[sample.name]:
                problems.append(
                    f"{name}: series {sample.name} has labels {sorted(sample.labels)}, "
                    f"declared {sorted(allowed[sample.name])}"
                )
    missing = set(declared) - set(families) - set(allow_missing)
    problems.extend(f"{name}: declared but not published" for name in sorted(missing))
    # One problem per family and kind is enough to read.
    return list(dict.fromkeys(problems))


def assert_matches_declaration(
    text: str,
    specs: Iterable[MetricSpec],
    *,
    extra_labels: Sequence[str] = (),
    allow_missing: Iterable[str] = (),
) -> None:
    """The scrape publishes exactly the declared families, with exactly the declared labels.

    Pass the domain METRICS plus ``runtime_metrics(namespace)`` (or
    ``registry.exporter_specs(EXPORTER)``). ``allow_missing`` names declared families
    that may legitimately be absent in this environment.
    """
    problems = declaration_problems(
        text, specs, extra_labels=extra_labels, allow_missing=allow_missing
    )
    assert not problems, "scrape does not match the declaration:\n" + "\n".join(problems)


def promtool_check_metrics(text: str) -> list[str]:
    """``promtool check metrics`` on a scrape: the problems it reports (empty when clean)."""
    result = subprocess.run(
        ["promtool", "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    lines = [line.strip() for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    if result.returncode != 0 and not lines:
        lines = [f"promtool exited with status {result.returncode}"]
    return lines
