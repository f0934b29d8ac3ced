"""A healthy stack pages nobody: the real rules with their real ``for`` durations, the whole
default stack and its demo writers producing healthy traffic, and no warning or critical
alert even pending at any poll for a couple of minutes.

Only sampling is compressed (1 s scrapes and evaluations: more samples in each window, the
same windows); ``alert_for_override`` is left unset, so a condition that holds in a healthy
stack shows as a pending alert long before it would fire. The Watchdog fires throughout,
which proves the rules are evaluated.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
import yaml

from tests.live.conftest import LiveStack, StartLiveStack

pytestmark = pytest.mark.live

# How long the healthy stack is watched, and how often ALERTS is read.
RUN_SECONDS = 150.0
POLL_SECONDS = 2.0
# A loaded machine may take a while to answer one query; a poll that fails is retried at
# the next one, but the run must have looked often enough to mean something.
MIN_POLLS = int(RUN_SECONDS / POLL_SECONDS / 3)

HEALTHY_SETTINGS = {
    "scrape_interval": "1s",
    "evaluation_interval": "1s",
    "scrape_timeout": "1s",
    "alert_for_override": "",  # the real `for` of every alert
}
NOT_OK = 'ALERTS{severity=~"warning|critical"}'


@dataclass
class Sighting:
    """One alert seen pending or firing: when first and last, and how often."""

    labels: dict[str, str]
    first: float
    last: float
    polls: int = 1

    def line(self, started: float) -> str:
        keep = ("alertname", "alertstate", "severity", "job", "instance")
        shown = ", ".join(f"{k}={self.labels[k]}" for k in keep if k in self.labels)
        extra = {k: v for k, v in self.labels.items() if k not in keep and k != "__name__"}
        return (
            f"{shown} {extra or ''} seen in {self.polls} polls, "
            f"{self.first - started:.0f}s to {self.last - started:.0f}s into the run"
        )


@pytest.fixture(scope="module")
def stack(live_stack: StartLiveStack) -> LiveStack:
    return live_stack(members="all", settings=HEALTHY_SETTINGS)


def test_a_healthy_stack_has_no_warning_or_critical_alert_pending_or_firing(
    stack: LiveStack,
) -> None:
    rendered = yaml.safe_load((stack.out_dir / "rules" / "meta.rules.yml").read_text("utf-8"))
    durations = {r["for"] for g in rendered["groups"] for r in g["rules"] if "alert" in r}
    assert durations - {"0s"}, "the healthy run must use the real `for` durations"
    started = time.monotonic()
    seen: dict[tuple[tuple[str, str], ...], Sighting] = {}
    polls = 0
    watchdog_polls = 0
    while time.monotonic() - started < RUN_SECONDS:
        try:
            found = stack.query(NOT_OK)
            watchdog = stack.query('ALERTS{alertname="Watchdog",alertstate="firing"}')
        except OSError as err:  # a busy machine: try again at the next poll
            print(f"poll failed: {err}")
            time.sleep(POLL_SECONDS)
            continue
        now = time.monotonic()
        polls += 1
        watchdog_polls += bool(watchdog)
        for sample in found:
            labels = dict(sample["metric"])
            key = tuple(sorted(labels.items()))
            if key in seen:
                seen[key].last = now
                seen[key].polls += 1
            else:
                seen[key] = Sighting(labels, now, now)
        time.sleep(POLL_SECONDS)
    assert polls >= MIN_POLLS, f"only {polls} polls answered in {RUN_SECONDS:.0f}s"
    assert watchdog_polls >= polls - 2, "the Watchdog was not firing: rules are not evaluated"
    report = sorted(s.line(started) for s in seen.values())
    assert not report, (
        f"{len(report)} warning/critical alerts pending or firing in a healthy stack:\n  "
        + "\n  ".join(report)
    )
