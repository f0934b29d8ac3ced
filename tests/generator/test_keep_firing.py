"""keep_firing_for, set in one pass by the rules renderer: an alert fed by exporter series
keeps firing after they vanish until the target-down alert has fired and muted it."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import yaml

from generator.catalogue import load
from generator.model import Catalogue, Settings, Threshold
from generator.render.rules import (
    TARGET_DOWN_MARGIN_INTERVALS,
    keep_firing_seconds,
    target_down_for_seconds,
)
from generator.render.rules import render as render_rules
from generator.settings import duration_seconds, load_settings


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    loaded: Catalogue = load()
    return loaded


def _rules(catalogue: Catalogue, settings: Settings) -> dict[str, list[dict[str, Any]]]:
    """Alert name -> its rendered rules (one per level)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for text in render_rules(catalogue, settings).values():
        for group in yaml.safe_load(text)["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    out.setdefault(rule["alert"], []).append(rule)
    return out


def _target_down(catalogue: Catalogue) -> Threshold:
    name = catalogue.routing.target_down_alert
    return next(t for _, t in catalogue.thresholds() if t.name == name)


def test_every_alert_fed_by_exporter_series_outlasts_the_target_down_alert(
    catalogue: Catalogue,
) -> None:
    settings = Settings()
    target_down = max(lv.for_seconds for lv in _target_down(catalogue).levels)
    interval = duration_seconds(settings.scrape_interval)
    rules = _rules(catalogue, settings)
    fed = [t for _, t in catalogue.thresholds() if t.inhibited_by_target_down]
    assert fed, "no alert is fed by exporter series"
    for threshold in fed:
        for rule in rules[threshold.name]:
            kept = duration_seconds(rule.get("keep_firing_for", "0s"))
            assert kept >= target_down + 2 * interval, (threshold.name, rule)


def test_the_default_keep_firing_for_is_the_target_down_for_plus_four_intervals(
    catalogue: Catalogue,
) -> None:
    settings = Settings()
    assert target_down_for_seconds(catalogue, settings) == 180
    plain = next(
        t
        for _, t in catalogue.thresholds()
        if t.inhibited_by_target_down and t.keep_firing_seconds == 0
    )
    assert keep_firing_seconds(plain, settings, 180) == 180 + TARGET_DOWN_MARGIN_INTERVALS * 15
    assert _rules(catalogue, settings)[plain.name][0]["keep_firing_for"] == "4m"


def test_alerts_not_fed_by_exporters_get_no_derived_keep_firing_for(catalogue: Catalogue) -> None:
    rules = _rules(catalogue, Settings())
    for _, threshold in catalogue.thresholds():
        if threshold.inhibited_by_target_down or threshold.keep_firing_seconds:
            continue
        for rule in rules[threshold.name]:
            assert "keep_firing_for" not in rule, threshold.name


def test_an_explicit_keep_firing_seconds_wins_when_it_is_longer(catalogue: Catalogue) -> None:
    settings = Settings()
    fed = next(t for _, t in catalogue.thresholds() if t.inhibited_by_target_down)
    longer = dataclasses.replace(fed, keep_firing_seconds=1800)
    shorter = dataclasses.replace(fed, keep_firing_seconds=30)
    assert keep_firing_seconds(longer, settings, 180) == 1800
    assert keep_firing_seconds(shorter, settings, 180) == 240
    own = next(t for _, t in catalogue.thresholds() if not t.inhibited_by_target_down)
    assert keep_firing_seconds(
        dataclasses.replace(own, keep_firing_seconds=600), settings, 180
    ) == (600)


def test_live_settings_shorten_it_with_the_target_down_for_they_override(
    catalogue: Catalogue,
) -> None:
    settings = load_settings(
        pairs=(
            "scrape_interval=1s",
            "evaluation_interval=1s",
            "scrape_timeout=1s",
            "alert_for_override=10s",
        )
    )
    fed = next(
        t
        for _, t in catalogue.thresholds()
        if t.inhibited_by_target_down and t.keep_firing_seconds == 0
    )
    assert target_down_for_seconds(catalogue, settings) == 10
    assert _rules(catalogue, settings)[fed.name][0]["keep_firing_for"] == "14s"


def test_a_catalogue_without_the_target_down_alert_derives_nothing(catalogue: Catalogue) -> None:
    routing = dataclasses.replace(catalogue.routing, target_down_alert="NoSuchAlert")
    other = dataclasses.replace(catalogue, routing=routing)
    assert target_down_for_seconds(other, Settings()) is None
    fed = next(
        t
        for _, t in catalogue.thresholds()
        if t.inhibited_by_target_down and t.keep_firing_seconds == 0
    )
    assert "keep_firing_for" not in _rules(other, Settings())[fed.name][0]
