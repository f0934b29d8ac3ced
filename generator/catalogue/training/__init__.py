"""Catalogue area ``training``: model training jobs, model serving, drift, federated learning, GPUs.

Signals come from the training exporter (``promfleet_training_*``): status records that
trainers, model servers, drift monitors and federated coordinators write, and GPUs read
through NVML. Every alert goes to the engineering team, and every panel is on the one
dashboard (``promfleet-training``).

One module per part, each a table of alerts (see :mod:`generator.catalogue._gather` for
how they are collected), in the order the rule file lists them:

=============  ================================================================
part           alerts on
=============  ================================================================
``jobs``       training jobs: failed, stalled, queued too long
``serving``    model serving: loading failed or slow
``quality``    model quality: accuracy under its floor or dropping, concept drift
``federated``  federated learning: participants missing, aggregation stalled
``gpus``       GPUs: memory, idle while a job runs, temperature
``source``     the exporter's status source: unreadable, records rejected
=============  ================================================================
"""

from __future__ import annotations

from generator.catalogue._gather import gather

AREA = gather(
    __name__,
    parts=("jobs", "serving", "quality", "federated", "gpus", "source"),
    title="ML training",
    description="Model training jobs, model serving, drift, federated learning and GPUs.",
)
