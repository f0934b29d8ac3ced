"""Catalogue area ``security``: what the security exporter reads in access and auth logs.

Authentication failures, security events, rate limiting, brute force, privilege
escalation, attack patterns, cross-tenant access, secrets in logs, configuration drift
and spikes of 403 (forbidden) responses, all routed to the security team. The
brute-force policy itself (``BRUTE_FORCE_FAILURES`` from one source within
``BRUTE_FORCE_WINDOW_SECONDS``) is written here and is the exporter's default
(``brute-force.failures``, ``brute-force.window``; a test holds them equal); the alert
fires on its gauge.

How these alerts fire (the alerting policy applied to log counters):

- The exporter counts each log line as one event in one category, so an alert that adds
  categories up never counts a line twice (a failed login answered 401 is one
  ``auth_failure``, not also an ``access_denied``).
- "More than N an hour" keeps its meaning, but no longer stays firing for an hour after
  a burst: such an alert fires while the last hour holds more than N *and* the last 10
  minutes still run at more than N an hour, held for 5 minutes. It resolves about 10
  minutes after the burst ends, not an hour later.
- Where one occurrence is itself the finding (a brute-force run, a privilege
  escalation, a cross-tenant request, a secret in a log, an unplanned configuration
  change) the entry says so (``single_event``) and looks at a short window, so it fires
  at once and resolves a few minutes after.
- Severity: critical only where a human must act now (an account under a brute-force
  run, an admin role granted, tenant isolation probed); volumes (failures, events,
  rate limiting, attack patterns) and findings to clean up (secrets, drift) are
  warnings, worked within the hour.
"""

from __future__ import annotations

import math

from generator.catalogue._gather import gather_module
from generator.catalogue._seeds import seed_note
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
    scraped_since,
)
from generator.testseries import series

HOST = (("instance", "host-1:9105"), ("job", "security"))
SEL = 'job=~"$job",instance=~"$instance"'
NS = "promfleet_security"
# The brute-force policy: the exporter's defaults for brute-force.failures/.window.
BRUTE_FORCE_FAILURES = 5
BRUTE_FORCE_WINDOW_SECONDS = 300
# The attack kinds whose runs block their source: the exporter's default
# denylist.attack-kinds (a test holds them equal).
BLOCKING_ATTACK_KINDS = ("sql_injection", "path_traversal", "command_injection")
_BF = f"{BRUTE_FORCE_FAILURES} or more"
_BF_WINDOW = f"{BRUTE_FORCE_WINDOW_SECONDS / 60:g} minutes"


def counter(
    metric: str, per_minute: float, labels: tuple[tuple[str, str], ...] = (), samples: int = 100
) -> TestSeries:
    """A counter growing by ``per_minute`` each minute, for ``samples`` minutes."""
    return series(f"{NS}_{metric}", (*HOST, *labels), f"0+{per_minute:g}x{samples}")


# A counter flat at 0 for this many minutes, so that every window is full of samples when
# it starts to grow: the minute an alert's condition starts to hold is then exact.
LEAD_MINUTES = 60


def rising(metric: str, per_minute: float, labels: tuple[tuple[str, str], ...] = ()) -> TestSeries:
    """A counter at 0 for ``LEAD_MINUTES``, then growing by ``per_minute`` each minute."""
    return series(f"{NS}_{metric}", (*HOST, *labels), f"0+0x{LEAD_MINUTES} 0+{per_minute:g}x90")


def rising_test(
    per_minute: float,
    above: float,
    window_minutes: int,
    for_seconds: int,
    firing: TestSeries,
    quiet: tuple[TestSeries, ...],
    labels: tuple[tuple[str, str], ...] = HOST,
) -> AlertTest:
    """The test of "more than ``above`` in ``window_minutes``" fed a :func:`rising` counter.

    Growth starts after minute ``LEAD_MINUTES + 1``; the window's increase first exceeds
    ``above`` a whole minute later, and the alert fires two minutes after its ``for``.
    """
    grown = LEAD_MINUTES + 1
    starts = grown + math.floor(above / per_minute) + 1
    fires = starts + math.ceil(for_seconds / 60) + 2
    return AlertTest(
        firing=(firing,),
        quiet=quiet,
        labels=labels,
        value=per_minute * min(fires - grown, window_minutes),
        warmup_seconds=starts * 60,
    )


AUTH_1H = f"instance:{NS}_auth_failures:increase1h"
AUTH_10M = f"instance:{NS}_auth_failures:rate10m"
EVENTS_1H = f"instance:{NS}_events:increase1h"
EVENTS_10M = f"instance:{NS}_events:rate10m"
LIMITED_1H = f"instance:{NS}_rate_limited:increase1h"
LIMITED_10M = f"instance:{NS}_rate_limited:rate10m"
DRIFT_15M = f"instance:{NS}_config_changes_unplanned:increase15m"
# 403s only: a 401 is an authentication failure, SecurityAuthFailuresHigh's to count.
DENIED_5M = f"instance:{NS}_http_forbidden_responses:rate5m"
DENIED_1H = f"instance:{NS}_http_forbidden_responses:rate1h"
FORBIDDEN = f'{NS}_http_denied_responses_total{{code="403"}}'
ESCALATIONS_5M = f"instance:{NS}_privilege_escalations:increase5m"
ATTACKS_10M = f"instance_kind:{NS}_attacks:increase10m"
CROSS_TENANT_5M = f"instance:{NS}_cross_tenant_attempts:increase5m"
SECRETS_15M = f"instance_kind:{NS}_sensitive_data:increase15m"

# The "more than N an hour" alerts: the seeds' numbers, now also required of the last
# 10 minutes' pace so that the alert resolves soon after a burst, and held this long.
AUTH_FAILURES_PER_HOUR = 50
EVENTS_PER_HOUR = 100
RATE_LIMITED_PER_HOUR = 100
HOURLY_FOR_SECONDS = 300
ATTACK_PATTERNS_PER_10M = 10  # SecurityAttackPatterns: more than this of one kind


def still_going(pace_rule: str, per_hour: float) -> str:
    """The guard of an hourly-count alert: the last 10 minutes still run at its pace."""
    return f"and on (instance, job) {pace_rule} * 3600 > {per_hour:g}"


# The threat level: one number per exporter instance, 0 low, 1 elevated, 2 high,
# 3 critical, the highest level any of its signals reaches (see THREAT_SIGNALS).
THREAT = f"instance:{NS}_threat:level"
THREAT_LEVELS = ("low", "elevated", "high", "critical")
THREAT_COLORS = ("green", "yellow", "orange", "red")
# Failed authentications an hour that make the level elevated: half the alert's number.
ELEVATED_AUTH_FAILURES_PER_HOUR = AUTH_FAILURES_PER_HOUR / 2
THREAT_HIGH_FOR_SECONDS = 1800
# (level, condition, what it means): each condition is per (instance, job), true when it
# returns a series. Written after the rules they read, so one evaluation sees them all.
THREAT_SIGNALS: tuple[tuple[int, str, str], ...] = (
    (3, f"{NS}_brute_force_sources > 0", "a brute-force run is under way"),
    (3, f"{ESCALATIONS_5M} > 0", "a role was raised to admin in the last 5 minutes"),
    (3, f"{CROSS_TENANT_5M} > 0", "a cross-tenant request in the last 5 minutes"),
    (
        2,
        f"{NS}_attack_sources > 0",
        "a source is in an attack run of a blocking kind (SQL injection, command injection, "
        "path traversal: the runs that block it)",
    ),
    (
        2,
        f"{ATTACKS_10M} > {ATTACK_PATTERNS_PER_10M}",
        f"more than {ATTACK_PATTERNS_PER_10M} attack patterns of one kind in 10 minutes",
    ),
    (
        2,
        f"{AUTH_1H} > {AUTH_FAILURES_PER_HOUR}",
        f"more than {AUTH_FAILURES_PER_HOUR} failed authentications in the last hour",
    ),
    (1, f"{ATTACKS_10M} > 0", "any attack pattern in the last 10 minutes"),
    (
        1,
        f"{AUTH_1H} > {ELEVATED_AUTH_FAILURES_PER_HOUR:g}",
        f"more than {ELEVATED_AUTH_FAILURES_PER_HOUR:g} failed authentications in the last hour",
    ),
    (
        1,
        f"{LIMITED_1H} > {RATE_LIMITED_PER_HOUR}",
        f"more than {RATE_LIMITED_PER_HOUR} rate-limited requests in the last hour",
    ),
    (
        1,
        f"increase({NS}_denylist_blocks_total[1h]) > 0",
        "a source was blocked (automatically or by hand) in the last hour",
    ),
)


def threat_level_expr() -> str:
    """The first term that returns a series wins (``or`` keeps the left-hand one), so the
    terms go from the highest level down; the last gives every instance its 0."""
    terms = [
        f"(max by (instance, job) ({condition}) * 0 + {level})"
        for level, condition, _ in sorted(THREAT_SIGNALS, key=lambda s: -s[0])
    ]
    terms.append(f"(max by (instance, job) ({NS}_brute_force_sources) * 0)")
    return "\n  or ".join(terms)


def _threat_moves() -> str:
    return "; ".join(
        f"{THREAT_LEVELS[level]} when {meaning}" for level, _, meaning in THREAT_SIGNALS
    )


RECORDING_RULES = (
    RecordingRule(AUTH_1H, f"sum without (reason) (increase({NS}_auth_failures_total[1h]))"),
    RecordingRule(AUTH_10M, f"sum without (reason) (rate({NS}_auth_failures_total[10m]))"),
    RecordingRule(EVENTS_1H, f"sum without (category) (increase({NS}_events_total[1h]))"),
    RecordingRule(EVENTS_10M, f"sum without (category) (rate({NS}_events_total[10m]))"),
    RecordingRule(LIMITED_1H, f"increase({NS}_rate_limited_total[1h])"),
    RecordingRule(LIMITED_10M, f"rate({NS}_rate_limited_total[10m])"),
    RecordingRule(
        DRIFT_15M,
        f'sum without (origin) (increase({NS}_config_changes_total{{origin="unplanned"}}[15m]))',
    ),
    RecordingRule(DENIED_5M, f"sum without (code) (rate({FORBIDDEN}[5m]))"),
    RecordingRule(DENIED_1H, f"sum without (code) (rate({FORBIDDEN}[1h]))"),
    RecordingRule(ESCALATIONS_5M, f"increase({NS}_privilege_escalations_total[5m])"),
    RecordingRule(ATTACKS_10M, f"increase({NS}_attacks_total[10m])"),
    RecordingRule(CROSS_TENANT_5M, f"increase({NS}_cross_tenant_attempts_total[5m])"),
    RecordingRule(SECRETS_15M, f"increase({NS}_sensitive_data_total[15m])"),
    RecordingRule(THREAT, threat_level_expr()),
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
    category=Category.SECURITY_INCIDENT,
    signal=AUTH_1H,
    op=">",
    guard=still_going(AUTH_10M, AUTH_FAILURES_PER_HOUR),
    levels=(
        Level(
            Severity.WARNING,
            AUTH_FAILURES_PER_HOUR,
            for_seconds=HOURLY_FOR_SECONDS,
            cooldown_seconds=1800,
            test=rising_test(
                2,
                AUTH_FAILURES_PER_HOUR,
                60,
                HOURLY_FOR_SECONDS,
                firing=rising("auth_failures_total", 2, (("reason", "bad_password"),)),
                quiet=(counter("auth_failures_total", 0.5, (("reason", "bad_password"),), 150),),
            ),
        ),
    ),
    team=Team.SECURITY,
    summary="{{ $value | humanize }} authentication failures in an hour on {{ $labels.instance }}",
    description=(
        "The logs read by {{ $labels.instance }} show {{ $value | humanize }} failed "
        "authentications in the last hour, more than 50, still failing at that pace over the "
        "last 10 minutes. Spread over many sources (none brute-forcing on its own) this is "
        "credential stuffing; it may also be real users locked out by a fault."
    ),
    runbook=Runbook(
        meaning="More than 50 logins or token checks failed in the last hour, and they still "
        "fail at more than 50 an hour over the last 10 minutes (it resolves about 10 minutes "
        "after the failures stop).",
        impact="Accounts may be under attack (credential stuffing: many sources, each under "
        "the brute-force threshold); real users may also be locked out by a fault.",
        diagnosis=(
            f"By reason: `sum by (reason) (increase({NS}_auth_failures_total[1h]))`",
            f"Pace now, per hour: `{AUTH_10M} * 3600`",
            f"Concentrated on a few sources (`{NS}_brute_force_sources`), or spread over many "
            f"(`{NS}_brute_force_tracked_sources`: sources with a failure in the last "
            f"{_BF_WINDOW})?",
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
    category=Category.SECURITY_INCIDENT,
    signal=EVENTS_1H,
    op=">",
    guard=still_going(EVENTS_10M, EVENTS_PER_HOUR),
    levels=(
        Level(
            Severity.WARNING,
            EVENTS_PER_HOUR,
            for_seconds=HOURLY_FOR_SECONDS,
            cooldown_seconds=3600,
            test=rising_test(
                3,
                EVENTS_PER_HOUR,
                60,
                HOURLY_FOR_SECONDS,
                firing=rising("events_total", 3, (("category", "attack"),)),
                quiet=(counter("events_total", 1, (("category", "attack"),), 150),),
            ),
        ),
    ),
    team=Team.SECURITY,
    summary="{{ $value | humanize }} security events in an hour on {{ $labels.instance }}",
    description=(
        "{{ $labels.instance }} counted {{ $value | humanize }} security events (failures, "
        "denials, attacks, escalations, revocations, secrets; each log line once, in one "
        "category) in the last hour, more than 100, still at that pace over the last 10 minutes."
    ),
    runbook=Runbook(
        meaning="More than 100 security-relevant log lines in the last hour (each counted "
        "once, in its most serious category), still more than 100 an hour over the last 10 "
        "minutes. The categories that need a human now page on their own alerts.",
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
    category=Category.SECURITY_INCIDENT,
    signal=LIMITED_1H,
    op=">",
    guard=still_going(LIMITED_10M, RATE_LIMITED_PER_HOUR),
    levels=(
        Level(
            Severity.WARNING,
            RATE_LIMITED_PER_HOUR,
            for_seconds=HOURLY_FOR_SECONDS,
            cooldown_seconds=3600,
            test=rising_test(
                3,
                RATE_LIMITED_PER_HOUR,
                60,
                HOURLY_FOR_SECONDS,
                firing=rising("rate_limited_total", 3),
                quiet=(counter("rate_limited_total", 1, samples=150),),
            ),
        ),
    ),
    team=Team.SECURITY,
    summary="{{ $value | humanize }} rate-limited requests in an hour on {{ $labels.instance }}",
    description=(
        "{{ $labels.instance }} rate-limited {{ $value | humanize }} requests in the last "
        "hour, more than 100, still at that pace over the last 10 minutes: a client is "
        "hammering the service, or a limit is too tight."
    ),
    runbook=Runbook(
        meaning="More than 100 requests in the last hour got HTTP 429 or a rate_limited "
        "event (one request counts once), still more than 100 an hour over the last 10 "
        "minutes.",
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
    category=Category.SECURITY_INCIDENT,
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
    single_event=(
        f"One brute-force run is the incident: the exporter already required {_BF} failures "
        f"from one source within {_BF_WINDOW} before the gauge counts it."
    ),
    summary="{{ $value | humanize }} sources brute-forcing logins on {{ $labels.instance }}",
    description=(
        f"{{{{ $value | humanize }}}} sources each failed to authenticate {_BF} times within "
        f"{_BF_WINDOW} in the logs read by {{{{ $labels.instance }}}}. Their addresses are in the "
        "exporter's deny-list file when it is enabled (never in a metric)."
    ),
    runbook=Runbook(
        meaning=f"At least one source failed {_BF} times within {_BF_WINDOW}. "
        + seed_note("SecurityBruteForce"),
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
    category=Category.SECURITY_INCIDENT,
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
    single_event=(
        "One admin grant is the incident: if nobody planned it, an attacker may hold the "
        "application, and waiting for a second one only gives them time."
    ),
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
    category=Category.SECURITY_INCIDENT,
    signal=ATTACKS_10M,
    op=">",
    levels=(
        Level(
            Severity.WARNING,
            ATTACK_PATTERNS_PER_10M,
            for_seconds=300,
            cooldown_seconds=3600,
            test=rising_test(
                3,
                ATTACK_PATTERNS_PER_10M,
                10,
                300,
                firing=rising("attacks_total", 3, ATTACK_KIND),
                quiet=(counter("attacks_total", 0.5, ATTACK_KIND, samples=150),),
                labels=(*HOST, *ATTACK_KIND),
            ),
        ),
    ),
    team=Team.SECURITY,
    summary="{{ $value | humanize }} {{ $labels.kind }} attempts in 10 minutes on "
    "{{ $labels.instance }}",
    description=(
        "Requests logged by {{ $labels.instance }} carried {{ $value | humanize }} "
        "{{ $labels.kind }} patterns in the last 10 minutes (more than 10), for at least "
        "5 minutes."
    ),
    runbook=Runbook(
        meaning="Many requests carry one kind of attack pattern (SQL injection, XSS, "
        "path traversal, command injection, auth bypass, or a scanner's user agent), for 5 "
        "minutes on end. A request counts once, as the first kind it carries (a scanner's "
        "user agent only when it carries no payload).",
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
    category=Category.SECURITY_INCIDENT,
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
    single_event=(
        "One request for another tenant's data is the incident: a working attempt is a "
        "breach, and even a refused one means someone is probing the isolation."
    ),
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
    category=Category.SECURITY_INCIDENT,
    signal=SECRETS_15M,
    op=">",
    levels=(
        Level(
            Severity.WARNING,
            0,
            for_seconds=0,
            cooldown_seconds=10800,
            test=AlertTest(
                firing=(counter("sensitive_data_total", 1, SECRET_KIND, samples=40),),
                quiet=(counter("sensitive_data_total", 0, SECRET_KIND, samples=40),),
                labels=(*HOST, *SECRET_KIND),
                value=15,
                warmup_seconds=900,
            ),
        ),
    ),
    team=Team.SECURITY,
    single_event=(
        "One secret in a log is the finding: it must be rotated and the logging call fixed, "
        "however many follow."
    ),
    summary="Secrets of kind {{ $labels.kind }} written to logs on {{ $labels.instance }}",
    description=(
        "{{ $value | humanize }} {{ $labels.kind }} values were written to the logs read by "
        "{{ $labels.instance }} in the last 15 minutes. The exporter counts them and never "
        "keeps them."
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
        title="Secrets written to logs (15 m)",
        expr=f"{SECRETS_15M}{{{SEL}}}",
        unit="short",
        description="Secrets found in log lines in the last 15 minutes, by kind.",
        legend="{{instance}} {{kind}}",
    ),
)

UNPLANNED = (("origin", "unplanned"),)

CONFIG_DRIFT = Threshold(
    name="SecurityConfigurationDrift",
    category=Category.SECURITY_INCIDENT,
    signal=DRIFT_15M,
    op=">",
    levels=(
        Level(
            Severity.WARNING,
            0,
            for_seconds=0,
            cooldown_seconds=3600,
            test=AlertTest(
                firing=(counter("config_changes_total", 0.2, UNPLANNED, samples=40),),
                # A deploy: the pipeline changes configuration every minute, and nobody else.
                quiet=(
                    counter("config_changes_total", 0, UNPLANNED, samples=40),
                    counter("config_changes_total", 1, (("origin", "deploy_pipeline"),), 40),
                    counter("config_changes_total", 1, (("origin", "change_window"),), 40),
                ),
                labels=HOST,
                value=3,
                warmup_seconds=900,
            ),
        ),
    ),
    team=Team.SECURITY,
    single_event=(
        "One configuration change that neither the deploy pipeline made nor a change window "
        "covers is the finding: nobody planned it, so someone must look at it."
    ),
    summary="Configuration changed outside the deploy pipeline and change windows on "
    "{{ $labels.instance }}",
    description=(
        "The logs read by {{ $labels.instance }} record {{ $value | humanize }} configuration "
        "changes in the last 15 minutes that the deploy pipeline did not make and no change "
        "window covers. Check that each one was planned."
    ),
    runbook=Runbook(
        meaning="Security-relevant configuration changed, made by someone other than the "
        "deploy pipeline (the exporter's `config-change.deployers`) and outside every "
        "declared change window (`config-change.windows`). A deploy's changes are routine "
        "and do not fire this.",
        impact="An unplanned change can open access (a disabled check, a widened policy).",
        diagnosis=(
            f"By origin: `sum by (origin) (increase({NS}_config_changes_total[24h]))`",
            "What changed and who changed it, in the audit log: ```sh\njq -c "
            "'select(.event|test(\"config|settings\"))' app.log | tail\n```",
            "A pipeline that changed its actor name, or a window that moved, shows up here "
            "as drift: compare the user field with `config-change.deployers`.",
        ),
        mitigation=(
            "Match each change to a change request; revert what nobody planned.",
            "Revoke the credentials used for an unplanned change.",
            "If it was planned, add its actor to `config-change.deployers` or its time to "
            "`config-change.windows`.",
        ),
        escalation=_ESCALATE_WARN,
    ),
    panel=Panel(
        title="Unplanned configuration changes (15 m)",
        expr=f"{DRIFT_15M}{{{SEL}}}",
        unit="short",
        description="Configuration changes outside the deploy pipeline and change windows, "
        "in the last 15 minutes.",
    ),
)

DENIED_SPIKE = Threshold(
    name="SecurityDeniedResponsesSpike",
    category=Category.SECURITY_INCIDENT,
    signal=f"{DENIED_5M} / ({DENIED_1H} > 0)",
    op=">",
    guard=f"and {DENIED_5M} > 0.5 {scraped_since(3600)}",
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
                        (*HOST, ("code", "403")),
                        "0+1x60 160+100x40",
                    ),
                    series("up", HOST, "1x100"),
                ),
                # The same spike of 401s: failed logins, SecurityAuthFailuresHigh's.
                quiet=(
                    series(
                        f"{NS}_http_denied_responses_total",
                        (*HOST, ("code", "403")),
                        "0+1x100",
                    ),
                    series(
                        f"{NS}_http_denied_responses_total",
                        (*HOST, ("code", "401")),
                        "0+1x60 160+100x40",
                    ),
                    series("up", HOST, "1x100"),
                ),
                labels=HOST,
                value=6000 / 951,
                warmup_seconds=3720,
            ),
        ),
    ),
    team=Team.SECURITY,
    summary="403 (forbidden) responses spiked on {{ $labels.instance }}",
    description=(
        "Over the last 5 minutes {{ $labels.instance }} answered 403 more than three times "
        "as often as over the last hour, at more than 30 a minute."
    ),
    runbook=Runbook(
        meaning="Forbidden responses (403) suddenly rose well above the hour's rate. 401s "
        "are authentication failures and count toward SecurityAuthFailuresHigh instead, so "
        "a burst of failed logins is not reported twice. An instance scraped for less than "
        "an hour has no baseline yet and cannot fire (its hour would hold only a few "
        "minutes).",
        impact="Authenticated clients asking for what they may not have (forced browsing, "
        "a probe of the authorisation checks), or a deploy that broke permissions.",
        diagnosis=(
            f"Now and the hour: `{DENIED_5M}`, `{DENIED_1H}`",
            f"Both codes: `sum by (code) (rate({NS}_http_denied_responses_total[5m]))`",
            "Which users and paths, in the access log: ```sh\njq -r 'select(.status==403) "
            "| [.user, .path] | @tsv' app.log | sort | uniq -c | sort -rn | head\n```",
        ),
        mitigation=(
            "If one deploy broke permissions, roll it back.",
            "If one account is probing, disable it and revoke its tokens; block its sources.",
        ),
        escalation=_ESCALATE_WARN,
    ),
    panel=Panel(
        title="403 responses",
        expr=f"{DENIED_5M}{{{SEL}}}",
        unit="reqps",
        description="Forbidden (403) responses per second, over 5 minutes (401s are "
        "authentication failures, on their own panel).",
        alert_thresholds=False,
    ),
)

THREAT_NAMES = tuple(
    (float(level), name, color)
    for level, (name, color) in enumerate(zip(THREAT_LEVELS, THREAT_COLORS, strict=True))
)

THREAT_LEVEL_HIGH = Threshold(
    name="SecurityThreatLevelHigh",
    category=Category.SECURITY_INCIDENT,
    signal=THREAT,
    op=">=",
    levels=(
        Level(
            Severity.WARNING,
            2,
            for_seconds=THREAT_HIGH_FOR_SECONDS,
            cooldown_seconds=3600,
            test=AlertTest(
                firing=(series(f"{NS}_attack_sources", HOST, "1+0x60"),),
                quiet=(series(f"{NS}_attack_sources", HOST, "0+0x60"),),
                labels=HOST,
                value=2,
            ),
        ),
    ),
    team=Team.SECURITY,
    summary="Security threat level high or critical for 30 minutes on {{ $labels.instance }}",
    description=(
        "The threat level of {{ $labels.instance }} is {{ $value }} (2 high, 3 critical) "
        "and has been high or above for 30 minutes: attacks go on while the automatic "
        "blocks are in force, so the attackers change addresses or the blocks do not "
        "reach them."
    ),
    runbook=Runbook(
        meaning="The security threat level (0 low, 1 elevated, 2 high, 3 critical; the "
        "highest level any signal reaches) stayed high or critical for 30 minutes. What "
        f"moves it: {_threat_moves()}. It falls back as soon as no signal holds (the "
        "windows are 5 minutes to an hour).",
        impact="A sustained campaign: each source may be blocked within minutes, yet new "
        "ones keep coming. One that gets through can read or change data.",
        diagnosis=(
            f"The level now, and which signal holds it: `{THREAT}`, then each condition "
            f"in turn, e.g. `{NS}_attack_sources`, `{ATTACKS_10M} > {ATTACK_PATTERNS_PER_10M}`, "
            f"`{AUTH_1H}`",
            f"Blocks by reason over the hour: "
            f"`sum by (reason) (increase({NS}_denylist_blocks_total[1h]))`",
            f"Entries by origin: `{NS}_denylist_entries`; what is blocked and why: "
            "```sh\npromfleet-denylist --config.file security.yml list\n```",
            "Is nginx reading the deny-list? A block that is written but not included "
            "stops nothing: `nginx -T | grep deny.conf`",
        ),
        mitigation=(
            "Block the attacking networks by hand while it lasts: "
            "```sh\npromfleet-denylist --config.file security.yml block 203.0.113.0/24 "
            "--reason \"campaign, SEC-12\" --expires 6h\n```",
            "Tighten the WAF or rate limits for the targeted endpoints; check them for the "
            "vulnerability the payloads aim at.",
            "If attacks of another kind should block too, add it to "
            "`denylist.attack-kinds`.",
        ),
        escalation=_ESCALATE_WARN,
    ),
    panel=Panel(
        title="Threat level",
        expr=f"{THREAT}{{{SEL}}}",
        unit="none",
        description="The security threat level now: low, elevated, high or critical, the "
        "highest level any security signal reaches (see the alert's runbook for what "
        "moves it).",
        kind="stat",
        value_names=THREAT_NAMES,
    ),
)

PANELS = (
    Panel(
        title="Threat level over time",
        expr=f"{THREAT}{{{SEL}}}",
        unit="none",
        description="The threat level of each instance: 0 low, 1 elevated, 2 high, 3 "
        "critical.",
        value_names=THREAT_NAMES,
    ),
    Panel(
        title="Deny-list blocks by reason",
        expr=f"sum by (instance, reason) "
        f"(increase({NS}_denylist_blocks_total{{{SEL}}}[$__rate_interval]))",
        unit="short",
        description="Blocks made (new or renewed), by reason: brute_force, an attack kind, "
        "or manual (promfleet-denylist).",
        legend="{{instance}} {{reason}}",
    ),
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
        expr=f"sum by (instance, origin) ({NS}_denylist_entries{{{SEL}}})",
        unit="short",
        description="Entries in the nginx deny-list, by origin: automatic (the exporter's "
        "blocks) or manual (promfleet-denylist's).",
        legend="{{instance}} {{origin}}",
    ),
)

AREA = gather_module(
    __name__,
    title="Security",
    description=(
        "Access and authentication logs read by the security exporter: failures, denials, "
        "rate limiting, attack patterns, brute force, privilege escalation, tenant "
        "isolation, secrets in logs and configuration drift."
    ),
    external_metrics=("up",),  # the baseline alert asks whether an instance is an hour old
)
