"""Real servers for the on-call tests: Alertmanagers (alone or as a gossip cluster), a
Prometheus, a metrics endpoint the test sets, and the CLI run as a user runs it.

Everything listens on 127.0.0.1 on free ports, keeps its state in a tmp dir, and is
stopped when its context manager exits.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from tests.helpers import REPO_ROOT, child_env, free_port

ALERTMANAGER = shutil.which("prometheus-alertmanager")
PROMETHEUS = shutil.which("prometheus")
needs_servers = pytest.mark.skipif(
    ALERTMANAGER is None or PROMETHEUS is None,
    reason="prometheus and prometheus-alertmanager not installed (.ci/setup)",
)

T = TypeVar("T")


def http_json(url: str, body: object | None = None, method: str | None = None) -> Any:
    """GET (or POST ``body``) and decode the JSON answer; None for an empty one."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        raw = response.read()
    return json.loads(raw) if raw.strip() else None


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60.0) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` after
    ``timeout`` seconds (generous: a busy 2-core machine is slow, never wrong)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = probe()
        except (OSError, ValueError) as err:  # a server still starting, a partial answer
            result, last = None, err
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what} (last: {last!r})")
        time.sleep(0.2)


@contextlib.contextmanager
def _process(argv: Sequence[str], ready_url: str, name: str, log: Path) -> Iterator[None]:
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        try:

            def ready() -> bool:
                if process.poll() is not None:
                    pytest.fail(f"{name} exited with {process.returncode}:\n{log.read_text()}")
                urllib.request.urlopen(ready_url, timeout=2).close()
                return True

            wait_for(f"{name} to be ready", ready)
            yield
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)


def alertmanager_config(root: Path) -> Path:
    """One route to one webhook receiver on a closed port: nothing leaves the machine."""
    path = root / "alertmanager.yml"
    config = {
        "route": {"receiver": "webhook", "group_by": ["alertname"]},
        "receivers": [
            {"name": "webhook", "webhook_configs": [{"url": f"http://127.0.0.1:{free_port()}/"}]}
        ],
    }
    path.write_text(yaml.safe_dump(config))
    return path


@contextlib.contextmanager
def running_alertmanager(
    root: Path, cluster_port: int | None = None, peer_ports: Sequence[int] = ()
) -> Iterator[str]:
    """A real Alertmanager in ``root``; its URL. With ``cluster_port`` it gossips on
    127.0.0.1:cluster_port with the peers at ``peer_ports``."""
    assert ALERTMANAGER is not None
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [
        ALERTMANAGER,
        f"--config.file={alertmanager_config(root)}",
        f"--storage.path={root / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    if cluster_port is None:
        argv.append("--cluster.listen-address=")
    else:
        address = f"127.0.0.1:{cluster_port}"
        argv += [
            f"--cluster.listen-address={address}",
            f"--cluster.advertise-address={address}",
            # A peer that was not up yet is retried at this interval (10 s by default).
            "--cluster.reconnect-interval=1s",
            "--cluster.settle-timeout=5s",
            *(f"--cluster.peer=127.0.0.1:{p}" for p in peer_ports),
        ]
    url = f"http://127.0.0.1:{port}"
    with _process(argv, f"{url}/-/ready", "alertmanager", root / "alertmanager.log"):
        yield url


@contextlib.contextmanager
def alertmanager_cluster(root: Path) -> Iterator[tuple[str, str]]:
    """Two Alertmanagers gossiping on loopback, once each sees both peers."""
    first, second = free_port(), free_port()
    with (
        running_alertmanager(root / "am1", first, [second]) as url1,
        running_alertmanager(root / "am2", second, [first]) as url2,
    ):
        for url in (url1, url2):
            wait_for(f"{url} to see 2 cluster peers", functools.partial(_both_peers, url))
        yield url1, url2


def _both_peers(url: str) -> bool:
    return len(http_json(f"{url}/api/v2/status")["cluster"]["peers"]) == 2


def post_alerts(url: str, alerts: Sequence[Mapping[str, str]]) -> None:
    """Post firing alerts (their labels) as Prometheus would, for the next hour."""
    now = datetime.now(UTC)
    http_json(
        f"{url}/api/v2/alerts",
        [
            {
                "labels": dict(labels),
                "annotations": {"summary": "test alert"},
                "startsAt": (now - timedelta(minutes=5)).isoformat(),
                "endsAt": (now + timedelta(hours=1)).isoformat(),
                "generatorURL": "http://prometheus.invalid/graph",
            }
            for labels in alerts
        ],
    )


def alerts_named(url: str, name: str) -> list[dict[str, Any]]:
    found = http_json(f"{url}/api/v2/alerts?active=true&silenced=true&inhibited=true")
    return [a for a in found if a["labels"].get("alertname") == name]


def silences(url: str) -> list[dict[str, Any]]:
    return list(http_json(f"{url}/api/v2/silences"))


class MetricsServer:
    """A /metrics endpoint whose samples the test sets: ``server.set("demo_errors", 3)``."""

    def __init__(self, values: Mapping[str, float]) -> None:
        self.values = dict(values)
        self._lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with owner._lock:
                    body = "".join(f"{k} {v}\n" for k, v in sorted(owner.values.items()))
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def set(self, name: str, value: float) -> None:
        with self._lock:
            self.values[name] = value

    def __enter__(self) -> MetricsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


@contextlib.contextmanager
def running_prometheus(
    root: Path, target: str, alertmanager_url: str, rules: Mapping[str, Any]
) -> Iterator[str]:
    """A real Prometheus in ``root``: 1 s scrape of ``target`` and 1 s evaluation of
    ``rules``, alerting to one Alertmanager; its URL."""
    assert PROMETHEUS is not None
    root.mkdir(parents=True, exist_ok=True)
    (root / "rules.yml").write_text(yaml.safe_dump(dict(rules)))
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "rule_files": [str(root / "rules.yml")],
        "alerting": {
            "alertmanagers": [
                {"static_configs": [{"targets": [alertmanager_url.removeprefix("http://")]}]}
            ]
        },
        "scrape_configs": [{"job_name": "demo", "static_configs": [{"targets": [target]}]}],
    }
    (root / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    argv = [
        PROMETHEUS,
        f"--config.file={root / 'prometheus.yml'}",
        f"--storage.tsdb.path={root / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    url = f"http://127.0.0.1:{port}"
    with _process(argv, f"{url}/-/ready", "prometheus", root / "prometheus.log"):
        yield url


def query(prometheus_url: str, promql: str) -> list[dict[str, Any]]:
    """An instant query's result vector."""
    params = urllib.parse.urlencode({"query": promql})
    answer = http_json(f"{prometheus_url}/api/v1/query?{params}")
    return list(answer["data"]["result"])


def oncall(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m oncall ARGS`` as a user runs it, with no server set by the environment."""
    child = child_env(env)
    for name in ("PROMFLEET_ALERTMANAGER_URL", "PROMFLEET_PROMETHEUS_URL"):
        if env is None or name not in env:
            child.pop(name, None)
    if env is None or "PROMFLEET_ONCALL_AUTHOR" not in env:
        child["PROMFLEET_ONCALL_AUTHOR"] = "test-oncall"
    return subprocess.run(
        [sys.executable, "-m", "oncall", *args],
        cwd=REPO_ROOT,
        env=child,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
