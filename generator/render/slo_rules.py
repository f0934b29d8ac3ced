"""Renders ``rules/slo-<slo>.rules.yml``: per SLO, one group of recording rules (events, bad
events, error ratio and burn rate per window, the period's ratio and the budget left) and
its alerts (one rule per enabled burn tier, labelled ``slo_tier`` and ``slo_window``, and
the absent-SLI alert); and the hourly group that keeps one sample an hour of the 1h rates
for the long windows and the period. See :mod:`generator.render._slo` for the rules themselves."""

from __future__ import annotations

from generator.model import Catalogue, Settings
from generator.render import render_template
from generator.render._slo import rule_groups, slo_rules_file


def render(catalogue: Catalogue, settings: Settings) -> dict[str, str]:
    return {
        slo_rules_file(slo): render_template(
            "slo_rules.yml.j2", area=area, slo=slo, groups=rule_groups(area, slo, settings)
        )
        for area in catalogue.areas
        for slo in area.slos
    }
