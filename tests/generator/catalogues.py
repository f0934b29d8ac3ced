"""A small catalogue for the renderer tests: two areas, a ``>`` alert with two levels, a
``<`` alert, an ``==`` alert and an extra panel."""

from __future__ import annotations

from generator.model import (
    AlertTest,
    Area,
    Catalogue,
    Level,
    Panel,
    Receiver,
    RecordingRule,
    Route,
    RoutingPolicy,
    Runbook,
    Severity,
    SeverityPolicy,
    Team,
    Threshold,
)
from generator.model import TestSeries as Series


def _test() -> AlertTest:
    series = (Series('promfleet_system_load1{instance="h:9101",job="system"}', "9x10"),)
    return AlertTest(firing=series, quiet=series, labels=(("instance", "h:9101"),), value=9)


def _runbook() -> Runbook:
    return Runbook(
        meaning="The machine has more runnable work than CPUs.",
        impact="Requests queue; latency grows.",
        diagnosis=(
            "Look at the top consumers:\n```sh\nps -eo pid,pcpu,comm --sort=-pcpu | head\n```",
            'Check the load: `promfleet_system_load1{instance="h:9101"}`.',
        ),
        mitigation=("Move work elsewhere.", "Add CPUs."),
        escalation="Page the ops lead after 30 minutes.",
    )


def small_catalogue() -> Catalogue:
    """Two areas: a ``>`` alert with two levels, a ``<`` alert, and an extra panel."""
    load = Threshold(
        name="HostLoadHigh",
        signal="instance:promfleet_system_load1:per_cpu",
        op=">",
        levels=(
            Level(Severity.WARNING, 1.5, 300, 3600, _test()),
            Level(Severity.CRITICAL, 3, 600, 1800, _test()),
        ),
        team=Team.OPS,
        summary="Load per CPU is high on {{ $labels.instance }}",
        description="Load per CPU is {{ $value }}.",
        runbook=_runbook(),
        panel=Panel(
            title="Load per CPU",
            expr='instance:promfleet_system_load1:per_cpu{job=~"$job",instance=~"$instance"}',
            unit="short",
            description="1-minute load average divided by the number of CPUs.",
        ),
    )
    disk = Threshold(
        name="DiskSpaceLow",
        signal="instance:promfleet_system_filesystem_avail:ratio",
        op="<",
        levels=(
            Level(Severity.WARNING, 0.2, 600, 3600, _test()),
            Level(Severity.CRITICAL, 0.05, 300, 1800, _test()),
        ),
        team=Team.OPS,
        summary="Disk almost full",
        description="Free space ratio is {{ $value }}.",
        runbook=_runbook(),
        panel=Panel(
            title="Free space",
            expr='instance:promfleet_system_filesystem_avail:ratio{job=~"$job",instance=~"$instance"}',
            unit="percentunit",
            description="Share of the filesystem still available to users.",
            kind="gauge",
        ),
    )
    db = Threshold(
        name="PostgresDown",
        signal="promfleet_postgres_up",
        op="==",
        levels=(Level(Severity.CRITICAL, 0, 60, 900, _test()),),
        team=Team.ENGINEERING,
        summary="PostgreSQL is down",
        description="The exporter cannot reach {{ $labels.target }}.",
        runbook=_runbook(),
        panel=Panel(
            title="PostgreSQL up",
            expr='promfleet_postgres_up{job=~"$job",instance=~"$instance"}',
            unit="bool",
            description="1 when the exporter reaches the database.",
            kind="stat",
        ),
    )
    system = Area(
        name="system",
        title="System",
        description="Hosts: CPU, memory, disks.",
        recording_rules=(
            RecordingRule("instance:promfleet_system_load1:per_cpu", "promfleet_system_load1"),
        ),
        thresholds=(load, disk),
        panels=(
            Panel(
                title="Network received",
                expr="sum by (instance) (rate(promfleet_system_network_receive_bytes_total"
                '{job=~"$job",instance=~"$instance"}[$__rate_interval]))',
                unit="Bps",
                description="Bytes received per second, all interfaces.",
            ),
        ),
    )
    database = Area(
        name="database",
        title="Database",
        description="PostgreSQL and Redis.",
        recording_rules=(),
        thresholds=(db,),
    )
    routing = RoutingPolicy(
        receivers=(Receiver("ops-pager", "webhook", (("url", "http://127.0.0.1:1/"),)),),
        routes=(Route(Team.OPS, Severity.CRITICAL, ("ops-pager",)),),
        severities=(SeverityPolicy(Severity.CRITICAL, 0, 60),),
        default_receiver="ops-pager",
        deadmans_switch_receiver="ops-pager",
        # Its alerts' test series carry no job label; the real policy's equal has it.
        inhibit_equal=("alertname", "instance"),
    )
    return Catalogue(areas=(system, database), routing=routing)
