"""What the renderers of alerting rules and of their promtool tests share: the labels an
alerting rule adds and its annotations (a module, not a renderer: its name starts with
``_``, so renderer discovery passes over it, and renderers import it instead of each
other)."""

from __future__ import annotations

from generator.model import Area, Level, Settings, Threshold, dashboard_url, runbook_url


def rule_labels(threshold: Threshold, level: Level) -> tuple[tuple[str, str], ...]:
    """The labels an alerting rule adds to its alerts, sorted by name."""
    return threshold.labels(level)


# Grafana's dashboard variables an alert's labels select, in the URL's order.
DASHBOARD_VARIABLES = ("job", "instance")


def alert_dashboard_url(area: Area, threshold: Threshold, settings: Settings) -> str:
    """The alert's dashboard with the alert's own job and instance selected
    (``?var-job=...&var-instance=...``), for the labels its series carry (``$labels``
    holds the expression's labels, not the rule's static ones)."""
    carried: set[str] = set()
    for level in threshold.levels:
        carried.update(name for name, _ in level.test.labels)
    query = "&".join(
        f"var-{name}={{{{ $labels.{name} }}}}" for name in DASHBOARD_VARIABLES if name in carried
    )
    url = dashboard_url(settings, area.name, threshold.panel.dashboard)
    return f"{url}?{query}" if query else url


def alert_annotations(
    area: Area, threshold: Threshold, settings: Settings
) -> tuple[tuple[str, str], ...]:
    """summary, description, runbook_url and dashboard_url (still Go templates)."""
    own = (
        ("dashboard_url", alert_dashboard_url(area, threshold, settings)),
        ("description", threshold.description),
        ("runbook_url", runbook_url(settings, threshold.name)),
        ("summary", threshold.summary),
    )
    if not threshold.extra_annotations:
        return own
    return tuple(sorted((dict(threshold.extra_annotations) | dict(own)).items()))
