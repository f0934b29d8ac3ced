"""Catalogue area ``meta``: the monitoring watching itself.

Exporter targets down, whole scrape jobs absent, collectors failing, Prometheus failing
to evaluate rules, to reload its configuration or to hand alerts to Alertmanager,
Alertmanager failing to reload or to notify, and the always-firing ``Watchdog`` heartbeat
that the dead man's switch expects (silence from it means the pipeline is broken).

Severities and durations of the Prometheus and Alertmanager self-monitoring follow
prometheus-mixin and alertmanager-mixin; ratios are ratios (0.01, not 1 %).
"""

from __future__ import annotations

from generator.catalogue._gather import gather_module
from generator.model import (
    SLO,
    AlertTest,
    Category,
    ErrorRatioSLI,
    Level,
    Panel,
    RecordingRule,
    Runbook,
    Severity,
    SLORunbook,
    Team,
    TestSeries,
    Threshold,
)
from generator.testseries import gauge, series
from topology import Kind, services

EXPORTER = (("instance", "host-1:9101"), ("job", "system"))
PROMETHEUS = (("instance", "localhost:9090"), ("job", "prometheus"))
ALERTMANAGER = (("instance", "localhost:9093"), ("job", "alertmanager"))
# Every job the stack scrapes, in the service table's job order (topology/): the
# exporters and metric sources (JOBS), then Prometheus and Alertmanager scraping themselves.
JOBS = "|".join(s.name for s in services() if s.kind is Kind.EXPORTER)
SCRAPE_JOBS: tuple[str, ...] = tuple(s.name for s in services() if s.scraped)
AM_URL = (("alertmanager", "http://localhost:9093/api/v2/alerts"),)
SEL = 'job=~"$job",instance=~"$instance"'

# `for: 3m`, critical. kube-prometheus' TargetDown waits 10m and warns, but a dead promfleet
# exporter blinds every alert of its area, and the alerts it fed only stay firing (the
# rules renderer's keep_firing_for) until this fires: longer would hold every "resolved"
# longer, shorter would page for an exporter restarted by a deploy (seconds) or one slow
# scrape. Twelve failed 15 s scrapes in a row is not a restart.
TARGET_DOWN = Threshold(
    name="PromfleetTargetDown",
    category=Category.SYSTEM_OUTAGE,
    signal=f'up{{job=~"{JOBS}"}}',
    op="==",
    levels=(
        Level(
            Severity.CRITICAL,
            0,
            for_seconds=180,
            cooldown_seconds=3600,
            test=AlertTest(
                firing=(series("up", EXPORTER, "0+0x20"),),
                quiet=(series("up", EXPORTER, "1+0x20"),),
                labels=EXPORTER,
                value=0,
            ),
        ),
    ),
    team=Team.OPS,
    summary="{{ $labels.job }} exporter {{ $labels.instance }} is down",
    description=(
        "Prometheus has not been able to scrape the {{ $labels.job }} exporter at "
        "{{ $labels.instance }} for 3 minutes. Every alert about what it monitors is blind "
        "meanwhile, and those alerts are muted while this one fires."
    ),
    runbook=Runbook(
        meaning="A promfleet exporter does not answer Prometheus' scrapes.",
        impact="No data from that exporter: its alerts cannot fire, its dashboards go blank.",
        diagnosis=(
            'Which targets: `up{job=~"' + JOBS + '"} == 0`',
            "Whether it answers slowly rather than not at all (close to the scrape timeout): "
            '`scrape_duration_seconds{job="<job>",instance="<instance>"}`',
            "Why, as Prometheus saw it (the last scrape error of each unhealthy target): "
            "```sh\ncurl -s 'http://localhost:9090/api/v1/targets?state=active' | jq "
            '\'.data.activeTargets[] | select(.health != "up") | '
            "{job: .labels.job, instance: .labels.instance, lastError}'\n```",
            "From the Prometheus host, the exporter itself (under TLS add --cacert or -k): "
            "```sh\ncurl -sS -m 10 http://<instance>/healthz\n"
            "curl -sS -m 10 -o /dev/null -w '%{http_code} %{time_total}s\\n' "
            "http://<instance>/metrics\n```",
        ),
        mitigation=(
            "Restart the exporter; read its JSON log for the reason it stopped.",
            "Check the network path and TLS settings between Prometheus and the exporter.",
        ),
        escalation="Page the ops on-call engineer: monitoring of that host is blind.",
    ),
    panel=Panel(
        title="Targets up",
        expr=f"up{{{SEL}}}",
        unit="short",
        description="1 when Prometheus' last scrape of the target succeeded, else 0.",
        legend="{{job}} {{instance}}",
    ),
    inhibited_by_target_down=False,
)

JOB_ABSENT = Threshold(
    name="PromfleetScrapeJobAbsent",
    category=Category.SYSTEM_OUTAGE,
    signal="(" + " or ".join(f'absent(up{{job="{job}"}})' for job in SCRAPE_JOBS) + ")",
    op="==",
    # Until Prometheus has five minutes of history, a job whose first scrape has not come
    # yet is not absent: a restarted Prometheus would otherwise pend at every start.
    guard="and on () count(up offset 5m) > 0",
    levels=(
        Level(
            Severity.CRITICAL,
            1,
            for_seconds=600,
            cooldown_seconds=3600,
            test=AlertTest(
                firing=tuple(
                    series("up", (("instance", f"{job}:1"), ("job", job)), "1+0x30")
                    for job in SCRAPE_JOBS
                    if job != "system"
                ),
                quiet=tuple(
                    series("up", (("instance", f"{job}:1"), ("job", job)), "1+0x30")
                    for job in SCRAPE_JOBS
                ),
                labels=(("job", "system"),),
                value=1,
                warmup_seconds=300,
            ),
        ),
    ),
    team=Team.OPS,
    summary="Prometheus scrapes no {{ $labels.job }} target",
    description=(
        "Prometheus has had no {{ $labels.job }} target at all for 10 minutes (no `up` "
        "series for the job): the job is missing from its configuration or discovers "
        "nothing. Every alert on that job's metrics is blind, and no target-down alert can "
        "say so. (A Prometheus started less than 5 minutes ago does not count a job "
        "absent yet.)"
    ),
    runbook=Runbook(
        meaning="A whole scrape job is gone from Prometheus, not just down.",
        impact="Nothing that job monitors can alert, and its dashboards are empty.",
        diagnosis=(
            "Which jobs Prometheus scrapes: `count by (job) (up)`",
            "The scrape jobs in the running configuration: ```sh\n"
            "curl -s http://localhost:9090/api/v1/status/config | jq -r .data.yaml "
            "| grep job_name\n"
            "curl -s http://localhost:9090/api/v1/targets?state=any | jq "
            "'[.data.activeTargets[].labels.job] | unique'\n```",
        ),
        mitigation=(
            "Regenerate the Prometheus configuration (`python -m generator`), check the "
            "job's targets in the settings, and reload Prometheus.",
        ),
        escalation="Page the ops on-call engineer: monitoring of a whole area is blind.",
    ),
    panel=Panel(
        title="Targets per job",
        expr=f"count by (job) (up{{{SEL}}})",
        unit="short",
        description="How many targets Prometheus scrapes for each job.",
        legend="{{job}}",
    ),
    # absent() knows only the job: the Prometheus whose configuration lacks it is the
    # instance, as for the Watchdog.
    static_labels=(("instance", "prometheus"),),
    inhibited_by_target_down=False,
)

COLLECTOR_FAILING = Threshold(
    name="PromfleetCollectorFailing",
    signal='{__name__=~"promfleet_.+_scrape_collector_success"}',
    op="==",
    levels=(
        Level(
            Severity.WARNING,
            0,
            for_seconds=600,
            cooldown_seconds=3600,
            test=AlertTest(
                firing=(
                    series(
                        "promfleet_system_scrape_collector_success",
                        (("collector", "filesystem"), *EXPORTER),
                        "0+0x30",
                    ),
                ),
                quiet=(
                    series(
                        "promfleet_system_scrape_collector_success",
                        (("collector", "filesystem"), *EXPORTER),
                        "1+0x30",
                    ),
                ),
                labels=(("collector", "filesystem"), *EXPORTER),
                value=0,
            ),
        ),
    ),
    team=Team.OPS,
    summary="Collector {{ $labels.collector }} of {{ $labels.instance }} is failing",
    description=(
        "The {{ $labels.collector }} collector of the {{ $labels.job }} exporter at "
        "{{ $labels.instance }} has failed or run out of time on every scrape for 10 "
        "minutes. Its metrics are missing; the rest of the scrape is still served."
    ),
    runbook=Runbook(
        meaning="One collector of an exporter fails on each scrape (error or deadline).",
        impact="The metrics of that collector are missing, and so are the alerts on them.",
        diagnosis=(
            'Which collectors: `{__name__=~"promfleet_.+_scrape_collector_success"} == 0`',
            "How long they take, against the scrape timeout: "
            '`{__name__=~"promfleet_.+_scrape_collector_duration_seconds",'
            'instance="<instance>"}`',
            "The exporter's own view, and its JSON log line for each failure (it names the "
            "collector and the error): ```sh\n"
            "curl -s http://<instance>/metrics | grep scrape_collector_success\n"
            "docker-compose -f compose/docker-compose.yml logs --since 1h <job> "
            "| grep '\"<collector>\"' | tail   # make run: .run/logs/<job>.log\n```",
        ),
        mitigation=(
            "Fix what the log names (permissions, a target's credentials, a timeout).",
            "Raise the scrape timeout when the collector is only slow.",
        ),
        escalation="Hand over to the exporter's owner in working hours.",
    ),
    panel=Panel(
        title="Collector success",
        expr=f'{{__name__=~"promfleet_.+_scrape_collector_success",{SEL}}}',
        unit="short",
        description="1 when the collector finished within the deadline without error.",
        legend="{{job}} {{instance}} {{collector}}",
    ),
)

RULE_FAILURES = Threshold(
    name="PrometheusRuleEvaluationFailures",
    category=Category.SYSTEM_OUTAGE,
    signal="increase(prometheus_rule_evaluation_failures_total[5m])",
    op=">",
    levels=(
        Level(
            Severity.CRITICAL,
            0,
            for_seconds=900,
            cooldown_seconds=3600,
            test=AlertTest(
                firing=(
                    series(
                        "prometheus_rule_evaluation_failures_total",
                        (*PROMETHEUS, ("rule_group", "system.rules.yml;system")),
                        "10+1x30",
                    ),
                ),
                quiet=(
                    series(
                        "prometheus_rule_evaluation_failures_total",
                        (*PROMETHEUS, ("rule_group", "system.rules.yml;system")),
                        "10+0x30",
                    ),
                ),
                labels=(*PROMETHEUS, ("rule_group", "system.rules.yml;system")),
                value=5,
                warmup_seconds=60,
            ),
        ),
    ),
    team=Team.OPS,
    summary="Prometheus {{ $labels.instance }} fails to evaluate rules",
    description=(
        "Prometheus {{ $labels.instance }} has failed to evaluate rules of group "
        "{{ $labels.rule_group }} for 15 minutes. Alerts of that group may not fire."
    ),
    runbook=Runbook(
        meaning="Some recording or alerting rules fail on every evaluation.",
        impact="Alerts that depend on those rules cannot fire: the pager is partly blind.",
        diagnosis=(
            "Which groups: `increase(prometheus_rule_evaluation_failures_total[5m]) > 0`",
            "Each failing rule and its last error: ```sh\n"
            "curl -s http://localhost:9090/api/v1/rules | jq '.data.groups[].rules[] | "
            'select(.health == "err") | {name, lastError}\'\n```',
            "Whether the committed rules still load and pass their tests: ```sh\n"
            "promtool check rules rules/*.rules.yml\n"
            "promtool test rules rules/tests/*.test.yml\n```",
        ),
        mitigation=(
            "A query producing duplicate series after label changes is the usual cause: "
            "fix the rule in the catalogue and regenerate.",
            "Check that Prometheus has the memory and query timeout the rules need.",
        ),
        escalation="Page the ops on-call engineer: alerting itself is degraded.",
    ),
    panel=Panel(
        title="Rule evaluation failures",
        expr=f"increase(prometheus_rule_evaluation_failures_total{{{SEL}}}[$__rate_interval])",
        unit="short",
        description="Rule evaluations that failed, per group.",
        legend="{{rule_group}}",
        expect_data=False,
    ),
    inhibited_by_target_down=False,
)

MISSED_EVALUATIONS = Threshold(
    name="PrometheusMissingRuleEvaluations",
    signal="increase(prometheus_rule_group_iterations_missed_total[5m])",
    op=">",
    levels=(
        Level(
            Severity.WARNING,
            0,
            for_seconds=900,
            cooldown_seconds=3600,
            test=AlertTest(
                firing=(
                    series(
                        "prometheus_rule_group_iterations_missed_total",
                        (*PROMETHEUS, ("rule_group", "system.rules.yml;system")),
                        "0+1x40",
                    ),
                ),
                quiet=(
                    series(
                        "prometheus_rule_group_iterations_missed_total",
                        (*PROMETHEUS, ("rule_group", "system.rules.yml;system")),
                        "2+0x40",
                    ),
                ),
                labels=(*PROMETHEUS, ("rule_group", "system.rules.yml;system")),
                value=5,
                warmup_seconds=60,
            ),
        ),
    ),
    team=Team.OPS,
    summary="Prometheus {{ $labels.instance }} misses evaluations of {{ $labels.rule_group }}",
    description=(
        "Prometheus {{ $labels.instance }} skipped {{ $value | humanize }} evaluations of rule "
        "group {{ $labels.rule_group }} in the last 5 minutes, and has kept skipping them for "
        "15 minutes: the group takes longer than its interval. Its alerts fire late."
    ),
    runbook=Runbook(
        meaning="A rule group's evaluation takes longer than its evaluation interval.",
        impact="Its recording rules have gaps and its alerts fire late or not at all.",
        diagnosis=(
            "How long each group takes against its interval: "
            "`prometheus_rule_group_last_duration_seconds / "
            "prometheus_rule_group_interval_seconds`",
            "The slowest rules: ```sh\ncurl -s http://localhost:9090/api/v1/rules | jq -r "
            "'.data.groups[].rules[] | [.evaluationTime, .name] | @tsv' | sort -rn | head\n```",
        ),
        mitigation=(
            "Move the slow expression into a recording rule, narrow its selectors, or give "
            "Prometheus more CPU.",
        ),
        escalation="Hand over to the ops team in working hours.",
    ),
    panel=Panel(
        title="Rule evaluations missed",
        expr=(
            f"increase(prometheus_rule_group_iterations_missed_total{{{SEL}}}[$__rate_interval])"
        ),
        unit="short",
        description="Rule group evaluations Prometheus skipped because the last one overran.",
        legend="{{rule_group}}",
    ),
    inhibited_by_target_down=False,
)


def _reload_failed(
    name: str, metric: str, who: str, job: tuple[tuple[str, str], ...], config: str, reload: str
) -> Threshold:
    """A failed configuration reload (prometheus-mixin's PrometheusBadConfig and
    alertmanager-mixin's AlertmanagerFailedReload): critical after 10 minutes, because
    the next restart of that server fails to start, or starts without the change."""
    return Threshold(
        name=name,
        category=Category.SYSTEM_OUTAGE,
        signal=f"max_over_time({metric}[5m])",
        op="==",
        levels=(
            Level(
                Severity.CRITICAL,
                0,
                for_seconds=600,
                cooldown_seconds=3600,
                test=AlertTest(
                    firing=(series(metric, job, "0+0x30"),),
                    quiet=(series(metric, job, "1+0x30"),),
                    labels=job,
                    value=0,
                ),
            ),
        ),
        team=Team.OPS,
        summary=f"{who} {{{{ $labels.instance }}}} failed to reload its configuration",
        description=(
            f"{who} {{{{ $labels.instance }}}} has been unable to load its configuration for 10 "
            "minutes. It runs the previous one, and will not start after a restart until "
            "the file is fixed."
        ),
        runbook=Runbook(
            meaning=f"{who} rejected its configuration file on the last reload.",
            impact=(
                "The change that was meant to apply did not; a restart of the server fails "
                "or starts without it."
            ),
            diagnosis=(
                f"Which servers: `{metric} == 0`",
                f"What is wrong with the file: ```sh\n{config}\n```",
            ),
            mitigation=(
                "Fix the catalogue or settings and regenerate (`python -m generator`), or "
                "revert the last change to the file; then reload: "
                f"```sh\n{reload}\n```",
            ),
            escalation="Page the ops on-call engineer: the alerting set-up is at risk.",
        ),
        panel=Panel(
            title=f"{who} configuration loaded",
            expr=f"{metric}{{{SEL}}}",
            unit="short",
            description="1 when the last configuration reload succeeded, else 0.",
            legend="{{instance}}",
            kind="stat",
        ),
        inhibited_by_target_down=False,
    )


PROMETHEUS_BAD_CONFIG = _reload_failed(
    "PrometheusBadConfig",
    "prometheus_config_last_reload_successful",
    "Prometheus",
    PROMETHEUS,
    "promtool check config /etc/prometheus/prometheus.yml",
    "curl -X POST http://localhost:9090/-/reload   # or: kill -HUP <prometheus pid>",
)

NOTIFICATIONS_ERROR_RATIO = "instance_alertmanager:prometheus_notifications_errors:ratio_rate5m"
RECORDING_RULES = (
    RecordingRule(
        record=NOTIFICATIONS_ERROR_RATIO,
        expr=(
            "rate(prometheus_notifications_errors_total[5m])"
            " / rate(prometheus_notifications_sent_total[5m])"
        ),
    ),
)
# Prometheus resends every firing alert each minute (the Watchdog at least), so a sender
# that works sends more than this; below it a ratio says nothing.
NOTIFY_TRAFFIC_GUARD = (
    "and on (instance, job, alertmanager) rate(prometheus_notifications_sent_total[5m]) > 0.01"
)
_NOTIFY_DIAGNOSIS = (
    "Errors against alerts sent, per Alertmanager: `" + NOTIFICATIONS_ERROR_RATIO + "`",
    "Alerts dropped (errors, or a full queue): "
    "`increase(prometheus_notifications_dropped_total[5m])`",
    "Which Alertmanagers Prometheus knows, and its log of the failed sends: ```sh\n"
    "curl -s http://localhost:9090/api/v1/alertmanagers | jq .data\n"
    "journalctl -u prometheus --since -1h | grep -i 'notifier' | tail\n```",
)
_SENT = series("prometheus_notifications_sent_total", (*PROMETHEUS, *AM_URL), "0+20x40")


def _notify_series(errors_per_minute: int) -> tuple[TestSeries, ...]:
    return (
        series(
            "prometheus_notifications_errors_total",
            (*PROMETHEUS, *AM_URL),
            f"0+{errors_per_minute}x40",
        ),
        _SENT,
    )


NOTIFY_SOME = Threshold(
    name="PrometheusErrorSendingAlertsToSomeAlertmanagers",
    signal=NOTIFICATIONS_ERROR_RATIO,
    op=">",
    guard=NOTIFY_TRAFFIC_GUARD,
    levels=(
        Level(
            Severity.WARNING,
            0.01,
            for_seconds=900,
            cooldown_seconds=3600,
            test=AlertTest(
                firing=_notify_series(1),
                quiet=_notify_series(0),
                labels=(*AM_URL, *PROMETHEUS),
                value=0.05,
                warmup_seconds=60,
            ),
        ),
    ),
    team=Team.OPS,
    summary="Prometheus {{ $labels.instance }} fails to send alerts to an Alertmanager",
    description=(
        "{{ $value | humanizePercentage }} of the alerts Prometheus {{ $labels.instance }} sent "
        "to {{ $labels.alertmanager }} failed, for 15 minutes. Alerts still reach the other "
        "Alertmanagers, if there are others."
    ),
    runbook=Runbook(
        meaning="Some of Prometheus' deliveries to one Alertmanager fail.",
        impact="Alerts reach that Alertmanager late or not at all; others may still deliver.",
        diagnosis=_NOTIFY_DIAGNOSIS,
        mitigation=(
            "Check that Alertmanager is up and reachable from Prometheus (address, TLS, "
            "network policy), and that it is not overloaded.",
        ),
        escalation="Hand over to the ops team in working hours; page if it spreads.",
    ),
    panel=Panel(
        title="Alert notification errors",
        expr=f"{NOTIFICATIONS_ERROR_RATIO}{{{SEL}}}",
        unit="percentunit",
        description="Share of alerts Prometheus failed to send, per Alertmanager.",
        legend="{{instance}} {{alertmanager}}",
    ),
    inhibited_by_target_down=False,
)

NOTIFY_ANY = Threshold(
    name="PrometheusErrorSendingAlertsToAnyAlertmanager",
    category=Category.SYSTEM_OUTAGE,
    signal=f"min without (alertmanager) ({NOTIFICATIONS_ERROR_RATIO})",
    op=">",
    guard=(
        "and on (instance, job) sum without (alertmanager) "
        "(rate(prometheus_notifications_sent_total[5m])) > 0.01"
    ),
    levels=(
        Level(
            Severity.CRITICAL,
            0.03,
            for_seconds=900,
            cooldown_seconds=3600,
            test=AlertTest(
                firing=_notify_series(2),
                quiet=_notify_series(0),
                labels=PROMETHEUS,
                value=0.1,
                warmup_seconds=60,
            ),
        ),
    ),
    team=Team.OPS,
    summary="Prometheus {{ $labels.instance }} fails to send alerts to every Alertmanager",
    description=(
        "At least {{ $value | humanizePercentage }} of the alerts Prometheus "
        "{{ $labels.instance }} sent to each of its Alertmanagers failed, for 15 minutes: "
        "pages may not be delivered at all."
    ),
    runbook=Runbook(
        meaning="Prometheus' deliveries fail to every Alertmanager it knows.",
        impact="Pages do not reach anyone; only the dead man's switch notices.",
        diagnosis=_NOTIFY_DIAGNOSIS,
        mitigation=(
            "Restart Alertmanager if it is down; check the network and TLS between them.",
            "Watch the on-call's dashboards directly until delivery works again.",
        ),
        escalation="Page the ops on-call engineer by another channel (telephone).",
    ),
    panel=Panel(
        title="Alert notification errors, best Alertmanager",
        expr=f"min without (alertmanager) ({NOTIFICATIONS_ERROR_RATIO}{{{SEL}}})",
        unit="percentunit",
        description="The lowest share of failed alerts across Alertmanagers, per Prometheus.",
        legend="{{instance}}",
    ),
    inhibited_by_target_down=False,
)

NOTIFY_DROPPED = Threshold(
    name="PrometheusNotificationsDropped",
    signal="increase(prometheus_notifications_dropped_total[5m])",
    op=">",
    levels=(
        Level(
            Severity.WARNING,
            0,
            for_seconds=900,
            cooldown_seconds=3600,
            test=AlertTest(
                firing=(series("prometheus_notifications_dropped_total", PROMETHEUS, "0+1x40"),),
                quiet=(series("prometheus_notifications_dropped_total", PROMETHEUS, "3+0x40"),),
                labels=PROMETHEUS,
                value=5,
                warmup_seconds=60,
            ),
        ),
    ),
    team=Team.OPS,
    summary="Prometheus {{ $labels.instance }} drops alert notifications",
    description=(
        "Prometheus {{ $labels.instance }} dropped {{ $value | humanize }} alert notifications "
        "in the last 5 minutes, and has kept dropping them for 15 minutes (send errors, or "
        "a full queue). A firing alert is resent each minute; a short one may be lost."
    ),
    runbook=Runbook(
        meaning="Prometheus throws alert notifications away instead of delivering them.",
        impact="Alerts arrive late, and an alert that fires only briefly may never arrive.",
        diagnosis=(
            *_NOTIFY_DIAGNOSIS,
            "Queue against capacity: `prometheus_notifications_queue_length` / "
            "`prometheus_notifications_queue_capacity`",
        ),
        mitigation=(
            "Fix the delivery errors first (see the Alertmanager alerts beside this one).",
            "A full queue with no errors: raise --alertmanager.notification-queue-capacity, "
            "or find the rule that fires thousands of alerts.",
        ),
        escalation="Hand over to the ops team in working hours.",
    ),
    panel=Panel(
        title="Alert notifications dropped",
        expr=f"increase(prometheus_notifications_dropped_total{{{SEL}}}[$__rate_interval])",
        unit="short",
        description="Alert notifications Prometheus dropped.",
        legend="{{instance}}",
    ),
    inhibited_by_target_down=False,
)

QUEUE_FULL = Threshold(
    name="PrometheusNotificationQueueRunningFull",
    signal=(
        "predict_linear(prometheus_notifications_queue_length[5m], 1800)"
        " / on (instance, job) min_over_time(prometheus_notifications_queue_capacity[5m])"
    ),
    op=">",
    levels=(
        Level(
            Severity.WARNING,
            1,
            for_seconds=900,
            cooldown_seconds=3600,
            test=AlertTest(
                firing=(
                    series("prometheus_notifications_queue_length", PROMETHEUS, "0+500x40"),
                    series("prometheus_notifications_queue_capacity", PROMETHEUS, "10000+0x40"),
                ),
                quiet=(
                    series("prometheus_notifications_queue_length", PROMETHEUS, "0+0x40"),
                    series("prometheus_notifications_queue_capacity", PROMETHEUS, "10000+0x40"),
                ),
                labels=PROMETHEUS,
                value=2,
                warmup_seconds=60,
            ),
        ),
    ),
    team=Team.OPS,
    summary="Prometheus {{ $labels.instance }}'s alert queue will be full within 30 minutes",
    description=(
        "The alert notification queue of Prometheus {{ $labels.instance }} has been growing "
        "for 15 minutes at a pace that fills it within 30 minutes; once full, alerts are "
        "dropped."
    ),
    runbook=Runbook(
        meaning="Alerts queue up in Prometheus faster than they are delivered.",
        impact="When the queue is full, new alerts are dropped and never reach anyone.",
        diagnosis=(
            "Queue against capacity: `prometheus_notifications_queue_length` / "
            "`prometheus_notifications_queue_capacity`",
            "How fast alerts are sent: `rate(prometheus_notifications_sent_total[5m])`, and "
            "how long a send takes: `prometheus_notifications_latency_seconds`",
            "Which rules fire most alerts: `topk(5, count by (alertname) (ALERTS))`",
            "Prometheus' own account of the queue and of slow sends: ```sh\n"
            "journalctl -u prometheus --since -1h | grep -iE 'queue full|notif' | tail\n"
            "curl -s http://localhost:9090/api/v1/alertmanagers | jq .data\n```",
        ),
        mitigation=(
            "Make Alertmanager answer faster (resources, network), or fix the rule that "
            "fires thousands of alerts.",
        ),
        escalation="Hand over to the ops team in working hours.",
    ),
    panel=Panel(
        title="Alert queue used",
        expr=(
            f"prometheus_notifications_queue_length{{{SEL}}}"
            f" / prometheus_notifications_queue_capacity{{{SEL}}}"
        ),
        unit="percentunit",
        description="The share of Prometheus' alert notification queue in use.",
        legend="{{instance}}",
    ),
    inhibited_by_target_down=False,
)

NO_ALERTMANAGER = Threshold(
    name="PrometheusNotConnectedToAlertmanagers",
    signal="max_over_time(prometheus_notifications_alertmanagers_discovered[5m])",
    op="<",
    levels=(
        Level(
            Severity.WARNING,
            1,
            for_seconds=600,
            cooldown_seconds=3600,
            test=AlertTest(
                firing=(
                    series(
                        "prometheus_notifications_alertmanagers_discovered", PROMETHEUS, "0+0x30"
                    ),
                ),
                quiet=(
                    series(
                        "prometheus_notifications_alertmanagers_discovered", PROMETHEUS, "1+0x30"
                    ),
                ),
                labels=PROMETHEUS,
                value=0,
            ),
        ),
    ),
    team=Team.OPS,
    summary="Prometheus {{ $labels.instance }} knows no Alertmanager",
    description=(
        "Prometheus {{ $labels.instance }} has had no Alertmanager to send alerts to for 10 "
        "minutes: its alerts go nowhere. This one arrives only if another Prometheus "
        "reports it; the dead man's switch notices the missing Watchdog."
    ),
    runbook=Runbook(
        meaning="Prometheus' alerting configuration lists or discovers no Alertmanager.",
        impact="No alert from this Prometheus reaches anyone.",
        diagnosis=(
            "Alertmanagers known: `prometheus_notifications_alertmanagers_discovered`",
            "The alerting section Prometheus runs with: ```sh\n"
            "curl -s http://localhost:9090/api/v1/status/config | jq -r .data.yaml "
            "| sed -n '/^alerting:/,/^[a-z]/p'\n"
            "curl -s http://localhost:9090/api/v1/alertmanagers | jq .data\n```",
        ),
        mitigation=(
            "Restore the alerting section of prometheus.yml (regenerate it: "
            "`python -m generator`) and reload Prometheus.",
        ),
        escalation="Page the ops on-call engineer by another channel: alerting is down.",
    ),
    panel=Panel(
        title="Alertmanagers discovered",
        expr=f"prometheus_notifications_alertmanagers_discovered{{{SEL}}}",
        unit="short",
        description="How many Alertmanagers Prometheus sends its alerts to.",
        legend="{{instance}}",
        kind="stat",
    ),
    inhibited_by_target_down=False,
)

ALERTMANAGER_BAD_CONFIG = _reload_failed(
    "AlertmanagerFailedReload",
    "alertmanager_config_last_reload_successful",
    "Alertmanager",
    ALERTMANAGER,
    "amtool check-config /etc/alertmanager/alertmanager.yml",
    "curl -X POST http://localhost:9093/-/reload",
)

# Each Alertmanager of an HA cluster (deploy/ha/) against how many are scraped: one that
# sees fewer peers than are alive is cut off from them, and both sides notify.
AM_PEERS = "max_over_time(alertmanager_cluster_members[5m])"


def _am(instance: str) -> tuple[tuple[str, str], ...]:
    return (("instance", instance), ("job", "alertmanager"))


CLUSTER_SPLIT = Threshold(
    name="AlertmanagerClusterMembersMissing",
    signal=f"count by (job) ({AM_PEERS}) - on (job) group_right () {AM_PEERS}",
    op=">",
    levels=(
        Level(
            Severity.WARNING,
            0,
            # An Alertmanager that dies leaves the 5-minute window after 5 minutes and
            # stops being counted: only a partition lasts past this.
            for_seconds=900,
            cooldown_seconds=4 * 3600,
            test=AlertTest(
                firing=(
                    gauge("alertmanager_cluster_members", _am("am-0:9093"), 3),
                    gauge("alertmanager_cluster_members", _am("am-1:9093"), 3),
                    gauge("alertmanager_cluster_members", _am("am-2:9093"), 1),
                ),
                quiet=(
                    gauge("alertmanager_cluster_members", _am("am-0:9093"), 3),
                    gauge("alertmanager_cluster_members", _am("am-1:9093"), 3),
                    gauge("alertmanager_cluster_members", _am("am-2:9093"), 3),
                ),
                labels=_am("am-2:9093"),
                value=2,
            ),
        ),
    ),
    team=Team.OPS,
    summary="Alertmanager {{ $labels.instance }} is cut off from its cluster peers",
    description=(
        "Alertmanager {{ $labels.instance }} has seen {{ $value }} fewer cluster members than "
        "there are Alertmanagers scraped for 15 minutes: the cluster is split, and each side "
        "sends its own notifications (duplicate pages; a silence made on one side does not "
        "hold on the other)."
    ),
    runbook=Runbook(
        meaning=(
            "The Alertmanagers of the HA cluster do not all gossip with each other. Each part "
            "of a split cluster deduplicates only within itself."
        ),
        impact=(
            "Pages arrive twice (once per side), and an acknowledgement made on one side "
            "does not silence the alert on the other. Nothing is lost."
        ),
        diagnosis=(
            "How many peers each one sees, beside how many are scraped: "
            "`alertmanager_cluster_members`, `count by (job) (up{job=\"alertmanager\"} == 1)`",
            "Who each one sees: ```sh\n"
            "for am in am-0:9093 am-1:9093 am-2:9093; do\n"
            "  curl -s http://$am/api/v2/status | jq '.cluster.peers | length'; done\n```",
            "Is the cluster port (9094, TCP and UDP) open between them, and do their "
            "cluster peer flags name each other? Each file in deploy/ha/ names every peer.",
        ),
        mitigation=(
            "Restore the network between the Alertmanagers, or restart the one that is cut "
            "off with the right `--cluster.peer` flags; silences made meanwhile on one side "
            "should be made again after it rejoins.",
        ),
        escalation="Ops in working hours: duplicate pages are a nuisance, not a loss.",
    ),
    panel=Panel(
        title="Alertmanager cluster members",
        expr=f"alertmanager_cluster_members{{{SEL}}}",
        unit="short",
        description="Cluster members each Alertmanager of an HA cluster sees (none for a "
        "single Alertmanager run without clustering, as the local stack is).",
        legend="{{instance}}",
        expect_data=False,
    ),
    inhibited_by_target_down=False,
)

NOTIFICATION_FAILURES = Threshold(
    name="AlertmanagerNotificationsFailing",
    category=Category.SYSTEM_OUTAGE,
    signal="rate(alertmanager_notifications_failed_total[5m])",
    op=">",
    levels=(
        Level(
            Severity.CRITICAL,
            0,
            for_seconds=600,
            cooldown_seconds=3600,
            test=AlertTest(
                firing=(
                    series(
                        "alertmanager_notifications_failed_total",
                        (*ALERTMANAGER, ("integration", "webhook")),
                        "3+3x30",
                    ),
                ),
                quiet=(
                    series(
                        "alertmanager_notifications_failed_total",
                        (*ALERTMANAGER, ("integration", "webhook")),
                        "3+0x30",
                    ),
                ),
                labels=(*ALERTMANAGER, ("integration", "webhook")),
                value=0.05,
                warmup_seconds=60,
            ),
        ),
    ),
    team=Team.OPS,
    summary=(
        "Alertmanager {{ $labels.instance }} fails to send {{ $labels.integration }} notifications"
    ),
    description=(
        "Alertmanager {{ $labels.instance }} has failed to deliver notifications through "
        "{{ $labels.integration }} for 10 minutes ({{ $value | humanize }} failures per second)."
    ),
    runbook=Runbook(
        meaning="Alertmanager cannot deliver notifications through one integration.",
        impact="Alerts routed through it never reach anyone.",
        diagnosis=(
            "Which integrations: `rate(alertmanager_notifications_failed_total[5m]) > 0`",
            "Which share of attempts fail: `rate(alertmanager_notifications_failed_total[5m]) "
            "/ rate(alertmanager_notifications_total[5m])`",
            "Alertmanager's log names the receiver and the error of each failed attempt; check "
            "the secret file has no trailing newline (Alertmanager 0.25 sends it as is): "
            "```sh\njournalctl -u prometheus-alertmanager --since -1h | grep -i 'notify' | tail\n"
            "amtool check-config /etc/alertmanager/alertmanager.yml\n"
            "tail -c 1 /etc/alertmanager/secrets/<receiver>.* | od -c\n```",
        ),
        mitigation=(
            "Check the receiver's secret file and the integration's endpoint and quota.",
            "Route the affected alerts to a working receiver until it is fixed.",
        ),
        escalation="Page the ops on-call engineer by another channel (telephone).",
    ),
    panel=Panel(
        title="Notification failures",
        expr=f"rate(alertmanager_notifications_failed_total{{{SEL}}}[$__rate_interval])",
        unit="short",
        description="Failed notification attempts per second, per integration.",
        legend="{{integration}}",
        expect_data=False,
    ),
    inhibited_by_target_down=False,
)

WATCHDOG = Threshold(
    name="Watchdog",
    signal="vector(1)",
    op="==",
    levels=(
        Level(
            Severity.INFO,
            1,
            for_seconds=0,
            cooldown_seconds=300,
            # Always firing by design: there is no quiet case to test.
            test=AlertTest(firing=(), quiet=(), labels=(), value=1),
        ),
    ),
    team=Team.OPS,
    summary="The alerting pipeline is alive",
    description=(
        "This alert always fires. The dead man's switch service pages when its heartbeat "
        "stops arriving: then Prometheus, Alertmanager or the path between them is broken."
    ),
    runbook=Runbook(
        meaning="A heartbeat that always fires, delivered to the dead man's switch only.",
        impact="None while it arrives. When it stops, no alert can be trusted to arrive.",
        diagnosis=(
            "Are both alive (from a host that reaches them): ```sh\n"
            "curl -sf http://localhost:9090/-/healthy; curl -sf http://localhost:9093/-/healthy\n```",
            "Does Prometheus still know its Alertmanager, and does the Watchdog reach it: ```sh\n"
            "curl -s http://localhost:9090/api/v1/alertmanagers | jq .data.activeAlertmanagers\n"
            "amtool --alertmanager.url=http://localhost:9093 alert query alertname=Watchdog\n```",
            "Are Prometheus' notifications to Alertmanager failing: "
            "`rate(prometheus_notifications_errors_total[5m])`, "
            "`prometheus_notifications_dropped_total`",
        ),
        mitigation=(
            "Restart whichever of Prometheus and Alertmanager stopped, and check the network "
            "between them and to the dead man's switch service.",
        ),
        escalation="The dead man's switch pages the ops on-call engineer directly.",
    ),
    panel=Panel(
        title="Watchdog heartbeat",
        expr='ALERTS{alertname="Watchdog",alertstate="firing",job=~"$job",instance=~"$instance"}',
        unit="short",
        description="1 while Prometheus evaluates rules; the Watchdog alert itself.",
        legend="{{alertname}}",
        kind="stat",
    ),
    static_labels=(("instance", "prometheus"), ("job", "prometheus")),
    inhibited_by_target_down=False,
)


# The alerting pipeline's own objective: notifications Alertmanager hands to receivers.
ALERTING_PIPELINE = SLO(
    name="AlertNotificationsSLO",
    slo="alert-notifications",
    service="alertmanager",
    title="Alert notification delivery",
    description="Share of Alertmanager's notification attempts that reached the receiver.",
    objective_percent=99.5,
    sli=ErrorRatioSLI(
        bad='alertmanager_notifications_failed_total{job="alertmanager"}',
        total='alertmanager_notifications_total{job="alertmanager"}',
    ),
    team=Team.OPS,
    test_labels=(
        ("instance", "alertmanager-1:9093"),
        ("job", "alertmanager"),
        ("integration", "webhook"),
    ),
    runbook=SLORunbook(
        impact="Pages and tickets do not reach people: every other alert may be firing unseen.",
        diagnosis=(
            "Which integrations fail: `rate(alertmanager_notifications_failed_total[5m]) > 0`",
            "Alertmanager's own log: the receiver's error (HTTP status, TLS, DNS)",
            "Whether Prometheus reaches Alertmanager: "
            "`rate(prometheus_notifications_errors_total[5m])`",
        ),
        mitigation=(
            "Fix the failing receiver's endpoint or credentials; reload Alertmanager.",
            "Route critical alerts through the second integration while one is down.",
        ),
        escalation="Page the ops on-call engineer at once: the pager itself is unreliable.",
        supersedes=(
            (
                "AlertmanagerNotificationsFailing",
                "kept: it pages on any integration failing for 10 minutes and names it; one "
                "integration of several can fail without burning the pipeline's budget fast",
            ),
        ),
    ),
)

AREA = gather_module(
    __name__,
    title="Monitoring",
    description=(
        "The monitoring itself: exporters, scrape jobs, collectors, rule evaluation, "
        "configuration reloads, notifications."
    ),
    external_metrics=(
        "up",
        "ALERTS",
        "prometheus_rule_evaluation_failures_total",
        "alertmanager_notifications_failed_total",
        "alertmanager_notifications_total",
        "alertmanager_cluster_members",
        "prometheus_notifications_errors_total",
        "prometheus_notifications_dropped_total",
        "prometheus_notifications_sent_total",
        "prometheus_notifications_queue_length",
        "prometheus_notifications_queue_capacity",
        "prometheus_notifications_alertmanagers_discovered",
        "prometheus_notifications_latency_seconds",
        "prometheus_config_last_reload_successful",
        "alertmanager_config_last_reload_successful",
        "prometheus_rule_group_iterations_missed_total",
        "prometheus_rule_group_last_duration_seconds",
        "prometheus_rule_group_interval_seconds",
        "scrape_duration_seconds",
    ),
    slos=(ALERTING_PIPELINE,),
)
