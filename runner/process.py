"""Child processes of the live stack: start on loopback, wait until ready, stop cleanly.

A started process leaves a pid file (``<state>/pids/<name>.json``) holding its pid and
start time, so ``down`` stops exactly the processes ``up`` started, never a recycled pid.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import random
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from runner.log import log

_PR_SET_PDEATHSIG = 1


class StackError(RuntimeError):
    """The stack could not be started or stopped; the message says which part and why."""


# The kernel hands ports from ``net.ipv4.ip_local_port_range`` (32768-60999 by default) to
# every outgoing connection and to every bind to port 0. A port picked there and released
# can be taken by any process's next connection (an exporter dialling PostgreSQL, Prometheus
# scraping) before the server it was meant for binds it: "address already in use". Ports are
# therefore picked at random from a band the kernel never hands out on its own, checked free
# by binding, and never handed out twice by one process.
_BAND = 12000  # ports in the band below (or above) the kernel's range
_handed_out: set[int] = set()


def _kernel_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def unclaimed_band() -> tuple[int, int] | None:
    """The ports (first, last) that neither the kernel's ephemeral range nor the
    privileged ports cover, or None when the range leaves no room for a band."""
    low, high = _kernel_range()
    if low - _BAND >= 1024:
        return low - _BAND, low - 1
    if high + _BAND <= 65535:
        return high + 1, high + _BAND
    return None


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port that nothing uses on ``host`` now, outside the kernel's ephemeral range (so
    no outgoing connection takes it before its server binds it), and one this process has
    not handed out before."""
    band = unclaimed_band()
    if band is not None:
        for _ in range(500):
            port = random.randint(*band)
            if port not in _handed_out and _bindable(host, port):
                _handed_out.add(port)
                return port
    while True:  # no band, or a band full: the kernel's choice, still never twice
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            chosen: int = sock.getsockname()[1]
        if chosen not in _handed_out:
            _handed_out.add(chosen)
            return chosen


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it when the process that started it dies."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass(frozen=True)
class ProcessSpec:
    """How to start one member of the stack and how to know it is ready."""

    name: str
    argv: tuple[str, ...]
    ready_url: str  # empty: ready once started (a writer that serves nothing)
    url: str  # what a human opens (a writer: what it writes)
    env: Mapping[str, str] = field(default_factory=dict, repr=False)  # may hold a DSN
    cwd: Path | None = None


@dataclass
class RunningProcess:
    """One started child: its spec, its process and where its output goes."""

    spec: ProcessSpec
    popen: subprocess.Popen[bytes]
    log_path: Path
    pid_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError as err:
            return f"(log unreadable: {err})"
        return "\n".join(text.splitlines()[-lines:])

    def kill(self, timeout: float = 10.0) -> None:
        """SIGKILL at once (a crash, not a shutdown); forget the pid file."""
        if self.alive():
            self.popen.kill()
            self.popen.wait(timeout)
        with contextlib.suppress(FileNotFoundError):
            self.pid_path.unlink()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL; forget the pid file."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                log("process_kill", name=self.spec.name, pid=self.pid, after_seconds=timeout)
                self.popen.kill()
                self.popen.wait(timeout)
        with contextlib.suppress(FileNotFoundError):
            self.pid_path.unlink()


def start_process(
    spec: ProcessSpec, logs_dir: Path, pids_dir: Path, *, detach: bool
) -> RunningProcess:
    """Start ``spec``; with ``detach`` it outlives this process (``make up``), else it dies
    with it (``make run`` and the tests: no orphans even if this process is killed)."""
    logs_dir.mkdir(parents=True, exist_ok=True)
    pids_dir.mkdir(parents=True, exist_ok=True)
    log_path = logs_dir / f"{spec.name}.log"
    env = {**os.environ, **spec.env}
    with log_path.open("ab") as out:
        try:
            popen = subprocess.Popen(
                list(spec.argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=spec.cwd,
                start_new_session=True,  # Ctrl-C reaches us; we stop children in order
                preexec_fn=None if detach else _die_with_parent,
            )
        except OSError as err:
            raise StackError(f"{spec.name}: cannot start {spec.argv[0]}: {err}") from err
    pid_path = pids_dir / f"{spec.name}.json"
    create_time = psutil.Process(popen.pid).create_time()
    pid_path.write_text(
        json.dumps({"name": spec.name, "pid": popen.pid, "create_time": create_time,
                    "url": spec.url}) + "\n",
        encoding="utf-8",
    )
    log("process_start", name=spec.name, pid=popen.pid, url=spec.url, log=str(log_path))
    return RunningProcess(spec, popen, log_path, pid_path)


def _http_ok(url: str, timeout: float) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return 200 <= int(resp.status) < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_ready(procs: Sequence[RunningProcess], timeout: float) -> None:
    """Wait until every process answers its ready URL; raise naming those that did not."""
    deadline = time.monotonic() + timeout
    pending = list(procs)
    while pending:
        for proc in list(pending):
            if not proc.alive():
                raise StackError(
                    f"{proc.spec.name} exited with status {proc.popen.returncode} "
                    f"before it was ready; last lines of {proc.log_path}:\n{proc.log_tail()}"
                )
            if not proc.spec.ready_url or _http_ok(proc.spec.ready_url, timeout=1.0):
                pending.remove(proc)
        if not pending:
            return
        if time.monotonic() > deadline:
            names = ", ".join(p.spec.name for p in pending)
            tails = "\n".join(f"--- {p.spec.name}:\n{p.log_tail()}" for p in pending)
            raise StackError(f"not ready after {timeout:.0f}s: {names}\n{tails}")
        time.sleep(0.1)


def running_from_pid_file(pid_file: Path) -> bool:
    """Whether the process a pid file names still runs (same pid and start time)."""
    try:
        record = json.loads(pid_file.read_text(encoding="utf-8"))
        proc = psutil.Process(int(record["pid"]))
        return abs(proc.create_time() - float(record["create_time"])) < 0.01
    except (OSError, ValueError, KeyError, psutil.Error):
        return False


AGENT_PREFIX = "prometheus-shard-"


def is_server_name(name: str) -> bool:
    """Whether a pid file's name is a Prometheus or Alertmanager server of any topology
    (``prometheus``, ``prometheus-1``, ``prometheus-shard-0``, ``alertmanager-2``, ...)."""
    return name.split("-", 1)[0] in {"prometheus", "alertmanager"}


def stop_from_pid_files(pids_dir: Path, timeout: float = 10.0) -> list[str]:
    """Stop every process a pid file names (``make down``); safe to run twice.

    A pid whose start time differs from the recorded one belongs to someone else now and
    is left alone. Returns the names of the processes that were stopped.
    """
    stopped: list[str] = []
    if not pids_dir.is_dir():
        return stopped
    victims: list[tuple[str, psutil.Process]] = []
    for pid_file in sorted(pids_dir.glob("*.json")):
        try:
            record = json.loads(pid_file.read_text(encoding="utf-8"))
            proc = psutil.Process(int(record["pid"]))
            same = abs(proc.create_time() - float(record["create_time"])) < 0.01
        except (OSError, ValueError, KeyError, json.JSONDecodeError, psutil.Error):
            same = False
            proc = None
        if same and proc is not None:
            victims.append((str(record["name"]), proc))
        else:
            log("pid_file_stale", file=str(pid_file))
        with contextlib.suppress(FileNotFoundError):
            pid_file.unlink()
    # Prometheus and Alertmanager first, so nothing fires on exporters going away; a
    # sharded stack's agents before the receiver they flush their samples to.
    agents = [p for n, p in victims if n.startswith(AGENT_PREFIX)]
    servers = [p for n, p in victims if is_server_name(n) and not n.startswith(AGENT_PREFIX)]
    members = [p for n, p in victims if not is_server_name(n)]
    for group in (agents, servers, members):
        for proc in group:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.terminate()
        _gone, alive = psutil.wait_procs(group, timeout=timeout)
        for proc in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                log("process_kill", pid=proc.pid, after_seconds=timeout)
                proc.kill()
        psutil.wait_procs(alive, timeout=timeout)
    stopped.extend(name for name, _ in victims)
    for name, proc in victims:
        log("process_stop", name=name, pid=proc.pid)
    return stopped
