"""What every generated Grafana dashboard shares, for the renderers that write them
(``grafana`` and ``slo_dashboards``; no renderer imports another): the provisioned
Prometheus datasource and the dashboard variables (datasource, job, instance)."""

from __future__ import annotations

from typing import Any

DATASOURCE_UID = "promfleet-prometheus"
DATASOURCE_REF = {"type": "prometheus", "uid": "${datasource}"}


def dashboard_variables() -> list[dict[str, Any]]:
    def query_var(name: str, label: str, query: str) -> dict[str, Any]:
        return {
            "allValue": ".*",
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "datasource": dict(DATASOURCE_REF),
            "definition": query,
            "hide": 0,
            "includeAll": True,
            "label": label,
            "multi": True,
            "name": name,
            "options": [],
            "query": query,
            "refresh": 2,
            "regex": "",
            "sort": 1,
            "type": "query",
        }

    return [
        {
            "current": {"selected": False, "text": "Prometheus", "value": DATASOURCE_UID},
            "hide": 0,
            "includeAll": False,
            "label": "Data source",
            "multi": False,
            "name": "datasource",
            "options": [],
            "query": "prometheus",
            "refresh": 1,
            "regex": "",
            "type": "datasource",
        },
        query_var("job", "Job", "label_values(up, job)"),
        query_var("instance", "Instance", 'label_values(up{job=~"$job"}, instance)'),
    ]
