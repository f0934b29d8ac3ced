"""Prometheus' configuration: ``compose/prometheus.yml``, and :func:`prometheus_config`.

One scrape job per exporter, the job label being the exporter's name (``system``,
``postgres``, ... plus ``prometheus`` and ``alertmanager`` scraping themselves), in the
job order of the service table (:mod:`topology`), every rule file the generator writes,
and alerting to Alertmanager. The local runner renders its loopback configuration
through the same function.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from generator.model import Catalogue, Settings
from generator.render import render_template
from generator.settings import duration_seconds
from topology import PROMETHEUS_RULES_DIR, job_order, port, services


def rule_files_for(catalogue: Catalogue, directory: str = PROMETHEUS_RULES_DIR) -> list[str]:
    """``<directory>/<area>.rules.yml`` per catalogue area, as the rules renderer names them,
    and ``slo-<slo>.rules.yml`` per SLO (the SLO rules renderer's)."""
    base = directory.rstrip("/")
    files = [f"{base}/{area.name}.rules.yml" for area in catalogue.areas]
    files += [f"{base}/slo-{slo.slo}.rules.yml" for area in catalogue.areas for slo in area.slos]
    return sorted(files)  # the order of rules/ on disk


def _ordered_jobs(targets: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
    return [{"name": job, "targets": list(targets[job])} for job in job_order(targets)
            if targets[job]]


def prometheus_config(
    catalogue: Catalogue,
    settings: Settings,
    targets: Mapping[str, list[str]],
    rule_files: list[str],
    alertmanagers: list[str],
) -> str:
    """Prometheus' YAML: global intervals from ``settings``, one scrape job per ``targets`` key.

    ``targets`` maps a job (exporter name) to ``host:port`` addresses; jobs without an
    address are left out. ``scrape_timeout`` is capped at ``scrape_interval``, as
    Prometheus requires (the live stack scrapes every second). ``catalogue`` is part of
    the shared renderer signature; the jobs come from ``targets``.
    """
    for job in targets:
        if not job or not all(c.isalnum() or c in "_-" for c in job):
            raise ValueError(f"job name {job!r} must be letters, digits, '_' or '-'")
    interval = duration_seconds(settings.scrape_interval)
    timeout = settings.scrape_timeout
    if duration_seconds(timeout) > interval:
        timeout = settings.scrape_interval
    duration_seconds(settings.evaluation_interval)  # refuse a malformed one here, by name
    return render_template(
        "prometheus.yml.j2",
        settings=settings,
        scrape_timeout=timeout,
        rule_files=list(rule_files),
        alertmanagers=list(alertmanagers),
        jobs=_ordered_jobs(targets),
    )


def compose_targets(settings: Settings) -> dict[str, list[str]]:
    """Scrape addresses inside the compose network, or ``settings.targets`` when given."""
    if settings.targets:
        return {job: list(addresses) for job, addresses in settings.targets}
    return {s.name: [f"{s.name}:{s.port}"] for s in services() if s.scraped}


def render(catalogue: Catalogue, settings: Settings) -> dict[str, str]:
    """``compose/prometheus.yml`` for the compose stack."""
    return {
        "compose/prometheus.yml": prometheus_config(
            catalogue,
            settings,
            compose_targets(settings),
            rule_files_for(catalogue),
            [f"alertmanager:{port('alertmanager')}"],
        )
    }
