"""Application alerts from the probe exporter: health endpoints, dependencies, certificates.

Panels on the main dashboard, but for the certificate's (external integrations).
"""

from __future__ import annotations

from generator.catalogue.application._common import (
    ESCALATE_ENG,
    ESCALATE_OPS,
    HEALTH,
    PROBE,
    SEL,
    SUCCESS_1H,
    UPTIME_1D,
    UPTIME_30D,
)
from generator.model import (
    AlertTest,
    Category,
    Level,
    Panel,
    RecordingRule,
    Runbook,
    Severity,
    Team,
    TestSeries,
    Threshold,
)
from generator.testseries import gauge as _gauge
from generator.testseries import series

# Uptime: the share of probes a target answered. A day is read from the raw samples
# (5,760 per target at a 15 s scrape); a month from 720 hourly means (a subquery at a
# one-hour step over SUCCESS_1H) instead of 172,800 raw samples per target, 240 times
# fewer, and exact: the hourly windows it reads do not overlap. Until the first whole hour
# has a mean (a new Prometheus), the month is the day, which then holds every sample.
_UPTIME_SERIES = (series("promfleet_probe_success", PROBE, "_x3 1x2 0x1 1x30"),)


def _uptime_expect(record: str) -> tuple[tuple[str, float], ...]:
    """Samples at minutes 3 to 10 by the 10th: up, up, up, down, down, up, up, up."""
    return ((record + "{" + ",".join(f'{k}="{v}"' for k, v in PROBE) + "}", 0.75),)


RECORDING_RULES = (
    RecordingRule(
        SUCCESS_1H,
        "avg_over_time(promfleet_probe_success[1h])",
        test_series=_UPTIME_SERIES,
        test_expect=_uptime_expect(SUCCESS_1H),
    ),
    RecordingRule(
        UPTIME_1D,
        "avg_over_time(promfleet_probe_success[1d])",
        test_series=_UPTIME_SERIES,
        test_expect=_uptime_expect(UPTIME_1D),
    ),
    RecordingRule(
        UPTIME_30D,
        f"avg_over_time({SUCCESS_1H}[30d:1h])\nor {UPTIME_1D}",
        test_series=_UPTIME_SERIES,
        test_expect=_uptime_expect(UPTIME_30D),
    ),
    RecordingRule(
        HEALTH,
        # 0 healthy, 1 degraded, 2 unhealthy or not answering.
        "max without (status) (\n"
        '  promfleet_probe_health_status{status="degraded"}\n'
        '  or promfleet_probe_health_status{status="unhealthy"} * 2\n'
        '  or label_replace((1 - promfleet_probe_success) * 2, "status", "down", "", "")\n'
        ")",
    ),
)


def _health(degraded: int, unhealthy: int, success: int = 1) -> tuple[TestSeries, ...]:
    return (
        _gauge("promfleet_probe_health_status", (*PROBE, ("status", "degraded")), degraded),
        _gauge("promfleet_probe_health_status", (*PROBE, ("status", "unhealthy")), unhealthy),
        _gauge("promfleet_probe_success", PROBE, success),
    )


SERVICE_UNHEALTHY = Threshold(
    name="AppServiceUnhealthy",
    category=Category.SYSTEM_OUTAGE,
    signal=HEALTH,
    op=">=",
    levels=(
        Level(
            Severity.WARNING,
            1,
            for_seconds=300,
            cooldown_seconds=3600,
            test=AlertTest(firing=_health(1, 0), quiet=_health(0, 0), labels=PROBE, value=1),
        ),
        Level(
            Severity.CRITICAL,
            2,
            for_seconds=60,
            cooldown_seconds=1800,
            test=AlertTest(
                firing=_health(0, 1, success=0),
                quiet=_health(1, 0),
                labels=PROBE,
                value=2,
                quiet_value=1,
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="Service {{ $labels.target }} reports itself degraded or unhealthy",
    description=(
        "The health endpoint of {{ $labels.target }} (probed by {{ $labels.instance }}) "
        "reports degraded (1) or unhealthy or unreachable (2); now {{ $value }}."
    ),
    runbook=Runbook(
        meaning="A service's own health check says it is degraded, unhealthy, or not answering.",
        impact="Degraded: some features fail. Unhealthy: the service is effectively down.",
        diagnosis=(
            f"Health level (0 ok, 1 degraded, 2 down): `{HEALTH}`",
            "Which dependency it blames: `promfleet_probe_dependency_up == 0`",
            "Why the probe failed: `promfleet_probe_failure == 1`",
            "The endpoint itself: ```sh\ncurl -s http://SERVICE/healthz\n```",
        ),
        mitigation=(
            "Restore the dependency the health body names.",
            "Restart or fail over the service when it does not answer at all.",
        ),
        escalation=ESCALATE_ENG,
    ),
    panel=Panel(
        title="Service health (0 ok, 1 degraded, 2 down)",
        expr=f'{HEALTH}{{job=~"$job",instance=~"$instance"}}',
        unit="short",
        description="Health level from each probed health endpoint.",
        legend="{{target}}",
    ),
)

DEPENDENCY = (*PROBE[:2], ("dependency", "redis"), PROBE[2])

DEPENDENCY_DOWN = Threshold(
    name="AppDependencyDown",
    signal="promfleet_probe_dependency_up",
    op="<",
    levels=(
        Level(
            Severity.WARNING,
            1,
            for_seconds=120,
            cooldown_seconds=3600,
            test=AlertTest(
                firing=(_gauge("promfleet_probe_dependency_up", DEPENDENCY, 0),),
                quiet=(_gauge("promfleet_probe_dependency_up", DEPENDENCY, 1),),
                labels=DEPENDENCY,
                value=0,
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="{{ $labels.target }} reports its dependency {{ $labels.dependency }} down",
    description=(
        "For 2 minutes the health endpoint of {{ $labels.target }} has reported "
        "{{ $labels.dependency }} as down."
    ),
    runbook=Runbook(
        meaning="A service says one of the things it depends on is unavailable to it.",
        impact="Features that need the dependency fail; the service may be degraded.",
        diagnosis=(
            "Which: `promfleet_probe_dependency_up == 0`",
            "The dependency's own alerts (database, redis) on the overview dashboard.",
        ),
        mitigation=("Restore the dependency, or the network path from the service to it.",),
        escalation=ESCALATE_ENG,
    ),
    panel=Panel(
        title="Dependencies up",
        expr=f"promfleet_probe_dependency_up{{{SEL}}}",
        unit="short",
        description="1 when a probed service reports the dependency up, 0 when down.",
        legend="{{target}} {{dependency}}",
    ),
)

CERT_EXPIRING = Threshold(
    name="AppTLSCertificateExpiring",
    category=Category.SYSTEM_OUTAGE,
    signal="promfleet_probe_tls_certificate_expiry_timestamp_seconds - time()",
    op="<",
    # The probe keeps publishing an expired certificate's date (verified but for its
    # dates); if the series still vanishes (the endpoint stops answering, the probe
    # fails), the page stays up rather than reading "resolved".
    keep_firing_seconds=1800,
    levels=(
        Level(
            Severity.CRITICAL,
            3 * 86400,
            for_seconds=300,
            cooldown_seconds=14400,
            test=AlertTest(
                firing=(
                    series(
                        "promfleet_probe_tls_certificate_expiry_timestamp_seconds",
                        PROBE,
                        "86400+0x40",
                    ),
                ),
                quiet=(
                    series(
                        "promfleet_probe_tls_certificate_expiry_timestamp_seconds",
                        PROBE,
                        "864000+0x40",
                    ),
                ),
                labels=PROBE,
                value=86400 - 420,  # 1 day from t=0, evaluated at 420 s
                quiet_value=864000 - 420,  # 10 days: the warning's, not yet held for 10m
            ),
        ),
        Level(
            Severity.WARNING,
            14 * 86400,
            for_seconds=600,
            cooldown_seconds=86400,
            test=AlertTest(
                firing=(
                    series(
                        "promfleet_probe_tls_certificate_expiry_timestamp_seconds",
                        PROBE,
                        "864000+0x40",
                    ),
                ),
                quiet=(
                    series(
                        "promfleet_probe_tls_certificate_expiry_timestamp_seconds",
                        PROBE,
                        "99999999999+0x40",
                    ),
                ),
                labels=PROBE,
                value=864000 - 720,  # 10 days from t=0, evaluated at 720 s
            ),
        ),
    ),
    team=Team.OPS,
    summary="The TLS certificate of {{ $labels.target }} expires within 14 days, or has expired",
    description=(
        "The certificate served by {{ $labels.target }} (probed by {{ $labels.instance }}) "
        "has {{ $value | humanizeDuration }} left (negative: it has expired). Warning under "
        "14 days; critical under 3 days or once expired, when clients refuse the connection."
    ),
    runbook=Runbook(
        meaning="A served TLS certificate is close to its expiry date (warning: under 14 "
        "days), or under 3 days from it or past it (critical: renewal has failed and there is "
        "no time left to wait for it).",
        impact="Under 14 days, nothing yet; once expired, every client refuses to connect "
        "(the probe then fails with reason tls, and still reports the expired date).",
        diagnosis=(
            "Days left: `(promfleet_probe_tls_certificate_expiry_timestamp_seconds - time()) "
            "/ 86400`",
            "The certificate: ```sh\nopenssl s_client -connect HOST:443 </dev/null "
            "| openssl x509 -noout -enddate\n```",
        ),
        mitigation=(
            "Renew the certificate and reload the server that serves it.",
            "If renewal is automated (ACME), find why it failed: its logs, DNS, rate limits.",
        ),
        escalation=ESCALATE_OPS,
    ),
    panel=Panel(
        title="TLS certificate time left",
        dashboard="integrations",
        expr=f"promfleet_probe_tls_certificate_expiry_timestamp_seconds{{{SEL}}} - time()",
        unit="s",
        description="Seconds until each probed endpoint's certificate expires.",
        legend="{{target}}",
        expect_data=False,
    ),
)

PANELS = (
    Panel(
        title="Uptime over the day and the month",
        expr=(
            f'label_replace({UPTIME_1D}{{{SEL}}}, "window", "day", "", "")'
            f' or label_replace({UPTIME_30D}{{{SEL}}}, "window", "month", "", "")'
        ),
        unit="percentunit",
        description="Share of health probes each service answered over the last 24 hours "
        "and the last 30 days (the month from hourly means; time when the probe exporter "
        "or Prometheus was down counts neither way).",
        legend="{{target}} {{window}}",
        kind="stat",
    ),
    Panel(
        title="Probe duration",
        expr=f"promfleet_probe_duration_seconds{{{SEL}}}",
        unit="s",
        description="How long each health endpoint took to answer the probe.",
        legend="{{target}}",
    ),
)
