"""Catalogue area ``application``: requests, jobs, workflows, integrations and health probes.

Signals come from the instrumentation library (``promfleet_app_*``, declared in
``exporters.app``) and from the probe exporter (``promfleet_probe_*``); recording rules
turn counters and histograms into ``instance:...`` ratios, means and quantiles.

One module per part, each a table of alerts (see :mod:`generator.catalogue._gather` for
how they are collected), in the order the rule file lists them:

==================  =========================================  ==============================
part                alerts on                                  dashboard (``promfleet-...``)
==================  =========================================  ==============================
``service``         HTTP errors and latency, restarts          ``application`` (main)
``jobs``            job runs, queues, schedules, workflows     ``application-jobs``
``integrations``    external APIs, quotas, deliveries          ``application-integrations``
``probes``          health endpoints, dependencies, TLS        main; TLS on ``-integrations``
==================  =========================================  ==============================
"""

from __future__ import annotations

from generator.catalogue._gather import gather
from generator.catalogue.application._slos import SLOS

AREA = gather(
    __name__,
    parts=("service", "jobs", "integrations", "probes"),
    title="Application",
    description=(
        "Instrumented services: request rate, errors and latency; jobs and workflows; "
        "external integrations; health endpoints and certificates as the probe sees them."
    ),
    dashboards=(("jobs", "Jobs and workflows"), ("integrations", "External integrations")),
    slos=SLOS,
)
