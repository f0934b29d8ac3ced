"""Which exporters the live stack runs: the data-driven list of stack members.

A member is one exporter process, scraped as one Prometheus job of the same name. A
member whose module is absent from this checkout is skipped, and the stack says so.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Member:
    """One exporter of the stack.

    ``argv`` is run as ``python <argv...>`` with ``{listen}``, ``{host}`` and ``{port}``
    replaced by the address the stack chose (default: ``-m exporters NAME``), and
    ``{addr:OTHER}`` in argv and env by another member's (or ``prometheus``'s) address;
    ``module`` is what must be importable for the member to exist. ``env`` is added to
    the child's environment (it may carry a DSN, so it stays out of repr and logs).
    """

    name: str  # the Prometheus job label
    module: str
    argv: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    ready_path: str = "/metrics"
    metrics_path: str = "/metrics"

    def command(self, host: str, port: int) -> tuple[str, ...]:
        args = self.argv or ("-m", "exporters", self.name, "--web.listen-address={listen}")
        fill = {"{listen}": f"{host}:{port}", "{host}": host, "{port}": str(port)}
        out = []
        for arg in args:
            for key, value in fill.items():
                arg = arg.replace(key, value)
            out.append(arg)
        return (sys.executable, *out)

    def available(self) -> bool:
        """Whether this checkout has the member: its module, and for an exporter served
        by the runtime, an ``EXPORTER`` in it (a module being written may lack one)."""
        if not _present(self.module):
            return False
        if self.argv:
            return True
        from exporters.registry import ExporterNotFound, load_exporter

        try:
            load_exporter(self.name)
        except ExporterNotFound:
            return False
        return True


def _pg_dsn(environ: Mapping[str, str]) -> str:
    return environ.get("PROMFLEET_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def _redis_url(environ: Mapping[str, str]) -> str:
    return environ.get("PROMFLEET_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _probe_targets() -> str:
    """What the probe exporter checks on the stack: the servers, and the demo app."""
    targets = [
        {"name": "prometheus", "url": "http://{addr:prometheus}/-/healthy",
         "health_json": False},
        {"name": "alertmanager", "url": "http://{addr:alertmanager}/-/healthy",
         "health_json": False},
    ]
    if _present("exporters.app.demo"):
        targets.append({"name": "app", "url": "http://{addr:app}/healthz"})
    return json.dumps(targets)


def _present(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def default_members(environ: Mapping[str, str] | None = None) -> tuple[Member, ...]:
    """Every member the stack knows, in start order; the local servers by default.

    An environment variable the user already set (``PROMFLEET_POSTGRES_DSN``, ...) wins
    over the loopback default given here.
    """
    env = dict(os.environ if environ is None else environ)

    def default(key: str, value: str) -> dict[str, str]:
        return {} if key in env else {key: value}

    return (
        Member("system", "exporters.system"),
        Member("postgres", "exporters.postgres",
               env=default("PROMFLEET_POSTGRES_DSN", _pg_dsn(env))),
        Member("redis", "exporters.redis",
               env=default("PROMFLEET_REDIS_URL", _redis_url(env))),
        Member("probe", "exporters.probe",
               env=default("PROMFLEET_PROBE_TARGETS", _probe_targets())),
        Member("security", "exporters.security"),
        Member("training", "exporters.training"),
        # The instrumented demo service: its own /metrics, scraped as job "app".
        Member("app", "exporters.app.demo",
               argv=("-m", "exporters.app.demo", "--host", "{host}", "--port", "{port}"),
               ready_path="/healthz"),
    )


def select(
    members: tuple[Member, ...], names: tuple[str, ...] | None = None
) -> tuple[tuple[Member, ...], tuple[Member, ...]]:
    """Split into (members to run, members skipped because their module is absent).

    ``names`` restricts the selection; an unknown name is an error.
    """
    by_name = {m.name: m for m in members}
    if names is not None:
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise ValueError(f"unknown stack members: {', '.join(unknown)}; "
                             f"known: {', '.join(by_name)}")
        members = tuple(by_name[n] for n in names)
    run = tuple(m for m in members if m.available())
    skipped = tuple(m for m in members if not m.available())
    return run, skipped
