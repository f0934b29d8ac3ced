"""The training exporter's collectors: each declares its families, METRICS is their union,
and ``--no-collector.<name>`` leaves one out of a served scrape; ``--collector.gpu`` is the
GPU collector's one switch (``--gpu.enabled`` its deprecated alias)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from exporters import training
from exporters.runtime.config import RuntimeConfig, resolve
from exporters.runtime.server import Served
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


def active(*flags: str) -> list[str]:
    _, settings, _ = resolve(training.EXPORTER, ["--directory=.", *flags], {})
    runtime = RuntimeConfig("", 0, "", "info", 0.5, 10.0)
    return [c.name for c in Served(training.EXPORTER, settings, runtime,
                                   tuple(training.build(settings))).active]


def test_the_gpu_collector_has_one_switch_and_the_old_option_is_its_deprecated_alias(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert active() == ["records", "gpu"]
    assert active("--no-collector.gpu") == ["records"]
    with caplog.at_level(logging.WARNING, logger="promfleet.training"):
        assert active("--gpu.enabled=false") == ["records"]
    assert "--gpu.enabled is deprecated: use --collector.gpu" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="promfleet.training"):
        assert active("--gpu.enabled=false", "--collector.gpu") == ["records", "gpu"]
        assert active("--gpu.enabled=true", "--no-collector.gpu") == ["records"]
    assert "ignored beside --collector.gpu" in caplog.text
    # Either way off, NVML is never loaded: the collector is not built at all.
    _, settings, _ = resolve(training.EXPORTER, ["--gpu.enabled=false"], {})
    assert not any(c.name == "gpu" for c in training.build(settings))
