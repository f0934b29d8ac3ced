"""The deployment topology: every service of the promfleet stack, in job order, with its
port. One table, read by the compose renderer, the Prometheus renderer and the local
runner (``python -m runner``).

An exporter's port is its ``ExporterDef.default_port``. The Prometheus job order is the
order of the scraped rows; a job this table does not name (a test's fixture exporter)
follows, by name. A row's ``argv`` is how a Python service is started, with placeholders
the runner fills on loopback and the compose renderer fills for a container:
``{listen}``, ``{host}``, ``{port}`` (its address), ``{state}`` (the state directory:
``.run/`` or the image's) and ``{addr:NAME}`` (another service's address: loopback for
the runner, the service's name on the compose network for compose).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Collection
from dataclasses import dataclass
from functools import cache

from exporters import registry
from exporters.registry import load_exporter


class Kind(enum.Enum):
    """What a service is, which decides who starts it and whether it is scraped."""

    EXPORTER = "exporter"  # a promfleet process Prometheus scrapes (exporters, the demo app)
    WRITER = "writer"  # demo data for an exporter: started with it, never scraped
    STANDIN = "standin"  # demo stand-in for a monitored service: listens, never scraped
    SERVER = "server"  # Prometheus and Alertmanager, scraping themselves
    BACKEND = "backend"  # compose only: Grafana and the databases (the runner uses local ones)


@dataclass(frozen=True)
class Service:
    """One row of the table; see the module docstring for ``argv``'s placeholders.

    ``argv`` empty for an exporter means ``-m exporters NAME --web.listen-address={listen}``.
    A writer runs ``setup_argv`` to completion before any exporter starts (the runner's
    first scrape already finds data), then ``argv`` until the stack stops; ``output`` is
    what it writes and ``feeds`` the exporter that reads it.
    """

    name: str  # the compose service, and for a scraped row the Prometheus job label
    kind: Kind
    port: int | None = None  # None: listens on nothing (a writer)
    argv: tuple[str, ...] = ()
    setup_argv: tuple[str, ...] = ()
    feeds: str = ""
    output: str = ""
    ready_path: str = "/metrics"

    @property
    def scraped(self) -> bool:
        return self.kind in (Kind.EXPORTER, Kind.SERVER)

    @property
    def command(self) -> tuple[str, ...]:
        """``argv``, or for an exporter served by the runtime its default."""
        if self.argv or self.kind is not Kind.EXPORTER:
            return self.argv
        return ("-m", "exporters", self.name, "--web.listen-address={listen}")


# Where the demo writers put what the training and security exporters read.
TRAINING_STATUS_DIR = "{state}/training"
SECURITY_LOG = "{state}/security/access.log"
TRAINING_WRITE_INTERVAL = "5s"  # the exporter flags a running job stalled after 15 min
SECURITY_LINES_PER_SECOND = "2"
APP_PORT = 8080  # exporters.app.demo's default --port
STATUS_DEMO_PORT = 8090  # exporters.jsonstatus.demo's default --port
# Inside the compose stack's containers: where rules/ and grafana/ are mounted.
PROMETHEUS_RULES_DIR = "/etc/prometheus/rules"
GRAFANA_ROOT = "/etc/promfleet/grafana"
# The environment variable Grafana's provisioned datasource reads Prometheus' URL from.
GRAFANA_DATASOURCE_URL_ENV = "PROMFLEET_PROMETHEUS_URL"


def _security_logs() -> str:
    """The security exporter's ``--logs``: the demo access log, and where it rotates to."""
    return json.dumps([{"name": "access", "path": SECURITY_LOG, "format": "json",
                        "rotated": [SECURITY_LOG + ".1"]}])


def probe_targets() -> str:
    """The probe exporter's targets on the stack (``PROMFLEET_PROBE_TARGETS``, the runner
    and compose alike): the servers, the demo app, and FossaWork's browser-automation
    dependency and background scheduler, each a target of its own (the demo app answers
    both here; a real deployment points them at the services' own checks)."""
    targets = [
        {"name": "prometheus", "url": "http://{addr:prometheus}/-/healthy",
         "health_json": False},
        {"name": "alertmanager", "url": "http://{addr:alertmanager}/-/healthy",
         "health_json": False},
        {"name": "app", "url": "http://{addr:app}/healthz"},
        {"name": "browser-automation", "url": "http://{addr:app}/healthz/browser"},
        {"name": "scheduler", "url": "http://{addr:app}/healthz/scheduler"},
    ]
    return json.dumps(targets)


def jsonstatus_targets() -> str:
    """The jsonstatus exporter's ``--targets``: the status endpoints of Mini-XDR,
    BlindspotX and the ML Security service, served in the stack by the stand-in
    ``status-demo``. A real deployment points these URLs at the services."""
    base = "http://{addr:status-demo}"
    rows = [
        ("minixdr-telemetry", "/api/telemetry/status", "minixdr-telemetry", {}),
        ("minixdr-orchestrator", "/api/orchestrator/status", "minixdr-orchestrator", {}),
        ("minixdr-ml", "/api/ml/status", "minixdr-ml", {}),
        ("minixdr-federated", "/api/federated/status", "minixdr-federated", {}),
        ("minixdr-distributed", "/api/distributed/health", "minixdr-distributed", {}),
        # BlindspotX answers 503 with the same body when a component is down: read it.
        ("blindspotx", "/api/health", "blindspotx-health", {"valid_status": [200, 503]}),
        ("mlsecurity", "/dashboard-data", "mlsecurity-dashboard", {}),
    ]
    return json.dumps([{"name": name, "url": base + path, "mapping": mapping, **extra}
                       for name, path, mapping, extra in rows])


@cache
def services() -> tuple[Service, ...]:
    """Every service, in start order, which is also the job order of the scraped ones.

    An exporter the registry discovers that :func:`_named` does not list runs with its
    defaults after the listed exporters (before ``app``), so adding one is one module.
    """
    rows = list(_named())
    listed = {r.name for r in rows}
    extra = [Service(name, Kind.EXPORTER, load_exporter(name).default_port)
             for name in registry.EXPORTERS if name not in listed]
    at = next(i for i, r in enumerate(rows) if r.name == "app")
    return (*rows[:at], *extra, *rows[at:])


def _named() -> tuple[Service, ...]:
    """The services that this table places and configures by name."""

    def exporter(name: str, argv: tuple[str, ...] = ()) -> Service:
        return Service(name, Kind.EXPORTER, load_exporter(name).default_port, argv)

    training_demo = ("-m", "exporters.training.demo", "--directory", TRAINING_STATUS_DIR)
    security_demo = ("-m", "exporters.security.demo", "--log", SECURITY_LOG,
                     "--rate", SECURITY_LINES_PER_SECOND)
    return (
        exporter("system"),
        exporter("postgres"),
        exporter("redis"),
        exporter("probe"),
        # The demo front door's access log, appended at a bounded rate; the exporter
        # starts at the beginning of it and keeps its place and deny-list beside it.
        Service("security-demo", Kind.WRITER, feeds="security",
                setup_argv=(*security_demo, "--once"),
                argv=(*security_demo, "--interval", "1s"), output=SECURITY_LOG),
        exporter("security", ("-m", "exporters", "security", "--web.listen-address={listen}",
                              f"--logs={_security_logs()}", "--start-at=beginning",
                              "--position.file={state}/security/positions.json",
                              "--denylist.file={state}/security/deny.conf")),
        # A simulated trainer fleet keeps the status directory fresh.
        Service("training-demo", Kind.WRITER, feeds="training",
                setup_argv=(*training_demo, "--once"),
                argv=(*training_demo, "--interval", TRAINING_WRITE_INTERVAL),
                output=TRAINING_STATUS_DIR),
        exporter("training", ("-m", "exporters", "training", "--web.listen-address={listen}",
                              f"--directory={TRAINING_STATUS_DIR}")),
        # A stand-in for the JSON status endpoints of Mini-XDR, BlindspotX and the ML
        # Security service (not scraped: it has no metrics), and the exporter reading them.
        Service("status-demo", Kind.STANDIN, STATUS_DEMO_PORT,
                ("-m", "exporters.jsonstatus.demo", "--host", "{host}", "--port", "{port}"),
                ready_path="/healthz"),
        exporter("jsonstatus", ("-m", "exporters", "jsonstatus", "--web.listen-address={listen}",
                                f"--targets={jsonstatus_targets()}")),
        # The instrumented demo service: its own /metrics, scraped as job "app".
        Service("app", Kind.EXPORTER, APP_PORT,
                ("-m", "exporters.app.demo", "--host", "{host}", "--port", "{port}"),
                ready_path="/healthz"),
        Service("prometheus", Kind.SERVER, 9090),
        Service("alertmanager", Kind.SERVER, 9093),
        Service("grafana", Kind.BACKEND, 3000),
        Service("postgres-server", Kind.BACKEND, 5432),
        Service("redis-server", Kind.BACKEND, 6379),
    )


def service(name: str) -> Service:
    """The row named ``name``; a :class:`KeyError` naming the known ones otherwise."""
    for row in services():
        if row.name == name:
            return row
    raise KeyError(f"no service {name!r} in the topology; known: "
                   f"{', '.join(s.name for s in services())}")


def port(name: str) -> int:
    """The port service ``name`` listens on; a writer has none (:class:`KeyError`)."""
    row = service(name)
    if row.port is None:
        raise KeyError(f"service {name!r} listens on no port")
    return row.port


def job_order(jobs: Collection[str]) -> list[str]:
    """``jobs`` in the table's job order; jobs the table does not name follow, by name."""
    known = [s.name for s in services() if s.scraped]
    return [j for j in known if j in jobs] + sorted(j for j in jobs if j not in known)


# Past one machine (deploy/ha/, deploy/sharded/ and `make run TOPOLOGY=ha|sharded`): the
# servers are named after the table's rows, and Alertmanager peers gossip on their own port.
ALERTMANAGER_CLUSTER_PORT = 9094  # Alertmanager's default --cluster.listen-address port
RECEIVER = "prometheus-receiver"  # where the shards remote-write and the rules run


def replicas(name: str, count: int) -> tuple[str, ...]:
    """``NAME-0`` .. ``NAME-<count-1>``: the replicas of row ``name`` (``prometheus-0``)."""
    service(name)  # a row the table knows
    return tuple(f"{name}-{index}" for index in range(count))


def shards(count: int) -> tuple[str, ...]:
    """``prometheus-shard-0`` ..: the Prometheus agents that split the scrape targets."""
    service("prometheus")
    return tuple(f"prometheus-shard-{index}" for index in range(count))
