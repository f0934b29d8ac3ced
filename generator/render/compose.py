"""The docker compose stack: ``compose/docker-compose.yml`` and ``compose/secrets/``'s README.

Exporters run from the one image ``compose/Dockerfile`` builds (non-root,
``promfleet-exporter NAME``); Prometheus, Alertmanager, Grafana, PostgreSQL and Redis
run from images pinned to exact versions. Every service has a healthcheck; secrets are
files mounted into the containers, never values in the compose file. The training and
security exporters read what two demo writers put on shared named volumes, with the
flags the local runner gives them. Services, ports and those flags come from the
service table (:mod:`topology`); the Prometheus configuration it mounts is
``compose/prometheus.yml`` (:mod:`generator.render.prometheus`).
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
from dataclasses import dataclass
from functools import cache

from generator.model import Catalogue, Settings
from generator.render import MARKER, render_template
from generator.settings import go_duration
from topology import (
    GRAFANA_DATASOURCE_URL_ENV,
    GRAFANA_ROOT,
    PROMETHEUS_RULES_DIR,
    SECURITY_LOG,
    TRAINING_STATUS_DIR,
    Kind,
    port,
    probe_targets,
)
from topology import service as row
from topology import services as table

__all__ = ["IMAGES", "STATE_DIR", "VOLUMES", "Service", "render", "services"]


# Exact versions: Prometheus and Alertmanager as REFERENCE.md names them (the Debian
# bookworm ones the tests run), Grafana 10 (schemaVersion 39), PostgreSQL 15, Redis 7.0.
IMAGES = {
    "prometheus": "prom/prometheus:v2.42.0",
    "alertmanager": "prom/alertmanager:v0.25.0",
    "grafana": "grafana/grafana:10.4.2",
    "postgres": "postgres:15.6-bookworm",
    "redis": "redis:7.0.15-bookworm",
}
EXPORTER_IMAGE = "promfleet-exporter:0.1.0"
EXPORTER_USER = "10001:10001"  # the Dockerfile's promfleet user
ALERTMANAGER_CONFIG_DIR = "/etc/promfleet/alertmanager"
# The image's state directory: what the loopback stack keeps under ``.run/`` lives here.
# compose/Dockerfile creates the volume mount points below it owned by 10001, and a named
# volume takes that ownership when it is first used.
STATE_DIR = "/var/lib/promfleet"


@dataclass(frozen=True)
class Secret:
    name: str
    service: str
    holds: str


@dataclass(frozen=True)
class Service:
    """One compose service; ``image`` empty means the promfleet exporter image."""

    name: str
    port: int | None  # None: listens on nothing (a demo writer)
    healthcheck: tuple[str, ...]
    scraped: bool = True
    image: str = ""
    user: str = ""
    entrypoint: tuple[str, ...] = ()
    command: tuple[str, ...] = ()
    environment: tuple[tuple[str, str], ...] = ()
    secrets: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    publish: bool = False  # published on 127.0.0.1 (UIs); the rest stays on the network
    read_only: bool = False
    pid: str = ""
    comment: tuple[str, ...] = ()  # lines written above the service in the YAML


def _http_check(port: int, path: str) -> tuple[str, ...]:
    """A healthcheck for the Python image, which has neither curl nor wget."""
    code = (
        f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}{path}', timeout=4)"
    )
    return ("CMD", "python", "-c", code)


def _wget_check(port: int, path: str) -> tuple[str, ...]:
    return ("CMD", "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{port}{path}")


def _fresh_check(path: str, within_s: int) -> tuple[str, ...]:
    """Healthy while ``path`` (a file, or a directory whose entries are replaced) was
    written in the last ``within_s`` seconds; a missing path is unhealthy too."""
    code = f"import os, sys, time; sys.exit(time.time() - os.stat({path!r}).st_mtime > {within_s})"
    return ("CMD", "python", "-c", code)


def _exporter(
    name: str,
    *,
    command: tuple[str, ...] = (),
    environment: tuple[tuple[str, str], ...] = (),
    secrets: tuple[str, ...] = (),
    volumes: tuple[str, ...] = (),
    depends_on: tuple[str, ...] = (),
    pid: str = "",
) -> Service:
    """Exporter ``name`` on its port in the service table, from the exporter image."""
    listen = port(name)
    return Service(
        name=name,
        port=listen,
        healthcheck=_http_check(listen, "/healthz"),
        user=EXPORTER_USER,
        command=command or (name, f"--web.listen-address=:{listen}"),
        read_only=True,
        environment=environment,
        secrets=secrets,
        volumes=volumes,
        depends_on=depends_on,
        pid=pid,
    )


# The service table's placeholders (see topology); a container has {state}, {listen}
# and {addr:NAME} (NAME's service on the compose network), so anything else left in an
# argument is refused.
_PLACEHOLDER = re.compile(r"\{(?:state|listen|host|port|addr:[^{}]*)\}")
_ADDRESS = re.compile(r"\{addr:([^{}]*)\}")


def _compose_address(match: re.Match[str]) -> str:
    """``{addr:NAME}`` as NAME's service on the compose network, on its port in the
    table; a name the table does not hold, or one that listens on nothing (a writer),
    stays, and is refused."""
    name = match.group(1)
    if any(s.name == name and s.port is not None for s in table()):
        return f"{name}:{port(name)}"
    return match.group(0)


def _in_container(args: tuple[str, ...], listen: int | None = None) -> tuple[str, ...]:
    """Service-table arguments with the container's state directory and listen address."""
    fill = {"{state}": STATE_DIR}
    if listen is not None:
        fill["{listen}"] = f":{listen}"
    out = []
    for arg in args:
        for key, value in fill.items():
            arg = arg.replace(key, value)
        arg = _ADDRESS.sub(_compose_address, arg)
        if _PLACEHOLDER.search(arg):
            raise ValueError(f"compose cannot fill the loopback stack's argument {arg!r}")
        out.append(arg)
    return tuple(out)


def _table_exporter_command(name: str) -> tuple[str, ...]:
    """The image's ``promfleet-exporter`` arguments for exporter ``name`` of the table."""
    argv = row(name).command
    if argv[:3] != ("-m", "exporters", name):
        raise ValueError(f"the service table's {name} does not run `-m exporters {name}`")
    return _in_container(argv[2:], port(name))


def _demo_writer(
    name: str, volume: str, mount: str, output: str, comment: tuple[str, ...]
) -> Service:
    """A service-table writer run from the exporter image with its module as entrypoint.

    Its ``--interval`` loop writes at once on start, so no one-shot set-up is needed;
    it is healthy while its output is fresh, and the exporter it feeds waits for that.
    """
    argv = row(name).argv
    if argv[:1] != ("-m",):
        raise ValueError(f"the service table's writer {name} does not run a module")
    return Service(
        name=name,
        port=None,
        scraped=False,
        healthcheck=_fresh_check(output, 60),
        user=EXPORTER_USER,
        entrypoint=("python", "-m", argv[1]),
        command=_in_container(argv[2:]),
        volumes=(f"{volume}:{mount}",),
        read_only=True,
        comment=comment,
    )


TRAINING_VOLUME = "training-status"
TRAINING_MOUNT = _in_container((TRAINING_STATUS_DIR,))[0]
SECURITY_VOLUME = "security-data"
SECURITY_MOUNT = posixpath.dirname(_in_container((SECURITY_LOG,))[0])


SECRETS: tuple[Secret, ...] = (
    Secret("postgres_password", "postgres-server", "the PostgreSQL superuser's password"),
    Secret(
        "postgres_exporter_dsn",
        "postgres",
        "the exporter's libpq DSN, e.g. `postgresql://monitor:...@postgres:5432/postgres`",
    ),
    Secret("redis_exporter_url", "redis", "the Redis URL, e.g. `redis://redis:6379/0`"),
    Secret("grafana_admin_password", "grafana", "Grafana's admin password"),
)

@cache  # the table's exporter ports import the exporter modules: once, not at import
def services() -> tuple[Service, ...]:
    """Every compose service, in the service table's order, before the settings apply.

    An exporter the table has but this module does not configure runs with its defaults;
    any other service must be configured here.
    """
    configured = {s.name: s for s in _configured()}
    out = []
    for entry in table():
        if entry.name in configured:
            out.append(configured[entry.name])
        elif entry.kind is Kind.EXPORTER and not entry.argv:
            out.append(_exporter(entry.name))
        else:
            raise ValueError(f"the service table's {entry.name} has no compose service")
    return tuple(out)


def _configured() -> tuple[Service, ...]:
    """The services that need more than an exporter's defaults."""
    return (
        # pid: host, so the process groups are the host's processes, not the container's.
        _exporter("system", pid="host"),
        _exporter(
            "postgres",
            environment=(("PROMFLEET_POSTGRES_DSN_FILE", "/run/secrets/postgres_exporter_dsn"),),
            secrets=("postgres_exporter_dsn",),
            depends_on=("postgres-server",),
        ),
        _exporter(
            "redis",
            environment=(("PROMFLEET_REDIS_URL_FILE", "/run/secrets/redis_exporter_url"),),
            secrets=("redis_exporter_url",),
            depends_on=("redis-server",),
        ),
        _exporter("probe", depends_on=("app",), environment=(
            ("PROMFLEET_PROBE_TARGETS", _in_container((probe_targets(),))[0]),)),
        _demo_writer(
            "security-demo",
            SECURITY_VOLUME,
            SECURITY_MOUNT,
            _in_container((SECURITY_LOG,))[0],
            (
                "DEMO DATA: a simulated front door appending a JSON access log for the",
                "security exporter. A real deployment removes this service and mounts its",
                "own access/auth logs into `security` instead (and sets --logs to match).",
            ),
        ),
        # Tails the log; its read positions and nginx deny-list are kept on the same volume.
        _exporter(
            "security",
            command=_table_exporter_command("security"),
            volumes=(f"{SECURITY_VOLUME}:{SECURITY_MOUNT}",),
            depends_on=("security-demo",),
        ),
        _demo_writer(
            "training-demo",
            TRAINING_VOLUME,
            TRAINING_MOUNT,
            TRAINING_MOUNT,
            (
                "DEMO DATA: a simulated trainer fleet rewriting the status directory the",
                "training exporter reads. A real deployment removes this service and mounts",
                "the directory its trainers write their status records to instead.",
            ),
        ),
        _exporter(
            "training",
            command=_table_exporter_command("training"),
            volumes=(f"{TRAINING_VOLUME}:{TRAINING_MOUNT}:ro",),
            depends_on=("training-demo",),
        ),
        Service(
            name="status-demo",
            port=port("status-demo"),
            scraped=False,
            healthcheck=_http_check(port("status-demo"), "/healthz"),
            user=EXPORTER_USER,
            entrypoint=("python", "-m", "exporters.jsonstatus.demo"),
            command=("--host", "0.0.0.0", "--port", str(port("status-demo"))),
            read_only=True,
            comment=(
                "DEMO DATA: a stand-in for the JSON status endpoints of Mini-XDR, BlindspotX",
                "and the ML Security service. A real deployment removes this service and",
                "points jsonstatus's --targets at the services themselves.",
            ),
        ),
        _exporter(
            "jsonstatus",
            command=_table_exporter_command("jsonstatus"),
            depends_on=("status-demo",),
        ),
        Service(
            name="app",
            port=port("app"),
            healthcheck=_http_check(port("app"), "/healthz"),
            user=EXPORTER_USER,
            entrypoint=("python", "-m", "exporters.app.demo"),
            command=("--host", "0.0.0.0", "--port", str(port("app"))),
            read_only=True,
        ),
        Service(
            name="prometheus",
            port=port("prometheus"),
            image=IMAGES["prometheus"],
            healthcheck=_wget_check(port("prometheus"), "/-/healthy"),
            command=(
                "--config.file=/etc/prometheus/prometheus.yml",
                "--storage.tsdb.path=/prometheus",
                f"--web.listen-address=:{port('prometheus')}",
            ),
            volumes=(
                "./prometheus.yml:/etc/prometheus/prometheus.yml:ro",
                f"../rules:{PROMETHEUS_RULES_DIR}:ro",
                "prometheus-data:/prometheus",
            ),
            depends_on=("alertmanager",),
            publish=True,
        ),
        Service(
            name="alertmanager",
            port=port("alertmanager"),
            image=IMAGES["alertmanager"],
            healthcheck=_wget_check(port("alertmanager"), "/-/healthy"),
            command=(
                "--storage.path=/alertmanager",
                f"--web.listen-address=:{port('alertmanager')}",
                "--cluster.listen-address=",
            ),
            volumes=(
                f"../alertmanager:{ALERTMANAGER_CONFIG_DIR}:ro",
                "alertmanager-data:/alertmanager",
            ),
            publish=True,
        ),
        Service(
            name="grafana",
            port=port("grafana"),
            image=IMAGES["grafana"],
            scraped=False,
            healthcheck=_wget_check(port("grafana"), "/api/health"),
            environment=(
                ("GF_PATHS_PROVISIONING", f"{GRAFANA_ROOT}/provisioning"),
                (GRAFANA_DATASOURCE_URL_ENV, f"http://prometheus:{port('prometheus')}"),
                ("GF_SECURITY_ADMIN_PASSWORD__FILE", "/run/secrets/grafana_admin_password"),
                ("GF_ANALYTICS_REPORTING_ENABLED", "false"),
                ("GF_ANALYTICS_CHECK_FOR_UPDATES", "false"),
            ),
            secrets=("grafana_admin_password",),
            volumes=(f"../grafana:{GRAFANA_ROOT}:ro", "grafana-data:/var/lib/grafana"),
            depends_on=("prometheus",),
            publish=True,
        ),
        Service(
            name="postgres-server",
            port=port("postgres-server"),
            image=IMAGES["postgres"],
            scraped=False,
            healthcheck=("CMD", "pg_isready", "-U", "postgres", "-h", "127.0.0.1"),
            environment=(("POSTGRES_PASSWORD_FILE", "/run/secrets/postgres_password"),),
            secrets=("postgres_password",),
            volumes=("postgres-data:/var/lib/postgresql/data",),
        ),
        Service(
            name="redis-server",
            port=port("redis-server"),
            image=IMAGES["redis"],
            scraped=False,
            healthcheck=("CMD", "redis-cli", "-h", "127.0.0.1", "ping"),
            command=("redis-server", "--save", "", "--appendonly", "no"),
        ),
    )

VOLUMES = tuple(
    sorted(
        (
            "alertmanager-data",
            "grafana-data",
            "postgres-data",
            "prometheus-data",
            SECURITY_VOLUME,
            TRAINING_VOLUME,
        )
    )
)


RUNNING_CONFIG = "/tmp/alertmanager/alertmanager.yml"  # on the container's tmpfs


def _alertmanager(settings: Settings) -> Service:
    """Alertmanager with the receivers' secret files mounted where its config names them,
    started on a private copy that with-secrets.sh writes the secrets 0.25 cannot read
    from files into, keeping expired silences (who acknowledged what) as long as the
    metrics."""
    base = next(s for s in services() if s.name == "alertmanager")
    mount = f"./secrets/alertmanager:{settings.secrets_dir}:ro"
    start = (
        f"mkdir -p {RUNNING_CONFIG.rsplit('/', 1)[0]} && "
        f"sh {ALERTMANAGER_CONFIG_DIR}/with-secrets.sh {ALERTMANAGER_CONFIG_DIR}/alertmanager.yml "
        f'{RUNNING_CONFIG} {settings.secrets_dir} && exec /bin/alertmanager "$$@"'
    )
    return dataclasses.replace(
        base,
        entrypoint=("/bin/sh", "-c", start, "alertmanager"),
        command=(
            f"--config.file={RUNNING_CONFIG}",
            *base.command,
            f"--data.retention={go_duration(settings.alertmanager_retention)}",
        ),
        volumes=(*base.volumes, mount),
        read_only=True,  # and a tmpfs on /tmp, where the private copy is written
    )


def _prometheus(settings: Settings) -> Service:
    base = next(s for s in services() if s.name == "prometheus")
    retention = f"--storage.tsdb.retention.time={settings.prometheus_retention}"
    return dataclasses.replace(base, command=(*base.command, retention))


def render(catalogue: Catalogue, settings: Settings) -> dict[str, str]:
    """``compose/docker-compose.yml`` and the list of secret files it needs."""
    made = {"alertmanager": _alertmanager(settings), "prometheus": _prometheus(settings)}
    chosen = [made.get(s.name, s) for s in services()]
    used = {name for s in chosen for name in s.secrets}
    return {
        "compose/docker-compose.yml": render_template(
            "compose.yml.j2",
            services=chosen,
            secrets=sorted(used),
            volumes=VOLUMES,
            exporter_image=EXPORTER_IMAGE,
        ),
        "compose/secrets/README.md": render_template(
            "compose_secrets.md.j2",
            secrets=[s for s in SECRETS if s.name in used],
            secrets_dir=settings.secrets_dir,
        ),
        # The secret files are created here by hand; git must never pick them up.
        "compose/secrets/.gitignore": (
            f"# {MARKER}: the source is generator/render/compose.py.\n*\n!.gitignore\n!README.md\n"
        ),
    }
