"""Catalogue area ``security``: what the security exporter reads in access and auth logs.

Authentication failures, security events, rate limiting, brute force, privilege
escalation, attack patterns, cross-tenant access, secrets in logs, configuration drift
and 401/403 spikes, all routed to the security team. The brute-force policy itself
(``BRUTE_FORCE_FAILURES`` from one source within ``BRUTE_FORCE_WINDOW_SECONDS``) is
written here and is the exporter's default (``brute-force.failures``,
``brute-force.window``; a test holds them equal); the alert fires on its gauge.
"""

from __future__ import annotations

from generator.model import (
    AlertTest,
    Area,
    Level,
    Panel,
    RecordingRule,
    Runbook,
    Severity,
    Team,
    TestSeries,
    Threshold,
)
from generator.testseries import series

HOST = (("instance", "host-1:9105"), ("job", "security"))
SEL = 'job=~"$job",instance=~"$instance"'
NS = "promfleet_security"
# The brute-force policy: the exporter's defaults for brute-force.failures/.window.
BRUTE_FORCE_FAILURES = 5
BRUTE_FORCE_WINDOW_SECONDS = 300
_BF = f"{BRUTE_FORCE_FAILURES} or more"
_BF_WINDOW = f"{BRUTE_FORCE_WINDOW_SECONDS / 60:g} minutes"


def counter(
    metric: str, per_minute: float, labels: tuple[tuple[str, str], ...] = (), samples: int = 100
) -> TestSeries:
    """A counter growing by ``per_minute`` each minute, for ``samples`` minutes."""
    return series(f"{NS}_{metric}", (*HOST, *labels), f"0+{per_minute:g}x{samples}")


AUTH_1H = f"instance:{NS}_auth_failures:increase1h"
EVENTS_1H = f"instance:{NS}_events:increase1h"
LIMITED_1H = f"instance:{NS}_rate_limited:increase1h"
CONFIG_1H = f"instance:{NS}_config_changes:increase1h"
DENIED_5M = f"instance:{NS}_http_denied_responses:rate5m"
DENIED_1H = f"instance:{NS}_http_denied_responses:rate1h"
ESCALATIONS_5M = f"instance:{NS}_privilege_escalations:increase5m"
ATTACKS_10M = f"instance_kind:{NS}_attacks:increase10m"
CROSS_TENANT_5M = f"instance:{NS}_cross_tenant_attempts:increase5m"
SECRETS_1H = f"instance_kind:{NS}_sensitive_data:increase1h"

RECORDING_RULES = (
    RecordingRule(AUTH_1H, f"sum without (reason) (increase({NS}_auth_failures_total[1h]))"),
    RecordingRule(EVENTS_1H, f"sum without (category) (increase({NS}_events_total[1h]))"),
    RecordingRule(LIMITED_1H, f"increase({NS}_rate_limited_total[1h])"),
    RecordingRule(CONFIG_1H, f"increase({NS}_config_changes_total[1h])"),
    RecordingRule(DENIED_5M, f"sum without (code) (rate({NS}_http_denied_responses_total[5m]))"),
    RecordingRule(DENIED_1H, f"sum without (code) (rate({NS}_http_denied_responses_total[1h]))"),
    RecordingRule(ESCALATIONS_5M, f"increase({NS}_privilege_escalations_total[5m])"),
    RecordingRule(ATTACKS_10M, f"increase({NS}_attacks_total[10m])"),
    RecordingRule(CROSS_TENANT_5M, f"increase({NS}_cross_tenant_attempts_total[5m])"),
    RecordingRule(SECRETS_1H, f"increase({NS}_sensitive_data_total[1h])"),
)

_ESCALATE = (
    "Page the security on-call engineer at once for a critical alert; if an account or "
    "data may be compromised, open a security incident and bring in the service owner."
)
_ESCALATE_WARN = (
    "Hand it to the security team's queue within the hour; escalate to the security "
    "on-call engineer when it grows or repeats after mitigation."
)
_LOGS = (
    "Which log and whether the tailer keeps up: "
    f"`rate({NS}_log_lines_total[5m])`, `{NS}_log_lines_skipped_total`, "
    f"`{NS}_log_lines_bad_field_total` (a writer logging a list or object where text was "
    "expected: those fields go unchecked)"
)


AUTH_FAILURES_HIGH = Threshold(
    name="SecurityAuthFailuresHigh",
    signal=AUTH_1H,
    op=">",
    levels=(
        Level(
            Severity.CRITICAL,
            50,
            for_seconds=0,
            cooldown_seconds=1800,
            test=AlertTest(
                firing=(counter("auth_failures_total", 2, (("reason", "bad_password"),)),),
                quiet=(counter("auth_failures_total", 0.5, (("reason", "bad_password"),)),),
                labels=HOST,
                value=120,
                warmup_seconds=3600,
            ),
        ),
    ),
    team=Team.SECURITY,
    summary="{{ $value | humanize }} authentication failures in an hour on {{ $labels.instance }}",
    description=(
        "The logs read by {{ $labels.instance }} show {{ $value | humanize }} failed "
        "authentications in the last hour, more than 50. Someone may be guessing passwords "
        "or replaying stolen tokens."
    ),
    runbook=Runbook(
        meaning="More than 50 logins or token checks failed in the last hour.",
        impact="Accounts may be under attack; real users may also be locked out by a fault.",
        diagnosis=(
            f"By reason: `sum by (reason) (increase({NS}_auth_failures_total[1h]))`",
            f"Concentrated on a few sources? `{NS}_brute_force_sources`",
            "The authentication log itself, grouped by source and user: "
            "```sh\njq -r 'select(.event==\"login_failed\") | [.ip, .user] | @tsv' "
            "app.log | sort | uniq -c | sort -rn | head\n```",
            _LOGS,
        ),
        mitigation=(
            "Block the offending sources (the exporter's deny-list, a firewall rule).",
            "Lock or force a password reset on targeted accounts; require MFA.",
            "If one reason dominates after a deploy (invalid_token), roll the deploy back.",
        ),
        escalation=_ESCALATE,
    ),
    panel=Panel(
        title="Authentication failures (1 h)",
        expr=f"{AUTH_1H}{{{SEL}}}",
        unit="short",
        description="Failed authentications in the last hour, all reasons together.",
    ),
)

EVENTS_HIGH = Threshold(
    name="SecurityEventsHigh",
    signal=EVENTS_1H,
    op=">",
    levels=(
        Level(
            Severity.CRITICAL,
            100,
            for_seconds=0,
            cooldown_seconds=3600,
            test=AlertTest(
                firing=(counter("events_total", 3, (("category", "attack"),)),),
                quiet=(counter("events_total", 1, (("category", "attack"),)),),
                labels=HOST,
                value=180,
                warmup_seconds=3600,
            ),
        ),
    ),
    team=Team.SECURITY,
    summary="{{ $value | humanize }} security events in an hour on {{ $labels.instance }}",
    description=(
        "{{ $labels.instance }} counted {{ $value | humanize }} security events (failures, "
        "denials, attacks, escalations, revocations, secrets) in the last hour, more than 100."
    ),
    runbook=Runbook(
        meaning="More than 100 security-relevant log lines in the last hour.",
        impact="An attack or a misbehaving client is under way; real incidents hide in noise.",
        diagnosis=(
            f"By category: `sum by (category) (increase({NS}_events_total[1h]))`",
            f"Attack kinds: `sum by (kind) (increase({NS}_attacks_total[1h]))`",
            _LOGS,
        ),
        mitigation=(
            "Follow the runbook of the category that dominates.",
            "Rate-limit or block the sources at the edge while it is investigated.",
        ),
        escalation=_ESCALATE,
    ),
    panel=Panel(
        title="Security events (1 h)",
        expr=f"{EVENTS_1H}{{{SEL}}}",
        unit="short",
        description="Security events of every category in the last hour.",
    ),
)

RATE_LIMITED_HIGH = Threshold(
    name="SecurityRateLimitingHigh",
    signal=LIMITED_1H,
    op=">",
    levels=(
        Level(
            Severity.WARNING,
            100,
            for_seconds=0,
            cooldown_seconds=3600,
            test=AlertTest(
                firing=(counter("rate_limited_total", 3),),
                quiet=(counter("rate_limited_total", 1),),
                labels=HOST,
                value=180,
                warmup_seconds=3600,
            ),
        ),
    ),
    team=Team.SECURITY,
    summary="{{ $value | humanize }} rate-limited requests in an hour on {{ $labels.instance }}",
    description=(
        "{{ $labels.instance }} rate-limited {{ $value | humanize }} requests in the last "
        "hour, more than 100: a client is hammering the service, or a limit is too tight."
    ),
    runbook=Runbook(
        meaning="More than 100 requests in the last hour got HTTP 429 or a rate_limited event.",
        impact="Abusive clients are held back; legitimate clients over the limit see errors.",
        diagnosis=(
            f"Trend: `increase({NS}_rate_limited_total[1h])`",
            "Which clients, in the access log: ```sh\nawk '$9 == 429 {print $1}' "
            "access.log | sort | uniq -c | sort -rn | head\n```",
        ),
        mitigation=(
            "Block an abusive source; contact a legitimate client that exceeds its quota.",
            "Raise the limit if legitimate traffic grew.",
        ),
        escalation=_ESCALATE_WARN,
    ),
    panel=Panel(
        title="Rate-limited requests (1 h)",
        expr=f"{LIMITED_1H}{{{SEL}}}",
        unit="short",
        description="Requests answered 429 or logged as rate limited in the last hour.",
    ),
)

BRUTE_FORCE = Threshold(
    name="SecurityBruteForce",
    signal=f"{NS}_brute_force_sources",
    op=">",
    levels=(
        Level(
            Severity.CRITICAL,
            0,
            for_seconds=0,
            cooldown_seconds=1800,
            test=AlertTest(
                firing=(series(f"{NS}_brute_force_sources", HOST, "2+0x20"),),
                quiet=(series(f"{NS}_brute_force_sources", HOST, "0+0x20"),),
                labels=HOST,
                value=2,
            ),
        ),
    ),
    team=Team.SECURITY,
    summary="{{ $value | humanize }} sources brute-forcing logins on {{ $labels.instance }}",
    description=(
        f"{{{{ $value | humanize }}}} sources each failed to authenticate {_BF} times within "
        f"{_BF_WINDOW} in the logs read by {{{{ $labels.instance }}}}. Their addresses are in the "
        "exporter's deny-list file when it is enabled (never in a metric)."
    ),
    runbook=Runbook(
        meaning=f"At least one source failed {_BF} times within {_BF_WINDOW}.",
        impact="Password guessing or credential stuffing: accounts may be taken over.",
        diagnosis=(
            f"How many sources and detections: `{NS}_brute_force_sources`, "
            f"`increase({NS}_brute_force_detections_total[1h])`",
            "Which sources: the exporter's deny-list file (`denylist.file`), or the log: "
            "```sh\njq -r 'select(.event==\"login_failed\") | .ip' app.log | sort | "
            "uniq -c | sort -rn | head\n```",
            f"Is the window full (evictions)? `increase({NS}_brute_force_evictions_total[1h])`",
        ),
        mitigation=(
            "Make sure nginx includes the deny-list and reloads it; block at the firewall.",
            "Reset the credentials of accounts that saw a success from the same source.",
        ),
        escalation=_ESCALATE,
    ),
    panel=Panel(
        title="Brute-forcing sources",
        expr=f"{NS}_brute_force_sources{{{SEL}}}",
        unit="short",
        description=f"Sources with {_BF} failures within {_BF_WINDOW}, now.",
    ),
)

PRIVILEGE_ESCALATION = Threshold(
    name="SecurityPrivilegeEscalation",
    signal=ESCALATIONS_5M,
    op=">",
    levels=(
        Level(
            Severity.CRITICAL,
            0,
            for_seconds=0,
            cooldown_seconds=1800,
            test=AlertTest(
                firing=(counter("privilege_escalations_total", 1, samples=30),),
                quiet=(counter("privilege_escalations_total", 0, samples=30),),
                labels=HOST,
                value=5,
                warmup_seconds=300,
            ),
        ),
    ),
    team=Team.SECURITY,
    summary="A role was raised to admin on {{ $labels.instance }}",
    description=(
        "The logs read by {{ $labels.instance }} show {{ $value | humanize }} privilege "
        "escalations (a role or permission raised to an admin one) in the last 5 minutes."
    ),
    runbook=Runbook(
        meaning="A user or key was given an admin role or permission.",
        impact="If not planned, an attacker may hold full control of the application.",
        diagnosis=(
            f"How many: `increase({NS}_privilege_escalations_total[1h])`",
            "Who granted what to whom, in the audit log: ```sh\njq -c "
            "'select(.event|test(\"role|privilege|grant\"))' app.log | tail\n```",
        ),
        mitigation=(
            "Confirm the change with its author; revoke it at once if nobody planned it.",
            "Revoke the sessions and tokens of the account that made an unplanned change.",
        ),
        escalation=_ESCALATE,
    ),
    panel=Panel(
        title="Privilege escalations (5 m)",
        expr=f"{ESCALATIONS_5M}{{{SEL}}}",
        unit="short",
        description="Roles or permissions raised to admin in the last 5 minutes.",
    ),
)

ATTACK_KIND = (("kind", "sql_injection"),)

ATTACKS = Threshold(
    name="SecurityAttackPatterns",
    signal=ATTACKS_10M,
    op=">",
    levels=(
        Level(
            Severity.WARNING,
            10,
            for_seconds=0,
            cooldown_seconds=3600,
            test=AlertTest(
                firing=(counter("attacks_total", 3, ATTACK_KIND, samples=40),),
                quiet=(counter("attacks_total", 0.5, ATTACK_KIND, samples=40),),
                labels=(*HOST, *ATTACK_KIND),
                value=30,
                warmup_seconds=600,
            ),
        ),
    ),
    team=Team.SECURITY,
    summary="{{ $value | humanize }} {{ $labels.kind }} attempts in 10 minutes on "
    "{{ $labels.instance }}",
    description=(
        "Requests logged by {{ $labels.instance }} carried {{ $value | humanize }} "
        "{{ $labels.kind }} patterns in the last 10 minutes (more than 10)."
    ),
    runbook=Runbook(
        meaning="Many requests carry one kind of attack pattern (SQL injection, XSS, "
        "path traversal, command injection, auth bypass, or a scanner's user agent).",
        impact="Someone is probing the service; one success can leak or destroy data.",
        diagnosis=(
            f"By kind: `sum by (kind) (increase({NS}_attacks_total[1h]))`",
            "Which responses they got (a 200 to an injection is the worry): look up the "
            "requests in the access log by time.",
        ),
        mitigation=(
            "Block the sources; enable or tighten the WAF rule for this kind.",
            "Check the targeted endpoints for the vulnerability and patch it.",
        ),
        escalation=_ESCALATE_WARN,
    ),
    panel=Panel(
        title="Attack patterns by kind (10 m)",
        expr=f"{ATTACKS_10M}{{{SEL}}}",
        unit="short",
        description="Requests carrying each kind of attack pattern in the last 10 minutes.",
        legend="{{instance}} {{kind}}",
    ),
)

CROSS_TENANT = Threshold(
    name="SecurityCrossTenantAccess",
    signal=CROSS_TENANT_5M,
    op=">",
    levels=(
        Level(
            Severity.CRITICAL,
            0,
            for_seconds=0,
            cooldown_seconds=1800,
            test=AlertTest(
                firing=(counter("cross_tenant_attempts_total", 1, samples=30),),
                quiet=(counter("cross_tenant_attempts_total", 0, samples=30),),
                labels=HOST,
                value=5,
                warmup_seconds=300,
            ),
        ),
    ),
    team=Team.SECURITY,
    summary="Cross-tenant access attempted on {{ $labels.instance }}",
    description=(
        "{{ $value | humanize }} requests in the last 5 minutes asked for another tenant's "
        "resources, in the logs read by {{ $labels.instance }}."
    ),
    runbook=Runbook(
        meaning="A user of one tenant asked for a resource that belongs to another tenant.",
        impact="Tenant isolation may be broken: one customer could read another's data.",
        diagnosis=(
            f"How many: `increase({NS}_cross_tenant_attempts_total[1h])`",
            "Which users and resources, in the application log: ```sh\njq -c "
            "'select(.tenant != .target_tenant and .target_tenant != null)' app.log | "
            "tail\n```",
            "Were they answered 200 or 403? A 200 is a breach.",
        ),
        mitigation=(
            "Disable the account and revoke its tokens if it is probing.",
            "If any such request succeeded, treat it as a data breach and fix the check.",
        ),
        escalation=_ESCALATE,
    ),
    panel=Panel(
        title="Cross-tenant attempts (5 m)",
        expr=f"{CROSS_TENANT_5M}{{{SEL}}}",
        unit="short",
        description="Requests for another tenant's resources in the last 5 minutes.",
    ),
)

SECRET_KIND = (("kind", "password"),)

SENSITIVE_DATA = Threshold(
    name="SecuritySensitiveDataInLogs",
    signal=SECRETS_1H,
    op=">",
    levels=(
        Level(
            Severity.WARNING,
            0,
            for_seconds=0,
            cooldown_seconds=10800,
            test=AlertTest(
                firing=(counter("sensitive_data_total", 1, SECRET_KIND),),
                quiet=(counter("sensitive_data_total", 0, SECRET_KIND),),
                labels=(*HOST, *SECRET_KIND),
                value=60,
                warmup_seconds=3600,
            ),
        ),
    ),
    team=Team.SECURITY,
    summary="Secrets of kind {{ $labels.kind }} written to logs on {{ $labels.instance }}",
    description=(
        "{{ $value | humanize }} {{ $labels.kind }} values were written to the logs read by "
        "{{ $labels.instance }} in the last hour. The exporter counts them and never keeps them."
    ),
    runbook=Runbook(
        meaning="Passwords, API keys, card numbers, private keys or tokens appear in logs.",
        impact="Anyone who reads the logs (or their backups) can use the secrets; card "
        "numbers in logs break PCI DSS.",
        diagnosis=(
            f"By kind: `sum by (kind) (increase({NS}_sensitive_data_total[1h]))`",
            "Which service writes them: search the log for the field name (not the value): "
            "```sh\ngrep -c -i 'password' app.log\n```",
        ),
        mitigation=(
            "Fix the logging call to mask the field; deploy.",
            "Rotate the exposed secrets; purge or restrict the affected log files and backups.",
        ),
        escalation=_ESCALATE_WARN,
    ),
    panel=Panel(
        title="Secrets written to logs (1 h)",
        expr=f"{SECRETS_1H}{{{SEL}}}",
        unit="short",
        description="Secrets found in log lines in the last hour, by kind.",
        legend="{{instance}} {{kind}}",
    ),
)

CONFIG_DRIFT = Threshold(
    name="SecurityConfigurationDrift",
    signal=CONFIG_1H,
    op=">=",
    levels=(
        Level(
            Severity.WARNING,
            1,
            for_seconds=0,
            cooldown_seconds=3600,
            test=AlertTest(
                firing=(counter("config_changes_total", 0.05),),
                quiet=(counter("config_changes_total", 0),),
                labels=HOST,
                value=3,
                warmup_seconds=3600,
            ),
        ),
    ),
    team=Team.SECURITY,
    summary="Configuration changed {{ $value | humanize }} times in an hour on "
    "{{ $labels.instance }}",
    description=(
        "The logs read by {{ $labels.instance }} record {{ $value | humanize }} configuration "
        "changes in the last hour. Check that each one was planned."
    ),
    runbook=Runbook(
        meaning="Security-relevant configuration changed at least once in the last hour.",
        impact="An unplanned change can open access (a disabled check, a widened policy).",
        diagnosis=(
            f"How many: `increase({NS}_config_changes_total[24h])`",
            "What changed and who changed it, in the audit log: ```sh\njq -c "
            "'select(.event|test(\"config|settings\"))' app.log | tail\n```",
        ),
        mitigation=(
            "Match each change to a change request; revert what nobody planned.",
            "Revoke the credentials used for an unplanned change.",
        ),
        escalation=_ESCALATE_WARN,
    ),
    panel=Panel(
        title="Configuration changes (1 h)",
        expr=f"{CONFIG_1H}{{{SEL}}}",
        unit="short",
        description="Configuration changes in the last hour.",
    ),
)

DENIED_SPIKE = Threshold(
    name="SecurityDeniedResponsesSpike",
    signal=f"{DENIED_5M} / ({DENIED_1H} > 0)",
    op=">",
    guard=f"and {DENIED_5M} > 0.5",
    levels=(
        Level(
            Severity.WARNING,
            3,
            for_seconds=300,
            cooldown_seconds=3600,
            test=AlertTest(
                # 1 a minute for an hour, then 100 a minute: the condition holds from
                # minute 62; at the fire time (69 min) the 5-minute rate is 500/300 s
                # and the hour's 951/3600 s.
                firing=(
                    series(
                        f"{NS}_http_denied_responses_total",
                        (*HOST, ("code", "401")),
                        "0+1x60 160+100x40",
                    ),
                ),
                quiet=(
                    series(
                        f"{NS}_http_denied_responses_total",
                        (*HOST, ("code", "401")),
                        "0+1x100",
                    ),
                ),
                labels=HOST,
                value=6000 / 951,
                warmup_seconds=3720,
            ),
        ),
    ),
    team=Team.SECURITY,
    summary="401/403 responses spiked on {{ $labels.instance }}",
    description=(
        "Over the last 5 minutes {{ $labels.instance }} answered 401 and 403 more than "
        "three times as often as over the last hour, at more than 30 a minute."
    ),
    runbook=Runbook(
        meaning="Denied responses (401, 403) suddenly rose well above the hour's rate.",
        impact="An attack (credential stuffing, forced browsing) or a broken auth deploy.",
        diagnosis=(
            f"Now and the hour: `{DENIED_5M}`, `{DENIED_1H}`",
            f"Which code: `sum by (code) (rate({NS}_http_denied_responses_total[5m]))`",
            f"Also brute force? `{NS}_brute_force_sources`",
        ),
        mitigation=(
            "If one deploy broke authentication, roll it back.",
            "If it is an attack, block the sources and enable stricter rate limits.",
        ),
        escalation=_ESCALATE_WARN,
    ),
    panel=Panel(
        title="401/403 responses",
        expr=f"{DENIED_5M}{{{SEL}}}",
        unit="reqps",
        description="Denied (401 and 403) responses per second, over 5 minutes.",
        alert_thresholds=False,
    ),
)

AREA = Area(
    name="security",
    title="Security",
    description=(
        "Access and authentication logs read by the security exporter: failures, denials, "
        "rate limiting, attack patterns, brute force, privilege escalation, tenant "
        "isolation, secrets in logs and configuration drift."
    ),
    recording_rules=RECORDING_RULES,
    thresholds=(
        AUTH_FAILURES_HIGH,
        EVENTS_HIGH,
        RATE_LIMITED_HIGH,
        BRUTE_FORCE,
        PRIVILEGE_ESCALATION,
        ATTACKS,
        CROSS_TENANT,
        SENSITIVE_DATA,
        CONFIG_DRIFT,
        DENIED_SPIKE,
    ),
    panels=(
        Panel(
            title="Log lines read",
            expr=f"rate({NS}_log_lines_total{{{SEL}}}[$__rate_interval])",
            unit="short",
            description="Lines read per second from each log by the exporter's tailer.",
            legend="{{instance}} {{log}}",
        ),
        Panel(
            title="Log lines skipped",
            expr=f"rate({NS}_log_lines_skipped_total{{{SEL}}}[$__rate_interval])",
            unit="short",
            description="Lines skipped per second: unparsable, invalid UTF-8, too long, "
            "lost to a truncation.",
            legend="{{instance}} {{log}} {{reason}}",
        ),
        Panel(
            title="Log lines with a field of the wrong type",
            expr=f"rate({NS}_log_lines_bad_field_total{{{SEL}}}[$__rate_interval])",
            unit="short",
            description="Lines per second where a mapped field held a list or object instead "
            "of text: that field went unchecked, the rest of the line was counted.",
            legend="{{instance}} {{log}}",
        ),
        Panel(
            title="Log tailer lag",
            expr=f"{NS}_log_size_bytes{{{SEL}}} - {NS}_log_offset_bytes{{{SEL}}}",
            unit="bytes",
            description="Bytes written to each log that the tailer has not read yet.",
            legend="{{instance}} {{log}}",
        ),
        Panel(
            title="Security events by category",
            expr=f"sum by (instance, category) "
            f"(rate({NS}_events_total{{{SEL}}}[$__rate_interval]))",
            unit="short",
            description="Security events per second, by category.",
            legend="{{instance}} {{category}}",
        ),
        Panel(
            title="Deny-list entries",
            expr=f"{NS}_denylist_entries{{{SEL}}}",
            unit="short",
            description="Sources in the nginx deny-list written by the exporter.",
        ),
    ),
)
