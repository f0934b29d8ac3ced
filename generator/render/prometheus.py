"""Prometheus' configuration: ``compose/prometheus.yml``, the HA pair's and the sharded
layout's under ``deploy/``, and :func:`prometheus_config` that renders them all.

One scrape job per exporter, the job label being the exporter's name (``system``,
``postgres``, ... plus ``prometheus`` and ``alertmanager`` scraping themselves), in the
job order of the service table (:mod:`topology`), every rule file the generator writes,
and alerting to Alertmanager. The local runner renders its loopback configurations
through the same functions.

Past one machine: ``deploy/ha/prometheus-<i>.yml`` are the replicas of an HA pair (each
scrapes everything and evaluates every rule, with a replica external label that alerts
lose before they reach the Alertmanager cluster); ``deploy/sharded/`` holds the agents
that split the targets by ``hashmod`` and the receiver they remote-write to, where the
rules run over every target. Each file's header says how to start its server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from generator.model import Catalogue, Settings
from generator.render import render_template
from generator.scaleout import (
    AGENT_FLAGS,
    RECEIVER_FLAGS,
    alertmanager_cluster_flags,
    check_shard,
    remote_write_url,
)
from generator.settings import duration_seconds
from topology import (
    ALERTMANAGER_CLUSTER_PORT,
    PROMETHEUS_RULES_DIR,
    RECEIVER,
    job_order,
    port,
    replicas,
    services,
    shards,
)


@dataclass(frozen=True)
class Shard:
    """Which share of the targets a shard keeps: those whose address hashes to ``index``."""

    index: int
    count: int


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
    *,
    external_labels: Mapping[str, str] | None = None,
    alert_drop_labels: Sequence[str] = (),
    shard: Shard | None = None,
    remote_write: Sequence[str] = (),
    agent: bool = False,
    notes: Sequence[str] = (),
) -> str:
    """Prometheus' YAML: global intervals from ``settings``, one scrape job per ``targets`` key.

    ``targets`` maps a job (exporter name) to ``host:port`` addresses; jobs without an
    address are left out. ``scrape_timeout`` is capped at ``scrape_interval``, as
    Prometheus requires (the live stack scrapes every second). ``catalogue`` is part of
    the shared renderer signature; the jobs come from ``targets``.

    ``external_labels`` go on every series and alert, ``alert_drop_labels`` are removed
    from alerts before they are sent; ``shard`` keeps only that shard's targets in every
    job; ``remote_write`` lists receivers' URLs; ``agent`` is a config for agent mode (no
    rules, no alerting). ``notes`` are comment lines under the header.
    """
    if agent and (rule_files or alertmanagers):
        raise ValueError("an agent evaluates no rules and sends no alerts: give it no "
                         "rule files and no Alertmanagers")
    if shard is not None:
        check_shard(shard.index, shard.count)
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
        external_labels=sorted((external_labels or {}).items()),
        alert_drop_labels="|".join(alert_drop_labels),
        shard=shard,
        remote_write=list(remote_write),
        agent=agent,
        notes=list(notes),
    )


def ha_replica_config(
    catalogue: Catalogue,
    settings: Settings,
    targets: Mapping[str, list[str]],
    rule_files: list[str],
    alertmanagers: list[str],
    replica: str,
    notes: Sequence[str] = (),
) -> str:
    """One replica of the HA pair: every target, every rule, every Alertmanager peer, and
    ``settings.ha_replica_label`` = ``replica`` on its series, dropped from its alerts."""
    label = settings.ha_replica_label
    return prometheus_config(catalogue, settings, targets, rule_files, alertmanagers,
                             external_labels={label: replica}, alert_drop_labels=(label,),
                             notes=notes)


def shard_config(
    catalogue: Catalogue,
    settings: Settings,
    targets: Mapping[str, list[str]],
    index: int,
    receiver: str,
    notes: Sequence[str] = (),
) -> str:
    """Agent ``index`` of ``settings.shard_count``: its share of every job's targets,
    remote-written to the receiver at ``receiver`` (``host:port``)."""
    check_shard(index, settings.shard_count)
    return prometheus_config(catalogue, settings, targets, [], [],
                             shard=Shard(index, settings.shard_count),
                             remote_write=[remote_write_url(receiver)], agent=True, notes=notes)


def receiver_config(
    catalogue: Catalogue,
    settings: Settings,
    rule_files: list[str],
    alertmanagers: list[str],
    notes: Sequence[str] = (),
) -> str:
    """The receiver: scrapes nothing itself, evaluates every rule over what the shards
    write, and alerts."""
    return prometheus_config(catalogue, settings, {}, rule_files, alertmanagers, notes=notes)


def compose_targets(settings: Settings) -> dict[str, list[str]]:
    """Scrape addresses inside the compose network, or ``settings.targets`` when given."""
    if settings.targets:
        return {job: list(addresses) for job, addresses in settings.targets}
    return {s.name: [f"{s.name}:{s.port}"] for s in services() if s.scraped}


def _scaled_targets(
    settings: Settings, prometheus: Sequence[str], alertmanagers: Sequence[str]
) -> dict[str, list[str]]:
    """The compose targets with the servers replaced by their replicas (or shards)."""
    targets = compose_targets(settings)
    if not settings.targets:
        targets["prometheus"] = [f"{name}:{port('prometheus')}" for name in prometheus]
        targets["alertmanager"] = [f"{name}:{port('alertmanager')}" for name in alertmanagers]
    return targets


def _cluster_notes(peers: Sequence[str]) -> list[str]:
    lines = []
    for peer in peers:
        flags = alertmanager_cluster_flags(
            f"0.0.0.0:{ALERTMANAGER_CLUSTER_PORT}", f"{peer}:{ALERTMANAGER_CLUSTER_PORT}",
            [f"{other}:{ALERTMANAGER_CLUSTER_PORT}" for other in peers if other != peer])
        lines.append(f"  {peer}: prometheus-alertmanager --config.file=alertmanager.yml "
                     + " ".join(flags))
    return lines


def _ha_outputs(catalogue: Catalogue, settings: Settings) -> dict[str, str]:
    names = replicas("prometheus", settings.ha_replicas)
    peers = replicas("alertmanager", settings.alertmanager_cluster_size)
    targets = _scaled_targets(settings, names, peers)
    ams = [f"{peer}:{port('alertmanager')}" for peer in peers]
    out = {}
    for name in names:
        notes = [
            f"HA pair: replica {name} of {len(names)}. Every replica scrapes every target",
            "and evaluates every rule; its external label "
            f"{settings.ha_replica_label}=\"{name}\" is dropped",
            "from its alerts, so the Alertmanager cluster sees each alert once and",
            "deduplicates the replicas' copies.",
            f"Start: prometheus --config.file={name}.yml",
            f"The {len(peers)} Alertmanager peers load alertmanager/alertmanager.yml and gossip:",
            *_cluster_notes(peers),
        ]
        out[f"deploy/ha/{name}.yml"] = ha_replica_config(
            catalogue, settings, targets, rule_files_for(catalogue), ams, name, notes)
    return out


def _sharded_outputs(catalogue: Catalogue, settings: Settings) -> dict[str, str]:
    names = shards(settings.shard_count)
    receiver = f"{RECEIVER}:{port('prometheus')}"
    targets = _scaled_targets(settings, [*names, RECEIVER], ["alertmanager"])
    out = {}
    for index, name in enumerate(names):
        notes = [
            f"Shard {index} of {len(names)}: a Prometheus agent that scrapes the targets whose",
            "address hashes to its number and remote-writes every sample to the receiver.",
            f"Start: prometheus {' '.join(AGENT_FLAGS)} --config.file={name}.yml",
        ]
        out[f"deploy/sharded/{name}.yml"] = shard_config(
            catalogue, settings, targets, index, receiver, notes)
    notes = [
        f"The receiver: the {len(names)} shards remote-write here, so the rules that need",
        "every target (sums, counts, ratios over the fleet) see them all. It stands",
        "where Thanos Receive or Mimir would.",
        f"Start: prometheus {' '.join(RECEIVER_FLAGS)} --config.file={RECEIVER}.yml",
    ]
    out[f"deploy/sharded/{RECEIVER}.yml"] = receiver_config(
        catalogue, settings, rule_files_for(catalogue),
        [f"alertmanager:{port('alertmanager')}"], notes)
    return out


def render(catalogue: Catalogue, settings: Settings) -> dict[str, str]:
    """``compose/prometheus.yml`` for the compose stack; the HA pair's and the sharded
    layout's configurations under ``deploy/``."""
    return {
        "compose/prometheus.yml": prometheus_config(
            catalogue,
            settings,
            compose_targets(settings),
            rule_files_for(catalogue),
            [f"alertmanager:{port('alertmanager')}"],
        ),
        **_ha_outputs(catalogue, settings),
        **_sharded_outputs(catalogue, settings),
    }
