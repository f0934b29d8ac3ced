"""Catalogue area ``application``: requests, jobs, workflows, integrations and health probes.

Signals come from the instrumentation library (``promfleet_app_*``, declared in
``exporters.app``), from the probe exporter (``promfleet_probe_*``) and from the jsonstatus
exporter (``promfleet_jsonstatus_*``: services' own JSON status endpoints); recording rules
turn counters and histograms into ``instance:...`` ratios, means and quantiles.

One module per part, each a table of alerts (see :mod:`generator.catalogue._gather` for
how they are collected), in the order the rule file lists them:

==================  =========================================  ==============================
part                alerts on                                  dashboard (``promfleet-...``)
==================  =========================================  ==============================
``service``         HTTP errors and latency, restarts          ``application`` (main)
``jobs``            job runs, queues, schedules, workflows     ``application-jobs``
``integrations``    external APIs, quotas, deliveries          ``application-integrations``
``business``        agent memory, data quality; the business   ``application-business``
                    dashboard (workflows, abandoned steps,
                    business cases)
``probes``          health endpoints, dependencies, TLS,       main; TLS on ``-integrations``
                    uptime
``status``          what services' JSON status endpoints say   ``application-status``
==================  =========================================  ==============================
"""

from __future__ import annotations

from generator.catalogue._gather import gather
from generator.catalogue.application._slos import SLOS

AREA = gather(
    __name__,
    parts=("service", "jobs", "integrations", "business", "probes", "status"),
    title="Application",
    description=(
        "Instrumented services: request rate, errors and latency; jobs and workflows; "
        "external integrations; business workflows, agent memory and data quality; health "
        "endpoints, uptime and certificates as the probe sees them; what Mini-XDR, "
        "BlindspotX and the ML Security service report on their status endpoints."
    ),
    dashboards=(
        ("jobs", "Jobs and workflows"),
        ("integrations", "External integrations"),
        ("business", "Business workflows"),
        ("status", "Service status endpoints"),
    ),
    slos=SLOS,
    external_metrics=("up",),  # the baseline alerts ask whether an instance is an hour old
)
