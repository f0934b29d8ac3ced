"""The training exporter's collectors: each declares its families, METRICS is their union,
and ``--no-collector.<name>`` leaves one out of a served scrape."""

from __future__ import annotations

import re
from pathlib import Path

from exporters import training
from exporters.spec import metrics_of
from exporters.training import metrics
from tests.helpers import ExporterProcess, scrape

NS = "promfleet_training"


def served_families(text: str) -> set[str]:
    names = set(re.findall(rf"^({NS}_[a-z_]+)[ {{]", text, flags=re.MULTILINE))
    return {n for n in names if not n.startswith(f"{NS}_scrape_collector_")}


def test_metrics_are_the_union_of_the_collectors_declarations() -> None:
    assert metrics_of(*(c.metrics for c in metrics.COLLECTORS)) == metrics.METRICS
    assert training.EXPORTER.collectors == metrics.COLLECTORS
    assert [c.name for c in metrics.COLLECTORS] == ["records", "gpu"]
    gpu = {s.name for s in metrics.GPU.metrics}
    assert gpu == {s.name for s in metrics.METRICS if s.name.startswith(f"{NS}_gpu_")}
    # What the caps leave out is counted by the records collector, the one that caps.
    assert f"{NS}_dropped_series" in {s.name for s in metrics.RECORDS.metrics}


def test_a_disabled_collector_s_families_are_absent_and_the_rest_served(tmp_path: Path) -> None:
    directory = f"--directory={tmp_path}"
    with ExporterProcess("training", directory, "--no-collector.gpu") as no_gpu:
        _, _, without_gpu = scrape(no_gpu.url + "/metrics")
    with ExporterProcess("training", directory, "--no-collector.records") as no_records:
        _, _, without_records = scrape(no_records.url + "/metrics")
    records = {s.name for s in metrics.RECORDS.metrics}
    gpu = {s.name for s in metrics.GPU.metrics}
    assert served_families(without_gpu) <= records
    assert {f"{NS}_source_up", f"{NS}_pending_jobs"} <= served_families(without_gpu)
    assert 'collector="gpu"' not in without_gpu
    assert served_families(without_records) <= gpu
    assert f"{NS}_gpu_devices" in served_families(without_records)
    assert 'collector="records"' not in without_records
