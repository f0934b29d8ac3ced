"""Firing episodes from Prometheus' ``ALERTS`` series, and the acks that cover them.

Pure functions of query results: :func:`build_episodes` turns the range query
``timestamp(ALERTS{alertstate="firing"})`` (whose values are the times of the raw samples)
and ``ALERTS_FOR_STATE`` (whose value is when the alert became active) into one
:class:`Episode` per stretch of firing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from oncall.api import RuleInfo
from oncall.durations import from_unix
from oncall.model import Silence

MOST_HISTORY_SECONDS = 30 * 86400
# Prometheus refuses a range query of more than 11,000 points per series; stay below.
MOST_POINTS = 10_000

FIRING_QUERY = 'timestamp(ALERTS{alertstate="firing"})'
FOR_STATE_QUERY = "ALERTS_FOR_STATE"

Labels = Mapping[str, str]


def choose_step(range_seconds: float) -> int:
    """The finest whole-second step that keeps a range query under Prometheus' limit."""
    return max(1, math.ceil(range_seconds / MOST_POINTS))


@dataclass(frozen=True)
class Episode:
    """One stretch of firing of one alert (one label set).

    ``ended`` is None while it still fires. ``exact`` says whether ``started`` and
    ``ended`` are exact evaluation times; otherwise they are good to one query step.
    """

    labels: Labels
    started: datetime
    ended: datetime | None
    exact: bool

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    def duration_seconds(self, now: datetime) -> float:
        return ((self.ended or now) - self.started).total_seconds()


def _key(metric: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(
        sorted((str(k), str(v)) for k, v in metric.items() if k not in ("__name__", "alertstate"))
    )


def find_rule(rules: Sequence[RuleInfo], labels: Labels) -> RuleInfo | None:
    """The alerting rule that made an alert with ``labels``: same name, and its static
    labels on the alert. When labels are templated, any rule of that name will do if all
    share one ``for`` and interval."""
    named = [r for r in rules if r.name == labels.get("alertname")]
    exact = [r for r in named if all(labels.get(k) == v for k, v in r.labels.items())]
    if exact:
        return exact[0]
    if named and len({(r.for_seconds, r.interval_seconds) for r in named}) == 1:
        return named[0]
    return None


def _runs(points: Sequence[tuple[float, float]], step: float) -> list[list[tuple[float, float]]]:
    """Consecutive points of the query grid; a missing point starts a new run."""
    runs: list[list[tuple[float, float]]] = []
    for point in points:
        if runs and point[0] - runs[-1][-1][0] <= step * 1.5:
            runs[-1].append(point)
        else:
            runs.append([point])
    return runs


def _points(series: Mapping[str, Any]) -> list[tuple[float, float]]:
    return sorted((float(t), float(v)) for t, v in series.get("values", ()))


def build_episodes(
    firing: Iterable[Mapping[str, Any]],
    for_state: Iterable[Mapping[str, Any]],
    rules: Sequence[RuleInfo],
    *,
    start: float,
    end: float,
    step: float,
) -> list[Episode]:
    """Episodes from the two range results (same ``start``, ``end``, ``step``), newest
    first. ``end`` is the last point of the grid: an episode seen there still fires.

    A start is exact (see :func:`_started`) when the rule is known; an end when the step
    is no coarser than the rule's evaluation interval: the alert resolved at the
    evaluation after its last firing one. Otherwise they are good to one step.
    """
    active_since: dict[tuple[tuple[str, str], ...], dict[float, float]] = {}
    for series in for_state:
        active_since[_key(series["metric"])] = dict(_points(series))
    episodes: list[Episode] = []
    for series in firing:
        key = _key(series["metric"])
        labels = dict(key)
        rule = find_rule(rules, labels)
        activity = active_since.get(key, {})
        runs = _runs(_points(series), step)
        for index, run in enumerate(runs):
            active_at = activity.get(run[0][0])
            if active_at is not None and any(
                activity.get(r[0][0]) == active_at for r in runs[:index]
            ):
                continue  # the same activity after a gap in the data: already counted
            # A later run with the same activity (a gap in the data) extends this one.
            last_t, last_sample = (
                max(r[-1] for r in runs[index:] if r is run or activity.get(r[0][0]) == active_at)
                if active_at is not None
                else run[-1]
            )
            started, start_exact = _started(run, active_at, rule, start=start, step=step)
            if last_t >= end - step / 2:
                ended, end_exact = None, True
            elif rule is not None and step <= rule.interval_seconds:
                ended, end_exact = last_sample + rule.interval_seconds, True
            else:
                ended, end_exact = last_t + step, False
            episodes.append(
                Episode(
                    labels=labels,
                    started=from_unix(started),
                    ended=None if ended is None else from_unix(max(ended, started)),
                    exact=start_exact and end_exact,
                )
            )
    episodes.sort(key=lambda e: (e.started, e.name), reverse=True)
    return episodes


def _started(
    run: Sequence[tuple[float, float]],
    active_at: float | None,
    rule: RuleInfo | None,
    *,
    start: float,
    step: float,
) -> tuple[float, bool]:
    """When the episode began firing, and whether that is exact (to the second).

    With a step no coarser than the evaluation interval, the first point of the run sees
    the first firing evaluation itself. Otherwise the alert became active at
    ``active_at`` (whole seconds) and fired ``for`` later. Failing both, the first point
    that saw it firing, good to one step.
    """
    first_t, first_sample = run[0]
    began_in_range = first_t - step >= start
    if rule is not None and step <= rule.interval_seconds and began_in_range:
        return first_sample, True
    if active_at is not None and rule is not None:
        fired_at = active_at + rule.for_seconds
        if fired_at <= first_sample:
            return fired_at, True
    return first_t, False


def acks_for(episode: Episode, silences: Iterable[Silence], now: datetime) -> list[Silence]:
    """The ack silences that match the episode's labels and were in force during it."""
    until = episode.ended or now
    return sorted(
        (
            s
            for s in silences
            if s.is_ack and s.matches(episode.labels) and s.overlaps(episode.started, until)
        ),
        key=lambda s: s.starts_at,
    )
