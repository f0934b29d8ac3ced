"""Which processes the local runner starts: one member per exporter and demo writer of
the service table (:mod:`topology`), or members a test builds itself.

A member is one exporter process, scraped as one Prometheus job of the same name, or a
demo writer (``scraped=False``) that feeds an exporter the data it reads: the training
status directory and the security log live under the state directory (``.run/``). A
member that cannot start stops the stack with an error naming it; none is skipped.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

from topology import Kind, probe_targets, services


@dataclass(frozen=True)
class Member:
    """One process of the stack.

    ``argv`` is run as ``python <argv...>`` with ``{listen}``, ``{host}`` and ``{port}``
    replaced by the address the stack chose (default: ``-m exporters NAME``), and
    ``{addr:OTHER}`` in argv and env by another member's (or ``prometheus``'s) address
    and ``{state}`` by the state directory. ``env`` is added to the child's environment
    (it may carry a DSN, so it stays out of repr and logs).

    A writer (``scraped=False``) has no port and no scrape job: it is selected with the
    member it ``feeds``, runs ``setup_argv`` to completion before any exporter starts (so
    the first scrape already finds data), then runs ``argv`` until the stack stops, and
    shows ``output`` (what it writes) in the stack's list.
    """

    name: str  # the Prometheus job label (a writer: a name of its own, never scraped)
    argv: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    ready_path: str = "/metrics"
    metrics_path: str = "/metrics"
    scraped: bool = True
    # A stand-in for a monitored service (``status-demo``): it gets a port and is waited
    # for at ``ready_path`` as an exporter is, but Prometheus does not scrape it.
    standin: bool = False
    feeds: str = ""
    setup_argv: tuple[str, ...] = ()
    output: str = ""

    def command(self, host: str, port: int | None) -> tuple[str, ...]:
        args = self.argv or ("-m", "exporters", self.name, "--web.listen-address={listen}")
        return self._fill(args, host, port)

    def setup_command(self, host: str, port: int | None) -> tuple[str, ...]:
        """The one-shot set-up run before the stack starts its exporters; () for none."""
        return self._fill(self.setup_argv, host, port) if self.setup_argv else ()

    @staticmethod
    def _fill(args: tuple[str, ...], host: str, port: int | None) -> tuple[str, ...]:
        fill = {"{host}": host}
        if port is not None:
            fill |= {"{listen}": f"{host}:{port}", "{port}": str(port)}
        out = []
        for arg in args:
            for key, value in fill.items():
                arg = arg.replace(key, value)
            out.append(arg)
        return (sys.executable, *out)


def _pg_dsn(environ: Mapping[str, str]) -> str:
    return environ.get("PROMFLEET_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def _redis_url(environ: Mapping[str, str]) -> str:
    return environ.get("PROMFLEET_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def default_members(environ: Mapping[str, str] | None = None) -> tuple[Member, ...]:
    """A member for every exporter and writer of the service table (:mod:`topology`), in
    its order; the exporters that read a server read the local one by default.

    An environment variable the user already set (``PROMFLEET_POSTGRES_DSN``, ...) wins
    over the loopback default given here.
    """
    env = dict(os.environ if environ is None else environ)

    def default(key: str, value: str) -> dict[str, str]:
        return {} if key in env else {key: value}

    envs = {
        "postgres": default("PROMFLEET_POSTGRES_DSN", _pg_dsn(env)),
        "redis": default("PROMFLEET_REDIS_URL", _redis_url(env)),
        "probe": default("PROMFLEET_PROBE_TARGETS", probe_targets()),
    }
    return tuple(
        Member(row.name, argv=row.argv, env=envs.get(row.name, {}),
               ready_path=row.ready_path, scraped=row.scraped, feeds=row.feeds,
               setup_argv=row.setup_argv, output=row.output, standin=row.kind is Kind.STANDIN)
        for row in services() if row.kind in (Kind.EXPORTER, Kind.WRITER, Kind.STANDIN)
    )


def select(members: tuple[Member, ...], names: tuple[str, ...] | None = None) -> tuple[Member, ...]:
    """The members named in ``names`` (all when None), each writer with the member it
    feeds; an unknown name is a :class:`ValueError` naming the known ones."""
    if names is None:
        return members
    by_name = {m.name: m for m in members}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ValueError(f"unknown stack members: {', '.join(unknown)}; "
                         f"known: {', '.join(by_name)}")
    wanted = set(names)
    return tuple(m for m in members if m.name in wanted or m.feeds in wanted)
