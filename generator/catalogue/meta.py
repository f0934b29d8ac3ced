"""Catalogue area ``meta``: the monitoring watching itself.

Exporter targets down, collectors failing, Prometheus failing to evaluate rules,
Alertmanager failing to notify, and the always-firing ``Watchdog`` heartbeat that the
dead man's switch expects (silence from it means the pipeline is broken).
"""

from __future__ import annotations

from exporters.registry import SOURCES
from generator.model import (
    AlertTest,
    Area,
    Level,
    Panel,
    Runbook,
    Severity,
    Team,
    Threshold,
)
from generator.testseries import series

EXPORTER = (("instance", "host-1:9101"), ("job", "system"))
PROMETHEUS = (("instance", "localhost:9090"), ("job", "prometheus"))
ALERTMANAGER = (("instance", "localhost:9093"), ("job", "alertmanager"))
JOBS = "|".join(SOURCES)
SEL = 'job=~"$job",instance=~"$instance"'

TARGET_DOWN = Threshold(
    name="PromfleetTargetDown",
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
    signal="increase(prometheus_rule_evaluation_failures_total[5m])",
    op=">",
    levels=(
        Level(
            Severity.CRITICAL,
            0,
            for_seconds=300,
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
        "{{ $labels.rule_group }} for 5 minutes. Alerts of that group may not fire."
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

NOTIFICATION_FAILURES = Threshold(
    name="AlertmanagerNotificationsFailing",
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
    static_labels=(("instance", "prometheus"),),
    inhibited_by_target_down=False,
)

AREA = Area(
    name="meta",
    title="Monitoring",
    description="The monitoring itself: exporters, collectors, rule evaluation, notifications.",
    recording_rules=(),
    thresholds=(TARGET_DOWN, COLLECTOR_FAILING, RULE_FAILURES, NOTIFICATION_FAILURES, WATCHDOG),
    external_metrics=(
        "up",
        "ALERTS",
        "prometheus_rule_evaluation_failures_total",
        "alertmanager_notifications_failed_total",
        "alertmanager_notifications_total",
        "prometheus_notifications_errors_total",
        "prometheus_notifications_dropped_total",
        "scrape_duration_seconds",
    ),
)
