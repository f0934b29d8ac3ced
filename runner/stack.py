"""The live stack: exporters, Prometheus and Alertmanager on loopback, from the catalogue.

Everything lives under one state directory (``.run/`` for ``make run``): the generator's
output rendered with loopback settings, each Prometheus server's config, placeholder
secret files, the servers' storage, the demo writers' data (``training/`` status records,
``security/access.log``), logs and pid files. :class:`Stack` is used by ``make run``/``up``
and by the live tests alike. Its ``topology`` (:mod:`runner.servers`) says which servers
run: one Prometheus and one Alertmanager, an HA pair with an Alertmanager cluster, or
sharded agents with a receiver.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from generator.__main__ import OutputError, render_all
from generator.__main__ import write as write_outputs
from generator.catalogue import load as load_catalogue
from generator.model import Catalogue, Settings
from generator.render.prometheus import (
    ha_replica_config,
    prometheus_config,
    receiver_config,
    shard_config,
)
from generator.scaleout import AGENT_FLAGS, RECEIVER_FLAGS, alertmanager_cluster_flags
from generator.settings import SettingsError, go_duration, load_settings, settings_from
from generator.validate import CatalogueError, validate
from runner.log import log
from runner.members import Member
from runner.process import (
    ProcessSpec,
    RunningProcess,
    StackError,
    free_port,
    start_process,
    stop_from_pid_files,
    wait_ready,
)
from runner.servers import Role, Server, describe, layout

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER_URL = "http://127.0.0.1:9/promfleet-placeholder"  # discard port: fails at once
INJECTED = re.compile(r"@secret:([A-Za-z0-9_.-]+)@")


@dataclass(frozen=True)
class StackConfig:
    """What to start and how.

    ``settings`` are generator settings (``generator.model.Settings`` fields, plus any
    the generator accepts, e.g. ``webhook_override_url``) laid over the loopback
    defaults. ``ports`` pins a member's or a server's port (``prometheus`` and
    ``alertmanager`` name the one to query: the first replica or peer, the receiver);
    the rest are free ports. ``topology`` is ``single``, ``ha`` or ``sharded``.
    ``extra_targets`` adds scrape jobs the caller owns (a test's
    fixture exporter), ``extra_rule_files`` rule files the caller owns.
    """

    state_dir: Path
    members: tuple[Member, ...]
    settings: Mapping[str, Any] = field(default_factory=dict)
    ports: Mapping[str, int] = field(default_factory=dict)
    detach: bool = False
    extra_targets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    extra_rule_files: tuple[Path, ...] = ()
    ready_timeout_seconds: float = 30.0
    topology: str = "single"


@dataclass(frozen=True)
class Status:
    """One look at the stack: targets up out of total, firing alerts by severity, and
    which demo writers (not scraped, so not targets) are running."""

    targets_up: int
    targets_total: int
    down: tuple[str, ...]
    firing: Mapping[str, int]
    writers: Mapping[str, bool] = field(default_factory=dict)  # name -> running

    def line(self) -> str:
        if self.targets_total == 0:
            text = f"{time.strftime('%H:%M:%S')} Prometheus is discovering its targets"
        else:
            firing = sum(self.firing.values())
            text = (f"{time.strftime('%H:%M:%S')} targets up {self.targets_up}/"
                    f"{self.targets_total}, alerts firing {firing}")
            by_sev = " ".join(f"{sev}={n}" for sev, n in sorted(self.firing.items()))
            if by_sev:
                text += f" ({by_sev})"
        if self.writers:
            running = sum(self.writers.values())
            text += f", writers running {running}/{len(self.writers)}"
        if self.down:
            text += f"; down: {', '.join(self.down)}"
        stopped = sorted(name for name, alive in self.writers.items() if not alive)
        if stopped:
            text += f"; writers stopped: {', '.join(stopped)}"
        return text


def http_json(url: str, timeout: float = 5.0, data: bytes | None = None) -> Any:
    """GET (or POST ``data``) and decode JSON; raise :class:`StackError` on failure."""
    req = urllib.request.Request(url, data=data)
    if data is not None:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as err:
        body = err.read().decode("utf-8", "replace")[:500]
        raise StackError(f"{url}: HTTP {err.code}: {body}") from err
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise StackError(f"{url}: {err}") from err


def generator_settings_fields() -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(Settings))


class Stack:
    """A started (or startable) live stack; see the module docstring."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.state_dir = config.state_dir.resolve()
        self.out_dir = self.state_dir / "out"
        self.secrets_dir = self.state_dir / "secrets"
        self.logs_dir = self.state_dir / "logs"
        self.pids_dir = self.state_dir / "pids"
        self.ports: dict[str, int] = {}
        self.cluster_ports: dict[str, int] = {}  # an Alertmanager peer's gossip port
        self.processes: dict[str, RunningProcess] = {}
        self.servers: tuple[Server, ...] = ()
        self.settings: dict[str, Any] = {}
        self.generator_settings = Settings()  # what the generator read them as

    # URLs ----------------------------------------------------------------------------

    def address(self, name: str) -> str:
        return f"{HOST}:{self.ports[name]}"

    @property
    def prometheus_url(self) -> str:
        return f"http://{self.address('prometheus')}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://{self.address('alertmanager')}"

    def member_url(self, name: str) -> str:
        return f"http://{self.address(name)}/metrics"

    @property
    def scraped(self) -> tuple[Member, ...]:
        """The members Prometheus scrapes (every member but the demo writers)."""
        return tuple(m for m in self.config.members if m.scraped)

    @property
    def writers(self) -> tuple[Member, ...]:
        """The demo writers: started and stopped with the stack, never scraped."""
        return tuple(m for m in self.config.members if not m.scraped and not m.standin)

    def writer_output(self, name: str) -> str:
        """What writer ``name`` writes (a path under the state directory)."""
        member = next(m for m in self.config.members if m.name == name)
        return self.fill(member.output)

    def server_url(self, name: str) -> str:
        return f"http://{self.address(name)}"

    @property
    def prometheus_servers(self) -> tuple[Server, ...]:
        return tuple(s for s in self.servers if s.role.prometheus)

    @property
    def alertmanager_servers(self) -> tuple[Server, ...]:
        return tuple(s for s in self.servers if not s.role.prometheus)

    @property
    def alertmanager_urls(self) -> list[str]:
        """Every Alertmanager (each peer of a cluster): Prometheus sends to them all."""
        return [self.server_url(s.name) for s in self.alertmanager_servers]

    @property
    def target_urls(self) -> list[str]:
        """The Prometheus servers whose targets together are every target: the shards,
        or the one (first) Prometheus that scrapes them all."""
        agents = [s for s in self.servers if s.role is Role.AGENT]
        return [self.server_url(s.name) for s in agents] or [self.prometheus_url]

    def is_server(self, name: str) -> bool:
        return any(s.name == name for s in self.servers) or name in {"prometheus",
                                                                     "alertmanager"}

    def server_lines(self) -> list[tuple[str, str, str]]:
        """(name, URL, what it is) for each server, as ``make run`` prints them."""
        settings = self.generator_settings
        peers = len(self.alertmanager_servers)
        out = []
        for server in self.servers:
            note = describe(server, settings, peers)
            if server.name in self.cluster_ports:
                note += f", gossip on {HOST}:{self.cluster_ports[server.name]}"
            out.append((server.name, self.server_url(server.name), note))
        return out

    def urls(self) -> dict[str, str]:
        out = {"prometheus": self.prometheus_url, "alertmanager": self.alertmanager_url}
        for server in self.servers:
            out[server.name] = self.server_url(server.name)
        for member in self.scraped:
            out[member.name] = self.member_url(member.name)
        return out

    # Start -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start members, render the config, start Alertmanager and Prometheus; on any
        failure stop what was started and raise :class:`StackError`."""
        for binary in ("prometheus", "prometheus-alertmanager"):
            if shutil.which(binary) is None:
                raise StackError(f"{binary} not found: install the Debian package "
                                 f"({'prometheus' if binary == 'prometheus' else binary})")
        self.servers = self._layout()  # before anything is written: a bad count stops here
        if any(self.pids_dir.glob("*.json")):
            stop_from_pid_files(self.pids_dir)  # a stack left in this state dir
        for sub in (self.out_dir, *(self.state_dir / f"{s.name}-data" for s in self.servers)):
            shutil.rmtree(sub, ignore_errors=True)
        for sub in (self.out_dir, self.secrets_dir, self.logs_dir, self.pids_dir):
            sub.mkdir(parents=True, exist_ok=True)
        for name in [m.name for m in self.config.members if m.scraped or m.standin]:
            self.ports[name] = self.config.ports.get(name) or free_port(HOST)
        for server in self.servers:
            kind = "prometheus" if server.role.prometheus else "alertmanager"
            pinned = self.config.ports.get(server.name) or (
                self.config.ports.get(kind) if server.primary else None)
            self.ports[server.name] = pinned or free_port(HOST)
            if server.primary:  # ``prometheus`` / ``alertmanager``: the one to query
                self.ports[kind] = self.ports[server.name]
        if len(self.alertmanager_servers) > 1:
            for server in self.alertmanager_servers:
                self.cluster_ports[server.name] = free_port(HOST)
        try:
            self._start_members()
            self._render()
            self._start_servers()
        except BaseException:
            self.stop()
            raise
        writers = {m.name: self.writer_output(m.name) for m in self.writers}
        (self.state_dir / "stack.json").write_text(
            json.dumps({"urls": self.urls(), "ports": self.ports, "writers": writers,
                        "topology": self.config.topology, "targets_from": self.target_urls},
                       indent=2) + "\n",
            encoding="utf-8")

    def _layout(self) -> tuple[Server, ...]:
        """The topology's servers, from the settings given (checked here, by name)."""
        try:
            settings = settings_from(dict(self.config.settings))
            return layout(self.config.topology, settings)
        except (SettingsError, ValueError) as err:
            raise StackError(f"cannot lay out the {self.config.topology!r} topology: "
                             f"{err}") from err

    def _spawn(self, spec: ProcessSpec) -> RunningProcess:
        proc = start_process(spec, self.logs_dir, self.pids_dir, detach=self.config.detach)
        self.processes[spec.name] = proc
        return proc

    def member_spec(self, member: Member) -> ProcessSpec:
        if not member.scraped and not member.standin:  # a writer: ready once started
            return ProcessSpec(
                name=member.name,
                argv=tuple(self.fill(a) for a in member.command(HOST, None)),
                ready_url="",
                url=self.fill(member.output),
                env={k: self.fill(v) for k, v in member.env.items()},
                cwd=REPO_ROOT,
            )
        listen = self.address(member.name)
        return ProcessSpec(
            name=member.name,
            argv=tuple(self.fill(a) for a in member.command(HOST, self.ports[member.name])),
            ready_url=f"http://{listen}{member.ready_path}",
            url=self.member_url(member.name),
            env={k: self.fill(v) for k, v in member.env.items()},
            cwd=REPO_ROOT,
        )

    def fill(self, text: str) -> str:
        """Replace ``{addr:NAME}`` by the ``host:port`` of member (or server) NAME, and
        ``{state}`` by the state directory."""
        for name in self.ports:
            text = text.replace(f"{{addr:{name}}}", self.address(name))
        return text.replace("{state}", str(self.state_dir))

    def _set_up(self, member: Member) -> None:
        """Run a member's one-shot set-up (a writer's first batch) to completion."""
        argv = member.setup_command(HOST, self.ports.get(member.name))
        if not argv:
            return
        env = {**os.environ, **{k: self.fill(v) for k, v in member.env.items()}}
        try:
            done = subprocess.run([self.fill(a) for a in argv], cwd=REPO_ROOT, env=env,
                                  capture_output=True, text=True, timeout=60, check=False)
        except subprocess.TimeoutExpired as err:
            raise StackError(f"{member.name}: set-up did not finish in 60 s") from err
        if done.returncode != 0:
            raise StackError(f"{member.name}: set-up failed ({done.returncode}):\n"
                             f"{done.stderr[-2000:]}{done.stdout[-500:]}")
        with (self.logs_dir / f"{member.name}.log").open("a", encoding="utf-8") as out:
            out.write(done.stderr + done.stdout)
        log("member_set_up", name=member.name)

    def _start_members(self) -> None:
        for member in self.config.members:
            self._set_up(member)
        started = [self._spawn(self.member_spec(m)) for m in self.config.members]
        wait_ready(started, self.config.ready_timeout_seconds)

    def start_member(self, name: str) -> None:
        """Start a member again (after :meth:`stop_member`) on the same port."""
        member = next(m for m in self.config.members if m.name == name)
        wait_ready([self._spawn(self.member_spec(member))], self.config.ready_timeout_seconds)

    def stop_member(self, name: str) -> None:
        """Stop one member: its target goes down while the rest runs on."""
        proc = self.processes.pop(name)
        proc.stop()
        log("member_stopped", name=name)

    def targets(self) -> dict[str, tuple[str, ...]]:
        jobs: dict[str, tuple[str, ...]] = {
            m.name: (self.address(m.name),) for m in self.scraped}
        jobs["prometheus"] = tuple(self.address(s.name) for s in self.prometheus_servers)
        jobs["alertmanager"] = tuple(self.address(s.name) for s in self.alertmanager_servers)
        for job, addrs in self.config.extra_targets.items():
            jobs[job] = tuple(jobs.get(job, ())) + tuple(addrs)
        return jobs

    def _settings(self) -> dict[str, Any]:
        known = generator_settings_fields()
        defaults: dict[str, Any] = {
            "alertmanager_url": self.address("alertmanager"),
            "scrape_interval": "5s",
            "evaluation_interval": "5s",
            "scrape_timeout": "4s",
            "targets": {job: list(addrs) for job, addrs in self.targets().items()},
            "secrets_dir": str(self.secrets_dir),
        }
        settings = {k: v for k, v in defaults.items() if k in known}
        settings.update(self.config.settings)
        return settings

    def _render(self) -> None:
        """The generator's outputs with loopback settings under ``out/``, the secrets
        Alertmanager needs, and the loopback ``prometheus.yml``."""
        self.settings = self._settings()
        settings_file = self.state_dir / "settings.yml"  # kept: what this stack ran with
        settings_file.write_text(yaml.safe_dump(self.settings, sort_keys=True), encoding="utf-8")
        try:
            settings = load_settings(settings_file)
            catalogue = validate(load_catalogue(), settings=settings)
            outputs = render_all(catalogue, settings)
        except (SettingsError, CatalogueError, OutputError) as err:
            raise StackError(f"the generator refused the loopback settings: {err}") from err
        self.generator_settings = settings
        write_outputs(self.out_dir, outputs)
        log("rendered", out=str(self.out_dir), rule_files=len(self.rule_files()))
        self._placeholder_secrets(settings)
        self._running_alertmanager_config(settings)
        self._write_prometheus_config(catalogue, settings)

    def rule_files(self) -> list[Path]:
        files = sorted((self.out_dir / "rules").glob("*.rules.yml"))
        return files + [Path(p).resolve() for p in self.config.extra_rule_files]

    @property
    def alertmanager_config(self) -> Path:
        return self.out_dir / "alertmanager" / "alertmanager.yml"

    @property
    def alertmanager_running_config(self) -> Path:
        """The copy Alertmanager loads, with the secrets it cannot read from files."""
        return self.out_dir / "alertmanager" / "alertmanager.running.yml"

    def _running_alertmanager_config(self, settings: Settings) -> None:
        argv = ["sh", str(self.alertmanager_config.parent / "with-secrets.sh"),
                str(self.alertmanager_config), str(self.alertmanager_running_config),
                settings.secrets_dir]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        if done.returncode != 0:
            raise StackError(f"with-secrets.sh failed ({done.returncode}): {done.stderr.strip()}")

    def _placeholder_secrets(self, settings: Settings) -> None:
        """Create every secret file the Alertmanager config names and that is missing.

        A placeholder URL points at the discard port, so such a receiver fails to notify
        at once (visible as Alertmanager's own failed-notification metric).
        """
        if not self.alertmanager_config.is_file():
            raise StackError(f"the generator wrote no {self.alertmanager_config}")
        text = self.alertmanager_config.read_text(encoding="utf-8")
        config = yaml.safe_load(text)
        secrets_dir = settings.secrets_dir
        # Secrets Alertmanager 0.25 cannot read from a file: with-secrets.sh writes them in.
        injected = [
            (name, str(Path(secrets_dir) / name)) for name in sorted(set(INJECTED.findall(text)))
        ]
        for key, value in [*_walk_file_keys(config), *injected]:
            path = Path(value)
            if not path.is_absolute():
                path = self.alertmanager_config.parent / path
            if path.exists():
                continue
            try:
                path.resolve().relative_to(self.state_dir)
            except ValueError as err:
                raise StackError(
                    f"alertmanager.yml names secret file {path} ({key}) outside the state "
                    f"directory; render with a secrets directory under {self.state_dir}"
                ) from err
            path.parent.mkdir(parents=True, exist_ok=True)
            text = PLACEHOLDER_URL if "url" in key else "promfleetplaceholder"
            path.write_text(text, encoding="utf-8")  # 0.25 keeps a trailing newline
            path.chmod(0o600)
            log("secret_placeholder", key=key, file=str(path))

    def prometheus_config_path(self, name: str) -> Path:
        return self.state_dir / f"{name}.yml"

    def _write_prometheus_config(self, catalogue: Catalogue, settings: Settings) -> None:
        """Each Prometheus server's configuration (as ``compose/`` and ``deploy/`` have
        them), on loopback addresses."""
        targets = {job: list(addrs) for job, addrs in self.targets().items()}
        rules = [str(p) for p in self.rule_files()]
        ams = [self.address(s.name) for s in self.alertmanager_servers]
        for server in self.prometheus_servers:
            if server.role is Role.REPLICA:
                text = ha_replica_config(catalogue, settings, targets, rules, ams, server.name)
            elif server.role is Role.AGENT:
                text = shard_config(catalogue, settings, targets, server.index,
                                    self.address("prometheus"))
            elif server.role is Role.RECEIVER:
                text = receiver_config(catalogue, settings, rules, ams)
            else:
                text = prometheus_config(catalogue, settings, targets, rules, ams)
            self.prometheus_config_path(server.name).write_text(text, encoding="utf-8")

    def _alertmanager_spec(self, server: Server) -> ProcessSpec:
        settings = self.generator_settings
        name = server.name
        if name in self.cluster_ports:
            address = f"{HOST}:{self.cluster_ports[name]}"
            others = [f"{HOST}:{port}" for peer, port in self.cluster_ports.items()
                      if peer != name]
            # A peer not listening yet is retried at this interval (10 s by default).
            cluster: tuple[str, ...] = (*alertmanager_cluster_flags(address, address, others),
                                        "--cluster.reconnect-interval=1s")
        else:
            cluster = ("--cluster.listen-address=",)
        return ProcessSpec(
            name=name,
            argv=("prometheus-alertmanager",
                  f"--config.file={self.alertmanager_running_config}",
                  f"--storage.path={self.state_dir / f'{name}-data'}",
                  f"--web.listen-address={self.address(name)}",
                  f"--data.retention={go_duration(settings.alertmanager_retention)}",
                  *cluster,
                  "--log.format=json"),
            ready_url=f"{self.server_url(name)}/-/ready",
            url=self.server_url(name),
            cwd=self.state_dir,
        )

    def _prometheus_spec(self, server: Server) -> ProcessSpec:
        settings = self.generator_settings
        name = server.name
        common = (f"--config.file={self.prometheus_config_path(name)}",
                  f"--web.listen-address={self.address(name)}",
                  "--web.enable-lifecycle")
        if server.role is Role.AGENT:
            argv: tuple[str, ...] = (
                *AGENT_FLAGS, *common,
                f"--storage.agent.path={self.state_dir / f'{name}-data'}",
                # Stopped after its receiver, it gives up flushing at once, not in 1 min.
                "--storage.remote.flush-deadline=5s")
        else:
            argv = (
                *common,
                *(RECEIVER_FLAGS if server.role is Role.RECEIVER else ()),
                f"--storage.tsdb.path={self.state_dir / f'{name}-data'}",
                f"--storage.tsdb.retention.time={settings.prometheus_retention}",
                # An alert that fires before Alertmanager is discovered (about 5 s)
                # is dropped; resending each evaluation delivers it at once after.
                f"--rules.alert.resend-delay={self.settings.get('evaluation_interval', '5s')}")
        return ProcessSpec(
            name=name,
            argv=("prometheus", *argv, "--log.format=json"),
            ready_url=f"{self.server_url(name)}/-/ready",
            url=self.server_url(name),
            cwd=self.state_dir,
        )

    def _start_servers(self) -> None:
        """The Alertmanagers, then the Prometheus servers (a receiver before its shards)."""
        ams = [self._spawn(self._alertmanager_spec(s)) for s in self.alertmanager_servers]
        proms = sorted(self.prometheus_servers, key=lambda s: s.role is Role.AGENT)
        procs = [*ams, *(self._spawn(self._prometheus_spec(s)) for s in proms)]
        wait_ready(procs, self.config.ready_timeout_seconds)
        if self.cluster_ports:
            self._wait_for_cluster()

    def _wait_for_cluster(self) -> None:
        """Until every Alertmanager peer sees all the others (the cluster formed)."""
        want = len(self.cluster_ports)
        deadline = time.monotonic() + self.config.ready_timeout_seconds
        pending = [s.name for s in self.alertmanager_servers]
        seen: dict[str, int] = {}
        while pending:
            for name in list(pending):
                try:
                    status = http_json(f"{self.server_url(name)}/api/v2/status", timeout=2)
                    seen[name] = len(status["cluster"]["peers"])
                except (StackError, KeyError, TypeError):
                    seen[name] = 0
                if seen[name] == want:
                    pending.remove(name)
            if pending and time.monotonic() > deadline:
                raise StackError("the Alertmanager cluster did not form in "
                                 f"{self.config.ready_timeout_seconds:.0f}s: " + ", ".join(
                                     f"{n} sees {seen[n]} of {want} peers" for n in pending))
            if pending:
                time.sleep(0.2)
        log("alertmanager_cluster", peers=want)

    # Stop ------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop the shards, then the other servers, then the members; idempotent."""
        agents = {s.name for s in self.servers if s.role is Role.AGENT}
        order = sorted(self.processes,
                       key=lambda n: (n not in agents, not self.is_server(n)))
        for name in order:
            self.processes.pop(name).stop()

    def kill(self, name: str) -> None:
        """SIGKILL one process (a server crashing, a machine lost): the rest runs on."""
        proc = self.processes.pop(name)
        proc.kill()
        log("process_killed", name=name)

    # Looking at it ---------------------------------------------------------------------

    def query(self, promql: str, timeout: float = 10.0) -> list[dict[str, Any]]:
        """An instant query; the ``result`` list (raises on a PromQL error)."""
        data = urllib.parse.urlencode({"query": promql}).encode()
        body = http_json(f"{self.prometheus_url}/api/v1/query", timeout, data=data)
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def status(self) -> Status:
        writers = {m.name: m.name in self.processes and self.processes[m.name].alive()
                   for m in self.writers}
        return read_status(self.prometheus_url, writers, self.target_urls)


def read_status(prometheus_url: str, writers: Mapping[str, bool] | None = None,
                targets_from: Sequence[str] = ()) -> Status:
    """Targets up/total (from each of ``targets_from``, the shards, else from
    ``prometheus_url``) and firing alerts by severity, from Prometheus' API; ``writers``
    (name -> running) is passed through to the status line."""
    active: list[Mapping[str, Any]] = []
    for url in targets_from or [prometheus_url]:
        targets = http_json(f"{url}/api/v1/targets?state=active")["data"]
        active.extend(targets["activeTargets"])
    up = [t for t in active if t.get("health") == "up"]
    down = tuple(sorted(f"{t['labels'].get('job')}/{t['labels'].get('instance')}"
                        for t in active if t.get("health") == "down"))
    alerts = http_json(f"{prometheus_url}/api/v1/alerts")["data"]["alerts"]
    firing = Counter(a["labels"].get("severity", "none") for a in alerts
                     if a.get("state") == "firing")
    return Status(len(up), len(active), down, dict(firing), dict(writers or {}))


def _walk_file_keys(node: Any, key: str = "") -> list[tuple[str, str]]:
    """Every ``(key, path)`` in an Alertmanager config whose key ends in ``_file``."""
    found: list[tuple[str, str]] = []
    if isinstance(node, Mapping):
        for k, v in node.items():
            if isinstance(v, str) and str(k).endswith("_file"):
                found.append((str(k), v))
            else:
                found.extend(_walk_file_keys(v, str(k)))
    elif isinstance(node, list):
        for item in node:
            found.extend(_walk_file_keys(item, key))
    return found
