"""FamilyMaker builds exactly what MetricSpec.family() and add_metric would."""

from __future__ import annotations

import pytest

from exporters.spec import MetricSpec
from exporters.system.families import MAKERS, FamilyMaker
from exporters.system.metrics import METRICS, SPECS


@pytest.mark.parametrize("key", sorted(SPECS))
def test_a_made_family_equals_the_spec_s_family_with_add_metric(key: str) -> None:
    spec = SPECS[key]
    labels = tuple(f"v{i}" for i in range(len(spec.labels)))
    expected = spec.family()
    expected.add_metric(list(labels), 2.5)
    builder = MAKERS[key].start()
    builder.add(labels, 2.5)
    made = builder.family
    assert type(made) is type(expected)
    assert made == expected  # name, help, type, unit and samples
    assert vars(made).keys() == vars(expected).keys()


def test_every_declared_family_has_a_maker() -> None:
    assert {m.sample_name for m in MAKERS.values()} == {s.name for s in METRICS}


def test_each_sample_gets_its_own_label_dict_and_families_do_not_share_samples() -> None:
    maker = MAKERS["disk_read_bytes_total"]
    first, second = maker.start(), maker.start()
    first.add(("vda",), 1.0)
    first.family.samples[0].labels["device"] = "changed"
    second.add(("vda",), 2.0)
    assert second.family.samples[0].labels == {"device": "vda"}
    assert len(first.family.samples) == len(second.family.samples) == 1


def test_a_label_less_family_has_one_sample() -> None:
    family = MAKERS["load1"].one(0.5)
    assert [(s.name, s.labels, s.value) for s in family.samples] == [
        ("promfleet_system_load1", {}, 0.5)
    ]


def test_only_counters_and_gauges_are_made() -> None:
    with pytest.raises(ValueError, match="only counter, gauge, not info"):
        FamilyMaker(MetricSpec("x_info", "info", "Info."))
