"""exporters.families, the one way to build families, makes exactly what MetricSpec.family()
and add_metric would, for every exporter's declarations."""

from __future__ import annotations

from types import ModuleType

import pytest
from prometheus_client.core import Metric

from exporters import postgres, probe, redis, security, system
from exporters.families import Families, FamilyTemplate
from exporters.runtime.exposition import TextRenderer
from exporters.runtime.selfmetrics import PROCESS_METRICS
from exporters.spec import MetricSpec
from exporters.system.metrics import FAMILIES as SYSTEM
from exporters.training import metrics as training
from tests.database.conftest import exposition

MODULES: tuple[ModuleType, ...] = (system, postgres, redis, probe, security, training)


def _prefix(module: ModuleType) -> str:
    return f"{module.METRICS[0].name.split('_')[0]}_{module.METRICS[0].name.split('_')[1]}_"


def _values(spec: MetricSpec, n: int) -> tuple[str, ...]:
    return tuple(f"v{i}-{n}" for i in range(len(spec.labels)))


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_a_batch_equals_spec_families_filled_with_add_metric(module: ModuleType) -> None:
    specs = [s for s in module.METRICS if s.type in ("counter", "gauge", "info")]
    prefix = _prefix(module)
    batch = Families(specs, prefix).start()
    expected: list[Metric] = []
    for spec in specs:
        family = spec.family()
        for n, value in ((1, 1.5), (2, 0.0)):
            labels = _values(spec, n)
            if spec.type == "info":  # the labels are the information; the value is 1
                batch.add(spec.name.removeprefix(prefix), labels, 1.0)
                family.add_metric(list(labels), {})
            else:
                batch.add(spec.name.removeprefix(prefix), labels, value)
                family.add_metric(list(labels), value)
        expected.append(family)
    got = batch.list()
    assert got == expected  # name, type, help, samples (labels and values) alike
    assert [vars(g).keys() for g in got] == [vars(e).keys() for e in expected]
    assert TextRenderer().render(got).decode() == exposition(expected)


@pytest.mark.parametrize("spec", PROCESS_METRICS, ids=lambda s: s.name)
def test_one_makes_the_label_less_family_prometheus_client_makes(spec: MetricSpec) -> None:
    expected = spec.family()
    expected.add_metric([], 2.5)
    assert Families(PROCESS_METRICS)[spec.name].one(2.5) == expected


def test_a_builder_and_a_whole_family_equal_add_metric() -> None:
    spec = next(s for s in system.METRICS if s.name.endswith("disk_read_bytes_total"))
    expected = spec.family()
    expected.add_metric(["vda"], 1.0)
    expected.add_metric(["vdb"], 2.0)
    builder = SYSTEM["disk_read_bytes_total"].start()
    builder.add(("vda",), 1.0)
    builder.add(("vdb",), 2.0)
    assert builder.family == expected
    whole = Families(system.METRICS, "promfleet_system_").family(
        "disk_read_bytes_total", {("vda",): 1.0, ("vdb",): 2.0})
    assert whole == expected


def test_families_are_fresh_each_scrape_and_none_values_are_skipped() -> None:
    maker = Families(redis.METRICS, redis.NS + "_")
    first = maker.start()
    first.add("up", ("a",), 1.0)
    first.add("db_keys", ("a", "db0"), None)
    second = maker.start()
    second.add("up", ("a",), 0.0)
    (up_first,) = first.list()
    (up_second,) = second.list()
    assert up_first is not up_second
    assert [s.value for s in up_first.samples] == [1.0]
    # Each sample owns its label dict: changing one changes no other scrape's.
    up_first.samples[0].labels["target"] = "changed"
    assert up_second.samples[0].labels == {"target": "a"}


def test_histograms_and_other_kinds_are_refused() -> None:
    with pytest.raises(ValueError, match="only counter, gauge, info, not histogram"):
        FamilyTemplate(MetricSpec("x_seconds", "histogram", "A histogram."))
