"""What the SLO renderers share: windows, factors, recording rules and alerting rules of
each :class:`~generator.model.SLO` (a module, not a renderer: its name starts with ``_``).

Per SLO, one rule group ``slo-<slo>`` in ``rules/<area>.slo.rules.yml``, every series
labelled ``slo="<slo>"`` and kept per the SLO's ``by`` labels:

- ``slo:sli_events:rate<W>`` and ``slo:sli_bad:rate<W>``: events and bad events per
  second over 1h and over each tier's long window (its minimum-traffic guard reads the
  events). Windows up to 6h read the raw series; longer ones average the hourly 1h
  rates below (24 samples a series for a day, 72 for three, not days of raw samples).
- ``slo:sli_error:ratio_rate<W>``: bad over all, computed once per window and read by
  every tier and the dashboard; a short window alone is one rule over the raw series.
- ``slo:error_budget:burn_rate1h``: the current burn rate, the last hour's ratio over the
  error budget (1 = the budget lasts exactly the period).
- ``slo:sli_error:ratio_period`` and ``slo:error_budget:remaining_ratio``: the period's
  error ratio (the hourly rates averaged over the period: 720 samples a series for 30
  days) and the budget left (1 untouched, 0 spent, negative overspent).

A second group, ``slo-<slo>-hourly``, evaluated once an hour (its ``interval``), copies
the 1h rates into ``slo:sli_events:hourly_rate1h`` and ``slo:sli_bad:hourly_rate1h``: one
sample an hour, back to back, so a day, three days or the period are read as a few
hundred samples whatever the scrape and evaluation intervals (Sloth reads every sample
of its 5-minute ratio over the 30 days). Averages of rates are the same however densely
they are sampled, so the promtool tests, which evaluate every group at their own
interval, see the same ratios.

Record names keep the catalogue's nominal windows; ``Settings.slo_window_divisor``
compresses the ranges behind them (the live-stack test runs an hour in a minute).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from generator.model import (
    SLO,
    Area,
    BooleanGaugeSLI,
    BurnTier,
    ErrorRatioSLI,
    LatencySLI,
    Settings,
    dashboard_url,
    format_duration,
    runbook_url,
)
from generator.overrides import keep_label
from generator.settings import duration_seconds, effective_for_seconds

HOUR = 3600
# Windows up to this long are read from the raw series; longer ones from the 1h rates.
DIRECT_MAX_SECONDS = 6 * HOUR
DASHBOARD_KEY = "slo"

EVENTS = "slo:sli_events:rate{}"
BAD = "slo:sli_bad:rate{}"
RATIO = "slo:sli_error:ratio_rate{}"
BURN = "slo:error_budget:burn_rate{}"
HOURLY_EVENTS = "slo:sli_events:hourly_rate1h"
HOURLY_BAD = "slo:sli_bad:hourly_rate1h"
PERIOD_RATIO = "slo:sli_error:ratio_period"
REMAINING = "slo:error_budget:remaining_ratio"


def divisor(settings: Settings) -> int:
    """``Settings.slo_window_divisor`` as a whole number of at least 1."""
    try:
        value = int(settings.slo_window_divisor)
    except ValueError as err:
        raise ValueError(
            f"slo_window_divisor: expected a whole number, got {settings.slo_window_divisor!r}"
        ) from err
    if value < 1:
        raise ValueError(f"slo_window_divisor: must be 1 or more, got {value}")
    return value


def scaled(seconds: int, settings: Settings) -> int:
    """``seconds`` compressed by the settings' divisor (at least 1 s)."""
    return max(1, seconds // divisor(settings))


def nominal(seconds: int) -> str:
    """The window as record names and labels spell it: 3600 -> ``1h``, 86400 -> ``1d``."""
    return format_duration(seconds)


def counted_windows(slo: SLO) -> frozenset[int]:
    """Windows whose events and bad events are recorded apart: 1h (the long windows and
    the period are made from it) and every tier's long window (its guard reads events)."""
    return frozenset({HOUR, *(t.long_window_seconds for t in slo.enabled_tiers)})


def windows(slo: SLO) -> tuple[int, ...]:
    """Every window the SLO's rules record, nominal seconds, shortest first (1h always:
    the long windows and the period are made from it)."""
    found = {HOUR}
    for tier in slo.enabled_tiers:
        found.update((tier.long_window_seconds, tier.short_window_seconds))
    return tuple(sorted(found))


def by_clause(slo: SLO) -> str:
    return ", ".join(slo.by)


def sel(slo: SLO) -> str:
    return f'{{slo="{slo.slo}"}}'


def record(template: str, seconds: int, slo: SLO) -> str:
    return template.format(nominal(seconds)) + sel(slo)


def _with_matchers(name: str, matchers: str, extra: str = "") -> str:
    inner = ",".join(part for part in (matchers, extra) if part)
    return f"{name}{{{inner}}}"


def raw_selectors(slo: SLO) -> tuple[str, ...]:
    """The exporter series the SLI reads (the validator checks their names)."""
    sli = slo.sli
    if isinstance(sli, ErrorRatioSLI):
        return (sli.bad, sli.total)
    if isinstance(sli, LatencySLI):
        return (
            _with_matchers(f"{sli.histogram}_bucket", sli.matchers, f'le="{le(sli)}"'),
            _with_matchers(f"{sli.histogram}_count", sli.matchers),
        )
    return (sli.metric,)


def le(sli: LatencySLI) -> str:
    """The bucket bound as Prometheus clients write it (0.5, 1.0 -> "1.0")."""
    return repr(float(sli.bound_seconds))


def absent_selector(slo: SLO) -> str:
    """The series whose absence means the SLI is blind (the events' counter or gauge)."""
    return raw_selectors(slo)[-1]


def job_of(slo: SLO) -> str:
    """The ``job`` the SLI's series come from (its selector's ``job`` matcher)."""
    found = re.search(r'job="([^"]*)"', absent_selector(slo))
    return found.group(1) if found else ""


def absent_condition(slo: SLO) -> str:
    """No SLI series while Prometheus scrapes the job (a job not deployed is no fault)."""
    return f'absent({absent_selector(slo)})\nand on () group(up{{job="{job_of(slo)}"}})'


def _direct(slo: SLO, seconds: int, settings: Settings) -> tuple[str, str]:
    """(events, bad) per second over a window read from the raw series."""
    rng = format_duration(scaled(seconds, settings))
    by = by_clause(slo)
    events_rec = record(EVENTS, seconds, slo)
    sli = slo.sli
    if isinstance(sli, ErrorRatioSLI):
        events = f"sum by ({by}) (rate({sli.total}[{rng}]))"
        bad = f"sum by ({by}) (rate({sli.bad}[{rng}]))\nor on ({by}) 0 * {events_rec}"
    elif isinstance(sli, LatencySLI):
        bucket, count = raw_selectors(slo)
        events = f"sum by ({by}) (rate({count}[{rng}]))"
        bad = f"{events_rec}\n- ignoring (slo) sum by ({by}) (rate({bucket}[{rng}]))"
    else:
        metric = sli.metric
        span = scaled(seconds, settings)
        events = f"sum by ({by}) (count_over_time({metric}[{rng}])) / {span}"
        bad = (
            f"sum by ({by}) (count_over_time({metric}[{rng}]) - sum_over_time({metric}[{rng}]))"
            f" / {span}"
        )
    return events, bad


def _ratio_only(slo: SLO, seconds: int, settings: Settings) -> str:
    """The bad share over a short window in one rule over the raw series."""
    rng = format_duration(scaled(seconds, settings))
    by = by_clause(slo)
    sli = slo.sli
    if isinstance(sli, ErrorRatioSLI):
        return f"sum by ({by}) (rate({sli.bad}[{rng}]))\n/ sum by ({by}) (rate({sli.total}[{rng}]))"
    if isinstance(sli, LatencySLI):
        bucket, count = raw_selectors(slo)
        return f"1 - sum by ({by}) (rate({bucket}[{rng}]))\n/ sum by ({by}) (rate({count}[{rng}]))"
    return (
        f"1 - sum by ({by}) (sum_over_time({sli.metric}[{rng}]))\n"
        f"/ sum by ({by}) (count_over_time({sli.metric}[{rng}]))"
    )


def _from_hourly(slo: SLO, seconds: int, settings: Settings) -> tuple[str, str]:
    """(events, bad) per second over a long window: the hourly 1h rates averaged."""
    rng = format_duration(scaled(seconds, settings))
    return (
        f"avg_over_time({HOURLY_EVENTS}{sel(slo)}[{rng}])",
        f"avg_over_time({HOURLY_BAD}{sel(slo)}[{rng}])",
    )


def _number(value: float) -> str:
    text = f"{value:.6g}"
    return text if "e" not in text else repr(float(value))


def recording_rules(slo: SLO, settings: Settings) -> list[dict[str, Any]]:
    """The SLO's recording rules in evaluation order (a later rule reads earlier ones in
    the same evaluation)."""
    labels = (("slo", slo.slo),)
    rules: list[dict[str, Any]] = []

    def add(name: str, expr: str) -> None:
        rules.append({"record": name, "expr": expr, "labels": labels})

    counted = counted_windows(slo)
    for seconds in windows(slo):
        if seconds not in counted:
            add(RATIO.format(nominal(seconds)), _ratio_only(slo, seconds, settings))
            continue
        if seconds <= DIRECT_MAX_SECONDS:
            events, bad = _direct(slo, seconds, settings)
        else:
            events, bad = _from_hourly(slo, seconds, settings)
        add(EVENTS.format(nominal(seconds)), events)
        add(BAD.format(nominal(seconds)), bad)
        add(
            RATIO.format(nominal(seconds)),
            f"{record(BAD, seconds, slo)} / {record(EVENTS, seconds, slo)}",
        )
    add(BURN.format("1h"), f"{record(RATIO, HOUR, slo)} / {_number(slo.budget)}")
    period = format_duration(scaled(slo.period_seconds, settings))
    add(
        PERIOD_RATIO,
        f"avg_over_time({HOURLY_BAD}{sel(slo)}[{period}])\n"
        f"/ avg_over_time({HOURLY_EVENTS}{sel(slo)}[{period}])",
    )
    add(REMAINING, f"1 - {PERIOD_RATIO}{sel(slo)} / {_number(slo.budget)}")
    return rules


@dataclass(frozen=True)
class TierPlan:
    """One burn tier of one SLO as rendered: scaled windows, factor, guard."""

    tier: BurnTier
    factor: float
    long_seconds: int  # scaled
    short_seconds: int  # scaled
    for_seconds: int  # scaled, or the settings' override
    min_events: float  # events the long window must hold
    min_rate: float  # the same, per second

    @property
    def window(self) -> str:
        """The ``slo_window`` label: the tier's nominal long window."""
        return nominal(self.tier.long_window_seconds)

    def threshold(self, slo: SLO) -> float:
        """The error ratio both windows must exceed."""
        return self.factor * slo.budget


def tier_plan(slo: SLO, tier: BurnTier, settings: Settings) -> TierPlan:
    factor = tier.factor(slo.period_seconds)
    long_s = scaled(tier.long_window_seconds, settings)
    events = slo.min_bad_events / (factor * slo.budget)
    if isinstance(slo.sli, BooleanGaugeSLI):
        # A gauge's events are its samples: at most one a scrape. Ask for at most half
        # the window's samples, so a filled window always qualifies.
        per_window = long_s / duration_seconds(settings.scrape_interval)
        events = min(events, per_window / 2)
    for_s = scaled(tier.for_seconds, settings)
    return TierPlan(
        tier=tier,
        factor=factor,
        long_seconds=long_s,
        short_seconds=scaled(tier.short_window_seconds, settings),
        for_seconds=effective_for_seconds(for_s, settings),
        min_events=events,
        min_rate=events / long_s,
    )


def tier_plans(slo: SLO, settings: Settings) -> tuple[TierPlan, ...]:
    return tuple(tier_plan(slo, tier, settings) for tier in slo.enabled_tiers)


def tier_condition(slo: SLO, plan: TierPlan) -> str:
    long_w = plan.tier.long_window_seconds
    short_w = plan.tier.short_window_seconds
    threshold = _number(plan.threshold(slo))
    return (
        f"{record(RATIO, long_w, slo)} > {threshold}\n"
        f"and {record(RATIO, short_w, slo)} > {threshold}\n"
        f"and {record(EVENTS, long_w, slo)} >= {_number(plan.min_rate)}"
    )


def alert_labels(slo: SLO, plan: TierPlan | None) -> tuple[tuple[str, str], ...]:
    """Static labels of a burn alert (``plan``) or of the absent alert (None). ``instance``
    names the service: the SLO is the service's, not one process's, and routing groups
    and inhibits on the label."""
    labels = {
        "instance": slo.service,
        "service": slo.service,
        "slo": slo.slo,
        "team": slo.team.value,
    }
    if plan is None:
        # Info (the daily digest): an idle service has no SLI series either, and a dead
        # one pages through the target-down alert; what is left (a renamed metric, a
        # relabelling that drops it) blinds the SLO and is fixed in working hours.
        labels["severity"] = "info"
    else:
        labels.update(
            severity=plan.tier.severity.value,
            slo_tier=plan.tier.tier,
            slo_window=plan.window,
            category=slo.category.value,
        )
    return tuple(sorted(labels.items()))


def exhaustion(slo: SLO, factor: float) -> str:
    """How long the whole budget lasts at burn rate ``factor`` (the period / factor)."""
    return format_duration(int(slo.period_seconds / factor))


def dashboard_uid_key() -> str:
    return DASHBOARD_KEY


def slo_annotations(
    area: Area, slo: SLO, plan: TierPlan | None, settings: Settings
) -> tuple[tuple[str, str], ...]:
    # The SLO's series carry its job (not an instance: the instance label names the
    # service, a static label).
    board = dashboard_url(settings, area.name, DASHBOARD_KEY) + "?var-job={{ $labels.job }}"
    period = nominal(slo.period_seconds)
    if plan is None:
        name = slo.absent_alert
        summary = f"SLO {slo.slo}: its SLI has no series, the error budget is not measured"
        description = (
            f"No {absent_selector(slo)} series for {format_duration(slo.absent_for_seconds)}: "
            f"the SLO {slo.title} ({_number(slo.objective_percent)} % over {period}) is blind, "
            "and its burn-rate alerts cannot fire."
        )
    else:
        name = slo.burn_alert
        summary = (
            f"SLO {slo.slo}: {{{{ $value | humanizePercentage }}}} bad over {plan.window}, "
            f"burning the error budget over {_number(plan.factor)}x ({plan.tier.tier})"
        )
        description = (
            f"{slo.title}: {{{{ $value | humanizePercentage }}}} of the events of the last "
            f"{plan.window} were bad, and over {_number(plan.threshold(slo) * 100)} % in the "
            f"last {nominal(plan.tier.short_window_seconds)} too, against a budget of "
            f"{_number(round(slo.budget * 100, 9))} % over {period}: the budget burns more "
            f"than {_number(plan.factor)} times as fast as the period allows "
            f"({_number(plan.tier.budget_share * 100)} % of it in {plan.window}; at that rate "
            f"the whole budget is gone in {exhaustion(slo, plan.factor)})."
        )
    return (
        ("dashboard_url", board),
        ("description", description),
        ("runbook_url", runbook_url(settings, name)),
        ("summary", summary),
    )


def alerting_rules(area: Area, slo: SLO, settings: Settings) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for plan in tier_plans(slo, settings):
        rules.append(
            {
                "alert": slo.burn_alert,
                "expr": tier_condition(slo, plan),
                "for": format_duration(plan.for_seconds),
                "keep_firing_for": "",
                "labels": alert_labels(slo, plan),
                "annotations": slo_annotations(area, slo, plan, settings),
            }
        )
    rules.append(
        {
            "alert": slo.absent_alert,
            "expr": absent_condition(slo),
            "for": format_duration(
                effective_for_seconds(scaled(slo.absent_for_seconds, settings), settings)
                or scaled(slo.absent_for_seconds, settings)
            ),
            "keep_firing_for": "",
            "labels": alert_labels(slo, None),
            "annotations": slo_annotations(area, slo, None, settings),
        }
    )
    return rules


def rule_group(area: Area, slo: SLO, settings: Settings) -> dict[str, Any]:
    """The SLO's main rule group: recording rules first, read by its alerts in the same
    evaluation."""
    return {
        "name": f"slo-{slo.slo}",
        "interval": "",
        "rules": [*recording_rules(slo, settings), *alerting_rules(area, slo, settings)],
    }


def hourly_group(slo: SLO, settings: Settings) -> dict[str, Any]:
    """The group evaluated once an hour: the 1h rates copied, one sample an hour."""
    labels = (("slo", slo.slo),)
    return {
        "name": f"slo-{slo.slo}-hourly",
        "interval": format_duration(scaled(HOUR, settings)),
        "rules": [
            {"record": HOURLY_EVENTS, "expr": record(EVENTS, HOUR, slo), "labels": labels},
            {"record": HOURLY_BAD, "expr": record(BAD, HOUR, slo), "labels": labels},
        ],
    }


def rule_groups(area: Area, slo: SLO, settings: Settings) -> list[dict[str, Any]]:
    """Both groups of one SLO's rule file; with ``cluster_label`` set, every ``by()`` and
    ``on()`` keeps that label, as the other rules' do (rules that run centrally)."""
    groups = [rule_group(area, slo, settings), hourly_group(slo, settings)]
    if settings.cluster_label:
        for group in groups:
            for rule in group["rules"]:
                rule["expr"] = keep_label(rule["expr"], settings.cluster_label)
    return groups


def slo_rules_file(slo: SLO) -> str:
    """``rules/slo-<slo>.rules.yml``: a file per SLO, so its promtool tests evaluate its
    rules alone."""
    return f"rules/slo-{slo.slo}.rules.yml"


SERIES = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\}$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def series_labels(series: str) -> dict[str, str]:
    """The labels of a ``name{a="b",...}`` test series."""
    match = SERIES.match(series)
    if not match:
        return {}
    return dict(LABEL.findall(match.group(2)))


def ceil_to(value: float, step: int) -> int:
    return int(math.ceil(value / step) * step)
