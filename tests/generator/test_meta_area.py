"""The monitoring watching itself: the jobs it expects are the jobs the stack scrapes."""

from __future__ import annotations

import re

import yaml

from generator.catalogue import load, meta
from generator.model import Catalogue, Settings
from generator.render.prometheus import render as render_prometheus


def _compose_jobs(catalogue: Catalogue) -> set[str]:
    text = render_prometheus(catalogue, Settings())["compose/prometheus.yml"]
    return {job["job_name"] for job in yaml.safe_load(text)["scrape_configs"]}


def test_prometheus_and_alertmanager_scrape_themselves_in_the_compose_stack() -> None:
    jobs = _compose_jobs(load())
    assert {"prometheus", "alertmanager"} <= jobs


def test_the_absent_job_alert_covers_exactly_the_jobs_the_compose_stack_scrapes() -> None:
    covered = set(re.findall(r'absent\(up\{job="([^"]+)"\}\)', meta.JOB_ABSENT.signal))
    assert covered == _compose_jobs(load())


def test_every_self_monitoring_metric_comes_from_a_scraped_job() -> None:
    jobs = _compose_jobs(load())
    for name in meta.AREA.external_metrics:
        source = name.split("_", 1)[0]
        if source in {"prometheus", "alertmanager"}:
            assert source in jobs, name


def test_the_self_monitoring_alerts_follow_the_mixins_severities_and_durations() -> None:
    expected = {
        "PrometheusBadConfig": ("critical", 600),
        "AlertmanagerFailedReload": ("critical", 600),
        "PrometheusNotConnectedToAlertmanagers": ("warning", 600),
        "PrometheusNotificationQueueRunningFull": ("warning", 900),
        "PrometheusErrorSendingAlertsToSomeAlertmanagers": ("warning", 900),
        "PrometheusErrorSendingAlertsToAnyAlertmanager": ("critical", 900),
        "PrometheusMissingRuleEvaluations": ("warning", 900),
        "PrometheusRuleEvaluationFailures": ("critical", 900),
    }
    found = {
        t.name: (t.levels[0].severity.value, t.levels[0].for_seconds)
        for t in meta.AREA.thresholds
        if t.name in expected
    }
    assert found == expected
