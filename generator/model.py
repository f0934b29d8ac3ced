"""The catalogue's vocabulary: frozen dataclasses for alerts, recording rules and routing.

Numbers are numbers, with the unit in the field name (``for_seconds``, ``value``
is in the signal's own unit). A :class:`Threshold` is one alert name with one or more
:class:`Level` s (a warning and its critical twin share the alert name, so Alertmanager's
inhibition "critical mutes warning of the same alert on the same instance" is a plain
``equal: [alertname, instance]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

Comparison = Literal[">", ">=", "<", "<=", "==", "!="]


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return {"info": 0, "warning": 1, "critical": 2}[self.value]


class Team(StrEnum):
    OPS = "ops"
    ENGINEERING = "engineering"
    SECURITY = "security"
    MANAGEMENT = "management"


class Category(StrEnum):
    """What kind of incident an alert is, in the management tier's words (the four
    categories that escalate to it). Rendered as the alert's ``category`` label."""

    BUSINESS_PROCESS_FAILURE = "business-process-failure"
    SLA_VIOLATION = "sla-violation"
    SECURITY_INCIDENT = "security-incident"
    SYSTEM_OUTAGE = "system-outage"


@dataclass(frozen=True)
class RecordingRule:
    """``record`` must read ``level:metric:operation`` (Prometheus' naming convention)."""

    record: str
    expr: str
    labels: tuple[tuple[str, str], ...] = ()
    # Raw series for the generated promql_expr_test, and the sample it must return.
    # Left empty, the rule is still exercised through the alerts that use it.
    test_series: tuple[TestSeries, ...] = ()
    test_expect: tuple[tuple[str, float], ...] = ()  # (labels in {a="b"} form, value)


@dataclass(frozen=True)
class TestSeries:
    """One input series of a promtool unit test, ``values`` in its expanding notation."""

    series: str  # e.g. 'promfleet_system_load1{instance="host:9100",job="system"}'
    values: str  # e.g. '0+1x120'


@dataclass(frozen=True)
class AlertTest:
    """Raw exporter series that keep one level's condition true, and ones that don't.

    ``firing`` must make the condition true from the first evaluation that has enough
    data (``warmup_seconds`` after t=0, for ``rate()`` windows) and keep it true;
    ``quiet`` must keep it false. ``labels`` are the labels the firing alert carries
    besides ``alertname``, ``severity``, ``team`` and static labels; ``value`` is the
    signal's value while firing, used to render the expected annotations exactly.
    """

    firing: tuple[TestSeries, ...]
    quiet: tuple[TestSeries, ...]
    labels: tuple[tuple[str, str], ...]
    value: float
    warmup_seconds: int = 0
    interval_seconds: int = 60
    # The signal's value under ``quiet``, when it trips a lower level of the same alert
    # (a warning under a critical's quiet series): those levels are then expected to
    # fire in the quiet case. ``None`` means nothing of this alert fires there.
    quiet_value: float | None = None


@dataclass(frozen=True)
class Level:
    """One severity of a threshold: the value it trips at, how long, and how often to repeat."""

    severity: Severity
    value: float
    for_seconds: int
    cooldown_seconds: int  # becomes Alertmanager's repeat_interval for this alert
    test: AlertTest
    # Where a team's override changed the level (file:line); its catalogue test then
    # need not trip it, and the generated tests expect what the new values do.
    override: str = ""


@dataclass(frozen=True)
class Runbook:
    """What the on-call engineer reads at 3 a.m.; rendered to ``runbooks/<Alert>.md``."""

    meaning: str
    impact: str
    diagnosis: tuple[str, ...]  # steps; PromQL in `backticks`, shell in ```sh blocks
    mitigation: tuple[str, ...]
    escalation: str


@dataclass(frozen=True)
class Panel:
    """A dashboard panel. ``expr`` selects with ``job=~"$job",instance=~"$instance"``."""

    title: str
    expr: str
    unit: str  # a Grafana unit: percentunit, bytes, s, reqps, short, ...
    description: str
    legend: str = "{{instance}}"
    kind: Literal["timeseries", "stat", "gauge", "table"] = "timeseries"
    # False when the query only returns data once something happens (an alert fires,
    # an error occurs); the live stack then does not require data from it.
    expect_data: bool = True
    # Which of its area's dashboards holds the panel: "" the main one (uid
    # ``promfleet-<area>``), otherwise a key the area declares in ``Area.dashboards``.
    dashboard: str = ""
    # False when an alert's panel shows context beside what the alert measures (the save
    # age beside a failed-save flag, connected clients beside rejected ones): the alert's
    # values are then not drawn, since they would be in another quantity or unit.
    alert_thresholds: bool = True
    # Names for the values of a signal that is a small closed set (a level 0..3): each
    # (value, text, Grafana colour) is rendered as a value mapping, so a stat panel shows
    # "high" in orange, not 2.
    value_names: tuple[tuple[float, str, str], ...] = ()


@dataclass(frozen=True)
class TargetThreshold:
    """An override's levels for the targets whose labels match ``matchers``
    (``(label, op, value)``, op one of ``=``, ``!=``, ``=~``, ``!~``)."""

    matchers: tuple[tuple[str, str, str], ...]
    levels: tuple[Level, ...]
    where: str = ""  # the overrides file and line, for messages


@dataclass(frozen=True)
class Threshold:
    """One alert: ``(signal) <op> <level.value>`` held for ``level.for_seconds``.

    ``signal`` is PromQL returning the measured value per instance (usually a recording
    rule). ``guard`` is an optional PromQL clause appended to the condition
    (``and on(instance) ...``). ``inhibited_by_target_down`` marks alerts that an
    exporter target being down makes meaningless.
    """

    name: str
    signal: str
    op: Comparison
    levels: tuple[Level, ...]
    team: Team
    summary: str
    description: str
    runbook: Runbook
    panel: Panel
    guard: str = ""
    static_labels: tuple[tuple[str, str], ...] = ()
    inhibited_by_target_down: bool = True
    group: str = ""  # rule group inside the area's file; defaults to the area name
    # Why one occurrence is itself the incident, so a level may fire with no ``for``
    # (the alerting policy: every other alert holds its condition for a while first).
    single_event: str = ""
    # Rendered as ``keep_firing_for``: how long the alert stays firing once its condition
    # stops holding, including because its series vanished (a failed probe, a mount
    # that errors, a dead exporter), so evidence that stops arriving is not "resolved".
    keep_firing_seconds: int = 0
    # Why a ratio of rates needs no minimum-traffic guard (its denominator is a counter
    # of time that always advances, such as CPU seconds); the validator then asks for none.
    no_traffic_guard: str = ""
    # The incident category, as the ``category`` label; every alert that can page has one.
    category: Category | None = None
    # How long a critical level may fire unacknowledged before it pages the management
    # tier; 0: the routing policy's ``escalation_delay_seconds``.
    escalation_delay_seconds: int = 0
    # Laid over by a team's overrides (generator.overrides), never set in the catalogue:
    # labels and annotations added to every rule of the alert, and per-target thresholds.
    extra_labels: tuple[tuple[str, str], ...] = ()
    extra_annotations: tuple[tuple[str, str], ...] = ()
    targets: tuple[TargetThreshold, ...] = ()

    def labels(self, level: Level) -> tuple[tuple[str, str], ...]:
        """The labels the alerting rule of ``level`` adds to its alerts, sorted by name."""
        labels = dict(self.extra_labels) | dict(self.static_labels)
        if self.category is not None:
            labels["category"] = self.category.value
        labels["severity"] = level.severity.value
        labels["team"] = self.team.value
        return tuple(sorted(labels.items()))

    def condition(self, level: Level) -> str:
        """The alerting rule's ``expr`` for one level."""
        text = f"{self.signal} {self.op} {_number(level.value)}"
        if self.guard:
            text = f"{text} {self.guard}"
        return text


@dataclass(frozen=True)
class Area:
    """One catalogue module: its alerts, recording rules and extra dashboard panels."""

    name: str  # system, application, database, security, training, meta
    title: str
    description: str
    recording_rules: tuple[RecordingRule, ...]
    thresholds: tuple[Threshold, ...]
    panels: tuple[Panel, ...] = ()  # panels beside the alerts' own
    external_metrics: tuple[str, ...] = ()  # series from Prometheus, Alertmanager, ...
    # Further dashboards the area's panels are split across, as (key, title): the key
    # makes the uid ``promfleet-<area>-<key>``; panels with no key stay on the main one.
    dashboards: tuple[tuple[str, str], ...] = ()
    # Where it is written (``generator/catalogue/<area>.py`` or ``.../<area>/`` for an
    # area split into parts), for the generated files' headers; set when it is loaded.
    source: str = ""
    # Service-level objectives measured in this area (see :class:`SLO`); rendered into
    # ``rules/<area>.slo.rules.yml``, their tests, a dashboard and runbooks of their own.
    slos: tuple[SLO, ...] = ()

    def dashboard_keys(self) -> tuple[str, ...]:
        """The area's dashboards, main one (``""``) first, in declaration order."""
        return ("", *(key for key, _ in self.dashboards))

    def dashboard_title(self, key: str = "") -> str:
        """``Application`` for the main dashboard, ``Application / Jobs`` for another one."""
        declared = dict(self.dashboards).get(key, "") if key else ""
        return f"{self.title} / {declared}" if declared else self.title


ReceiverKind = Literal["pagerduty", "slack", "email", "webhook", "opsgenie", "pushover"]

# Integrations that wake a person (a phone rings or buzzes), as opposed to a mailbox, a
# channel or a machine.
PAGING_KINDS = frozenset({"pagerduty", "opsgenie", "pushover"})


@dataclass(frozen=True)
class Receiver:
    """An Alertmanager receiver with one integration; secrets are never values here."""

    name: str
    kind: ReceiverKind
    settings: tuple[tuple[str, str], ...] = ()  # kind-specific keys, e.g. ("channel", "#ops")
    send_resolved: bool = True
    # Why this receiver is not told when an alert resolves; required when send_resolved
    # is False (a heartbeat service counts any request as a heartbeat).
    no_resolved_reason: str = ""
    # Who or what it reaches, in a few words (the README's routing table).
    reaches: str = ""

    @property
    def pages(self) -> bool:
        """Whether a notification wakes a person."""
        return self.kind in PAGING_KINDS


@dataclass(frozen=True)
class Route:
    """Where alerts of one team and severity go: every receiver, in delivery order.

    ``team`` None is the fallback for the severity: an alert whose team label is missing
    or names a team no route knows.
    """

    team: Team | None
    severity: Severity
    receivers: tuple[str, ...]


@dataclass(frozen=True)
class SeverityPolicy:
    """How urgently a severity is delivered."""

    severity: Severity
    group_wait_seconds: int
    group_interval_seconds: int
    # Delivered only in a digest, one message per group_interval for all teams, anchored
    # by the always-firing watchdog alert (see generator.render.alertmanager).
    digest: bool = False


@dataclass(frozen=True)
class RoutingPolicy:
    """Who gets what: (team, severity) -> receivers, the fallbacks, the escalation to
    management, and the dead man's switch."""

    receivers: tuple[Receiver, ...]
    routes: tuple[Route, ...]
    severities: tuple[SeverityPolicy, ...]
    # Where an alert with no known severity goes (a hand-written rule's typo must still
    # reach someone).
    default_receiver: str
    deadmans_switch_receiver: str
    # Every critical alert still firing and not acknowledged after its escalation delay
    # is delivered here too (the management tier).
    escalation_receiver: str = "management-pager"
    escalation_delay_seconds: int = 1800
    # How often the management tier is reminded of an escalated alert still firing.
    escalation_repeat_seconds: int = 4 * 3600
    watchdog_alert: str = "Watchdog"
    # The alert whose firing mutes, on the same job and instance, every alert marked
    # ``inhibited_by_target_down``.
    target_down_alert: str = "PromfleetTargetDown"
    group_by: tuple[str, ...] = ("alertname", "instance", "severity")
    inhibit_equal: tuple[str, ...] = ("alertname", "instance", "job")


@dataclass(frozen=True)
class Settings:
    """Generator settings; the live-stack test overrides intervals through these."""

    runbook_base_url: str = "https://github.com/promfleet/promfleet/blob/main/runbooks"
    dashboard_base_url: str = "http://localhost:3000/d"
    scrape_interval: str = "15s"
    evaluation_interval: str = "15s"
    scrape_timeout: str = "10s"
    alertmanager_url: str = "localhost:9093"
    # job -> addresses
    targets: tuple[tuple[str, tuple[str, ...]], ...] = field(default_factory=tuple)
    # Alertmanager: where receivers' secret files live (one file per receiver and key,
    # ``<secrets_dir>/<receiver>.<key>``), and overrides for tests and small set-ups.
    secrets_dir: str = "/etc/alertmanager/secrets"
    # When set, every receiver is rendered as a webhook to this URL, keeping its name
    # (the live-stack test checks which receiver a page reached).
    webhook_override_url: str = ""
    alertmanager_group_wait: str = ""  # overrides every route's group_wait when set
    alertmanager_group_interval: str = ""  # overrides every route's group_interval
    alertmanager_repeat_interval: str = ""  # overrides every cooldown when set
    alertmanager_resolve_timeout: str = "5m"
    info_digest: bool = True  # False: info alerts are delivered at once, not in the digest
    # How long Prometheus keeps samples: 30 days of metrics, and with them the ALERTS
    # series that `promfleet-oncall history` reads (7 days of alert history at least).
    prometheus_retention: str = "30d"
    # How long Alertmanager keeps expired silences (who acknowledged what) and its
    # notification log; as long as the metrics, so the history can name each ack.
    alertmanager_retention: str = "30d"
    alert_for_override: str = ""  # overrides every alerting rule's ``for`` when set
    # Past one machine (deploy/ha/, deploy/sharded/, `make run TOPOLOGY=ha|sharded`): the
    # external label naming each replica of the HA pair, dropped from alerts before they
    # leave so Alertmanager sees one alert; how many replicas, how many Alertmanagers
    # gossip in the HA cluster, and over how many agents the scrape targets are sharded.
    ha_replica_label: str = "replica"
    ha_replicas: int = 2
    alertmanager_cluster_size: int = 3
    shard_count: int = 2
    # The Prometheus the rules are for (default the Debian 2.42): a rule field or PromQL
    # function it does not know is refused, or with ``version_gate: omit`` left out with a
    # note where leaving it out is safe (generator/versions.py).
    prometheus_version: str = "2.42"
    version_gate: str = "refuse"  # refuse | omit
    # deploy/kubernetes/: the namespace of every object, the labels a PrometheusRule
    # carries (kube-prometheus' Prometheus selects on these two), the Secret that holds
    # the receivers' keys, and the probe exporter's targets the Probe scrapes.
    kubernetes_namespace: str = "monitoring"
    kubernetes_rule_labels: tuple[tuple[str, str], ...] = (
        ("prometheus", "k8s"),
        ("role", "alert-rules"),
    )
    kubernetes_secret: str = "promfleet-alertmanager"
    kubernetes_probe_targets: tuple[str, ...] = ("app",)
    # deploy/thanos/: rule group -> warn | abort ("*": every group not named).
    thanos_partial_response_strategy: tuple[tuple[str, str], ...] = ()
    # deploy/mimir/: rule group -> the tenants a federated group reads.
    mimir_source_tenants: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # Divides every SLO window, period and burn-tier ``for`` (the live-stack test runs an
    # hour in a minute with 60); 1 leaves them as the catalogue writes them.
    slo_window_divisor: str = "1"
    # Rules that run centrally (a Thanos or Mimir ruler, a receiver for several
    # clusters): the label naming each cluster, kept in every by() and on() of every
    # generated rule so no aggregation mixes clusters. Empty: the rules as written.
    cluster_label: str = ""


def format_duration(seconds: float) -> str:
    """A Prometheus/Alertmanager duration: 5400 -> ``1h30m``, 0 -> ``0s``, 0.5 -> ``500ms``."""
    millis = round(seconds * 1000)
    if millis <= 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        count, millis = divmod(millis, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def scraped_since(seconds: int) -> str:
    """A guard clause for an alert that compares a short window with a baseline of
    ``seconds``: the instance was already scraped that long ago (its ``up`` had a sample
    then). Without it, rate() over the baseline spreads a new instance's few minutes of
    counts over the whole window, and any steady pace looks like a spike."""
    return f"and on (instance, job) (up offset {format_duration(seconds)})"


def _number(value: float) -> str:
    """Render a threshold the way a human writes it: 0.9 not 0.9000000001, 10 not 10.0."""
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


@dataclass(frozen=True)
class Catalogue:
    """Everything the renderers need: the areas (validated) and the routing policy."""

    areas: tuple[Area, ...]
    routing: RoutingPolicy

    def thresholds(self) -> tuple[tuple[Area, Threshold], ...]:
        return tuple((area, t) for area in self.areas for t in area.thresholds)


def dashboard_uid(area: str, key: str = "") -> str:
    """The Grafana uid of an area's dashboard (``promfleet-alerts`` for the overview);
    ``key`` names one of the area's further dashboards (``promfleet-<area>-<key>``)."""
    return f"promfleet-{area}-{key}" if key else f"promfleet-{area}"


def runbook_url(settings: Settings, alert: str) -> str:
    return f"{settings.runbook_base_url.rstrip('/')}/{alert}.md"


def dashboard_url(settings: Settings, area: str, key: str = "") -> str:
    return f"{settings.dashboard_base_url.rstrip('/')}/{dashboard_uid(area, key)}"


# -- service-level objectives ------------------------------------------------------------


@dataclass(frozen=True)
class ErrorRatioSLI:
    """Bad events over all events, both counters: ``bad`` and ``total`` are selectors of
    counters (``promfleet_app_http_requests_total{job="app",status="5xx"}``)."""

    bad: str
    total: str
    # Where ``bad`` and ``total`` are one counter, the labels that make one of its series
    # good (``status="2xx"`` beside the bad ``status="5xx"``); the generated tests feed it.
    good_labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class LatencySLI:
    """The share of requests slower than ``bound_seconds``, from a histogram: all
    requests (``<histogram>_count``) less those in the bucket ``le=bound``.
    ``matchers`` select the histogram's series (``job="app"``); the bound must be one of
    the histogram's bucket bounds, written as the exporter writes it."""

    histogram: str  # the family name, without _bucket / _count
    bound_seconds: float
    matchers: str


@dataclass(frozen=True)
class BooleanGaugeSLI:
    """A gauge that is 1 when good and 0 when bad, one sample per scrape (a probe's
    success): every sample is an event, a 0 is a bad one."""

    metric: str  # a selector: 'promfleet_probe_success{job="probe"}'


SLI = ErrorRatioSLI | LatencySLI | BooleanGaugeSLI


@dataclass(frozen=True)
class BurnTier:
    """One multi-window burn-rate alert of an SLO (Google's SRE workbook): it fires when
    ``budget_share`` of the period's error budget burns within ``long_window_seconds``,
    confirmed by the ``short_window_seconds`` window (so it resolves soon after the burn
    stops). Its factor is derived from the period, never written down:
    ``budget_share * period / long window``."""

    name: str  # page-1h, page-6h, ticket-1d, ticket-3d
    tier: Literal["page", "ticket"]
    budget_share: float
    long_window_seconds: int
    short_window_seconds: int
    for_seconds: int

    @property
    def severity(self) -> Severity:
        return Severity.CRITICAL if self.tier == "page" else Severity.WARNING

    def factor(self, period_seconds: int) -> float:
        return self.budget_share * period_seconds / self.long_window_seconds


# The workbook's four tiers; the factors here are those of a 30-day period (14.4, 6, 3, 1).
BURN_TIERS: tuple[BurnTier, ...] = (
    BurnTier("page-1h", "page", 0.02, 3600, 300, 120),
    BurnTier("page-6h", "page", 0.05, 6 * 3600, 1800, 900),
    BurnTier("ticket-1d", "ticket", 0.10, 86400, 2 * 3600, 3600),
    BurnTier("ticket-3d", "ticket", 0.10, 3 * 86400, 6 * 3600, 3 * 3600),
)


@dataclass(frozen=True)
class SLORunbook:
    """What the SLO's own runbooks add to the generated text (burn-rate meaning, time to
    exhaustion and the SLI queries are generated)."""

    impact: str
    diagnosis: tuple[str, ...]
    mitigation: tuple[str, ...]
    escalation: str
    # Static threshold alerts this SLO overlaps, and what was decided for each:
    # (alert name, "kept: why" or "retired: why").
    supersedes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SLO:
    """A service-level objective: ``objective_percent`` of ``sli`` events good over
    ``period_seconds``. ``name`` (CamelCase) names its alerts (``<name>BudgetBurn``,
    ``<name>SLIAbsent``); ``slo`` labels its series. ``by`` are the labels the SLO is
    kept per (``job``: one SLO per service; ``job, target``: one per probed target)."""

    name: str
    slo: str  # the ``slo`` label value, e.g. app-availability
    service: str
    title: str
    description: str  # what the SLI measures, in a sentence
    objective_percent: float
    sli: SLI
    team: Team
    runbook: SLORunbook
    period_seconds: int = 30 * 86400
    by: tuple[str, ...] = ("job",)
    tiers: tuple[BurnTier, ...] = BURN_TIERS
    disabled_tiers: tuple[str, ...] = ()  # tier names turned off for this SLO
    # Minimum traffic: a tier fires only when its long window saw enough events that its
    # threshold means at least this many bad ones (events >= min_bad_events / threshold).
    min_bad_events: int = 5
    absent_for_seconds: int = 600
    category: Category = Category.SLA_VIOLATION
    # Labels of the raw series the generated promtool tests feed (besides the selectors'
    # own equality matchers): instance, and a value for each ``by`` label.
    test_labels: tuple[tuple[str, str], ...] = ()

    @property
    def budget(self) -> float:
        """The error budget as a share of events (0.001 for 99.9 %)."""
        return round(1 - self.objective_percent / 100, 12)

    @property
    def enabled_tiers(self) -> tuple[BurnTier, ...]:
        return tuple(t for t in self.tiers if t.name not in self.disabled_tiers)

    @property
    def burn_alert(self) -> str:
        return f"{self.name}BudgetBurn"

    @property
    def absent_alert(self) -> str:
        return f"{self.name}SLIAbsent"
