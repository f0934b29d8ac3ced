"""The monitored systems' own alert rules (``generator/catalogue/_seeds.py``): each is
carried by a catalogue alert of the severity the mapping states, and that alert's
runbook quotes the rule and the mapping."""

from __future__ import annotations

import pytest

from generator.catalogue import load
from generator.catalogue._seeds import BLINDSPOTX_RULES, BLINDSPOTX_SEVERITY, seed_note
from generator.model import Severity


@pytest.mark.parametrize("rule", BLINDSPOTX_RULES, ids=lambda r: r.rule)
def test_each_blindspotx_rule_is_carried_by_an_alert_of_its_stated_severity(rule: object) -> None:
    from generator.catalogue._seeds import SeedRule

    assert isinstance(rule, SeedRule)
    thresholds = {t.name: t for _, t in load().thresholds()}
    assert rule.alert in thresholds, f"{rule.rule}: no alert {rule.alert} in the catalogue"
    threshold = thresholds[rule.alert]
    assert rule.severity in {lv.severity for lv in threshold.levels}
    assert rule.rule in threshold.runbook.meaning
    assert "high maps onto critical" in threshold.runbook.meaning


def test_the_blindspotx_ratings_map_onto_promfleet_severities_by_urgency() -> None:
    assert BLINDSPOTX_SEVERITY == {
        "high": Severity.CRITICAL,
        "medium": Severity.WARNING,
        "low": Severity.INFO,
    }
    # A rule kept below its rating's severity says why in its text.
    for rule in BLINDSPOTX_RULES:
        if rule.severity != BLINDSPOTX_SEVERITY[rule.rating]:
            assert "stays a warning" in rule.how, rule.rule


def test_an_alert_that_carries_no_seed_rule_gets_no_note() -> None:
    assert seed_note("AppHighErrorRate") == ""
