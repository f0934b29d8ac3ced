"""Renders ``rules/tests/slo-<slo>.test.yml``: promtool tests of every burn tier of every SLO.

For each tier, five groups fed with raw exporter series, each asserting on ``ALERTS`` of
that tier alone (``slo_window`` tells the tiers of one alert apart):

- ``fires``: the SLI's error ratio held at 1.05 times the tier's threshold fires it;
- ``just under``: 0.95 times the threshold leaves it silent (lower tiers may fire);
- ``resolves``: a burn four times the threshold stops and the alert resolves once the
  short window is clean, while the long window still burns above the factor;
- ``low traffic``: ten times the threshold on fewer events than the guard asks for
  stays silent;
- ``absent``: the job is scraped but no SLI series exists: the tier stays silent and the
  SLO's absent alert fires.

A boolean gauge is fed a constant fractional value (1 - ratio): the rules are linear in
the samples, so it stands for the same share of failed probes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from generator.model import (
    SLO,
    BooleanGaugeSLI,
    Catalogue,
    ErrorRatioSLI,
    LatencySLI,
    Settings,
    format_duration,
)
from generator.render import render_template
from generator.render._slo import (
    DIRECT_MAX_SECONDS,
    HOUR,
    RATIO,
    TierPlan,
    absent_selector,
    alert_labels,
    ceil_to,
    job_of,
    le,
    scaled,
    series_labels,
    slo_rules_file,
    tier_plans,
)
from generator.settings import duration_seconds

FIRE = 1.05
# The recovery group burns harder, so its long window still exceeds the factor when the
# short window has come clean: the alert must resolve through the short window.
RECOVERY_BURN = 4.0
UNDER = 0.95
LOW_TRAFFIC_BURN = 10.0
# Events per second in the tests that must pass the minimum-traffic guard.
TEST_EVENTS_PER_SECOND = 50.0

_SELECTOR = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?$")


def _selector_parts(selector: str) -> tuple[str, dict[str, str]]:
    """A selector's metric name and its equality matchers."""
    match = _SELECTOR.match(selector.strip())
    if not match:
        raise ValueError(f"not a selector: {selector!r}")
    labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
    return match.group(1), labels


def _series(name: str, labels: dict[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def _counter(segments: list[tuple[float, int]]) -> str:
    """A counter rising by ``per_step`` for ``steps`` samples, segment after segment."""
    parts, value = [], 0.0
    for index, (per_step, steps) in enumerate(segments):
        start = value if index == 0 else value + per_step
        count = steps if index == 0 else steps - 1
        parts.append(f"{start:.12g}+{per_step:.12g}x{count}")
        value = start + per_step * count
    return " ".join(parts)


def _gauge(segments: list[tuple[float, int]]) -> str:
    parts = []
    for index, (value, steps) in enumerate(segments):
        parts.append(f"{value:.12g}+0x{steps if index == 0 else steps - 1}")
    return " ".join(parts)


def feed(
    slo: SLO, ratios: list[tuple[float, int]], events: float, step: int
) -> list[tuple[str, str]]:
    """Raw series carrying the SLI at ``ratios`` ((bad share, samples), in order) and
    ``events`` per second."""
    base = dict(slo.test_labels)
    per_step = events * step
    sli = slo.sli
    if isinstance(sli, ErrorRatioSLI):
        bad_name, bad_labels = _selector_parts(sli.bad)
        total_name, total_labels = _selector_parts(sli.total)
        bad = _series(bad_name, {**base, **total_labels, **bad_labels})
        bad_values = _counter([(r * per_step, n) for r, n in ratios])
        if bad_name == total_name:
            good_labels = {**base, **total_labels, **bad_labels, **dict(sli.good_labels)}
            good_values = _counter([((1 - r) * per_step, n) for r, n in ratios])
            return [(bad, bad_values), (_series(total_name, good_labels), good_values)]
        total = _series(total_name, {**base, **total_labels})
        return [(bad, bad_values), (total, _counter([(per_step, n) for _, n in ratios]))]
    if isinstance(sli, LatencySLI):
        _, matchers = _selector_parts(f"x{{{sli.matchers}}}")
        labels = {**base, **matchers}
        count = _series(f"{sli.histogram}_count", labels)
        bucket = _series(f"{sli.histogram}_bucket", {**labels, "le": le(sli)})
        return [
            (count, _counter([(per_step, n) for _, n in ratios])),
            (bucket, _counter([((1 - r) * per_step, n) for r, n in ratios])),
        ]
    assert isinstance(sli, BooleanGaugeSLI)
    name, labels = _selector_parts(sli.metric)
    return [(_series(name, {**base, **labels}), _gauge([(1 - r, n) for r, n in ratios]))]


@dataclass
class Group:
    name: str
    interval: str
    series: list[tuple[str, str]]
    cases: list[dict[str, Any]] = field(default_factory=list)


def _alerts_expr(alert: str, window: str | None) -> str:
    where = f',slo_window="{window}"' if window else ""
    return f'ALERTS{{alertname="{alert}",alertstate="firing"{where}}}'


def _firing_labels(slo: SLO, plan: TierPlan | None, alert: str) -> str:
    labels = dict(alert_labels(slo, plan))
    by = {k: v for k, v in slo.test_labels if k in slo.by}
    if plan is None:
        _, matchers = _selector_parts(absent_selector(slo))
        by = {k: v for k, v in matchers.items()}
    labels.update(by, alertname=alert, alertstate="firing")
    return _series("ALERTS", labels)


def _case(expr: str, at: int, samples: list[tuple[str, int]]) -> dict[str, Any]:
    return {"expr": expr, "eval_time": format_duration(at), "samples": samples}


def tier_groups(slo: SLO, plan: TierPlan, settings: Settings, evaluation: int) -> list[Group]:
    step = max(1, int(duration_seconds(settings.scrape_interval)))
    threshold = plan.threshold(slo)
    events = max(TEST_EVENTS_PER_SECOND, plan.min_rate * 4)
    if isinstance(slo.sli, BooleanGaugeSLI):
        events = 1 / step  # one sample a scrape per series
    if plan.tier.long_window_seconds > DIRECT_MAX_SECONDS:
        warm = scaled(HOUR, settings)  # the long window is made of the 1h rates
    else:
        warm = int(plan.min_events / events) + step  # the guard's events, at this rate
    fire_at = ceil_to(warm + evaluation + plan.for_seconds + 2 * evaluation, evaluation)
    resolved_at = ceil_to(fire_at + plan.short_seconds + 3 * evaluation, evaluation)
    samples_fire = fire_at // step + 1
    samples_all = resolved_at // step + 1
    expr = _alerts_expr(slo.burn_alert, plan.window)
    firing = [(_firing_labels(slo, plan, slo.burn_alert), 1)]
    name = f"{slo.burn_alert} {plan.tier.name}"
    interval = format_duration(step)
    groups = [
        Group(
            f"{name}: a burn at {FIRE:g}x the tier's factor fires it",
            interval,
            feed(slo, [(FIRE * threshold, samples_fire)], events, step),
            [_case(expr, fire_at, firing)],
        ),
        Group(
            f"{name}: a burn at {UNDER:g}x the tier's factor stays silent",
            interval,
            feed(slo, [(UNDER * threshold, samples_fire)], events, step),
            [_case(expr, fire_at, [])],
        ),
        Group(
            f"{name}: the burn stops and the alert resolves",
            interval,
            feed(
                slo,
                [(RECOVERY_BURN * threshold, samples_fire), (0.0, samples_all - samples_fire)],
                events,
                step,
            ),
            [
                _case(expr, fire_at, firing),
                _case(expr, resolved_at, []),
                # The long window still burns above the factor: the short one resolved it.
                _case(
                    f"count({RATIO.format(plan.window)}{{slo=\"{slo.slo}\"}} > {threshold:.6g})",
                    resolved_at,
                    [("{}", 1)],
                ),
            ],
        ),
    ]
    burn = min(1.0, LOW_TRAFFIC_BURN * threshold)
    if isinstance(slo.sli, BooleanGaugeSLI):
        # Fewer samples than the guard asks for: one every so many scrapes.
        sparse = ceil_to(2 * plan.long_seconds / plan.min_events, step)
        low = feed(slo, [(burn, fire_at // sparse + 1)], 1 / sparse, sparse)
        low_interval = format_duration(sparse)
    else:
        low = feed(slo, [(burn, samples_fire)], plan.min_rate / 2, step)
        low_interval = interval
    groups.append(
        Group(
            f"{name}: {burn / threshold:g}x the factor on too little traffic stays silent",
            low_interval,
            low,
            [_case(expr, fire_at, [])],
        )
    )
    absent_for = scaled(slo.absent_for_seconds, settings)
    absent_at = ceil_to(max(absent_for, plan.for_seconds) + 3 * evaluation, evaluation)
    up_labels = {k: v for k, v in slo.test_labels if k == "instance"}
    up_labels["job"] = job_of(slo)
    groups.append(
        Group(
            f"{name}: no SLI series: the tier is silent and {slo.absent_alert} fires",
            interval,
            [(_series("up", up_labels), f"1+0x{absent_at // step + 1}")],
            [
                _case(expr, absent_at, []),
                _case(
                    _alerts_expr(slo.absent_alert, None),
                    absent_at,
                    [(_firing_labels(slo, None, slo.absent_alert), 1)],
                ),
            ],
        )
    )
    return groups


def evaluation_seconds(settings: Settings) -> int:
    """The tests' evaluation interval: a minute, or the scrape interval when the windows
    are compressed below it."""
    return max(int(duration_seconds(settings.scrape_interval)), scaled(60, settings))


def slo_tests(slo: SLO, settings: Settings) -> str:
    evaluation = evaluation_seconds(settings)
    groups = [
        group
        for plan in tier_plans(slo, settings)
        for group in tier_groups(slo, plan, settings, evaluation)
    ]
    return render_template(
        "slo_tests.yml.j2",
        rule_file=f"../{slo_rules_file(slo).removeprefix('rules/')}",
        evaluation_interval=format_duration(evaluation),
        groups=groups,
    )


def render(catalogue: Catalogue, settings: Settings) -> dict[str, str]:
    return {
        f"rules/tests/slo-{slo.slo}.test.yml": slo_tests(slo, settings)
        for area in catalogue.areas
        for slo in area.slos
    }


def case_count(catalogue: Catalogue, settings: Settings) -> int:
    """Test groups rendered (five per enabled tier)."""
    return sum(5 * len(tier_plans(slo, settings)) for a in catalogue.areas for slo in a.slos)


__all__ = ["case_count", "feed", "render", "series_labels"]
