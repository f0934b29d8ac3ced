"""The security exporter's collectors: each declares its families, METRICS is their union,
and ``--no-collector.<name>`` leaves one out of a served scrape."""

from __future__ import annotations

import re
from pathlib import Path

from exporters import security
from exporters.runtime.config import help_text
from exporters.spec import metrics_of
from tests.helpers import ExporterProcess, scrape
from tests.security.test_exporter import write_config

NS = "promfleet_security"
RUNTIME_FAMILIES = (f"{NS}_scrape_collector_",)


def served_families(text: str) -> set[str]:
    names = set(re.findall(rf"^({NS}_[a-z_]+)[ {{]", text, flags=re.MULTILINE))
    return {n for n in names if not n.startswith(RUNTIME_FAMILIES)}


def declared(*names: str) -> set[str]:
    return {s.name for c in security.COLLECTORS if c.name in names for s in c.metrics}


def test_metrics_are_the_union_of_the_collectors_declarations() -> None:
    assert metrics_of(*(c.metrics for c in security.COLLECTORS)) == security.METRICS
    assert security.EXPORTER.collectors == security.COLLECTORS
    assert [c.name for c in security.COLLECTORS] == ["logs", "detections", "denylist"]
    assert {s.name for s in security.LOGS.metrics} == {
        *(s.name for s in security.METRICS if s.name.startswith(f"{NS}_log_")),
        f"{NS}_position_write_errors_total",
    }
    text = help_text(security.EXPORTER)
    for name in ("logs", "detections", "denylist"):
        assert f"--collector.{name}=VALUE" in text


def test_a_disabled_collector_s_families_are_absent_and_the_rest_served(tmp_path: Path) -> None:
    config = f"--config.file={write_config(tmp_path)}"
    with ExporterProcess("security", config, "--no-collector.denylist") as no_denylist:
        _, _, without_denylist = scrape(no_denylist.url + "/metrics")
    with ExporterProcess("security", config, "--no-collector.logs",
                         "--no-collector.detections") as only_denylist:
        _, _, denylist_only = scrape(only_denylist.url + "/metrics")
    assert served_families(without_denylist) == declared("logs", "detections")
    assert 'collector="denylist"' not in without_denylist
    assert served_families(denylist_only) == declared("denylist")
    assert 'collector="logs"' not in denylist_only
