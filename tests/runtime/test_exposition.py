"""The runtime's text renderer writes exactly the bytes prometheus-client's generate_latest does."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
    StateSetMetricFamily,
    SummaryMetricFamily,
    UnknownMetricFamily,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.samples import Sample

from exporters.runtime.exposition import TextRenderer, go_float
from exporters.spec import ScrapeContext, Settings
from exporters.system import EXPORTER as SYSTEM


class _Families:
    def __init__(self, families: Sequence[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> list[Metric]:
        return self.families


def _library(families: Sequence[Metric]) -> bytes:
    return generate_latest(_Families(families))  # type: ignore[arg-type,unused-ignore]


def _same(families: Sequence[Metric], renderer: TextRenderer | None = None) -> None:
    renderer = renderer or TextRenderer()
    assert renderer.render(families) == _library(families)


names = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,20}", fullmatch=True)
label_names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,10}", fullmatch=True)
# Label values and help texts with the characters the format escapes, and non-ASCII.
texts = st.text(alphabet=st.sampled_from([*'ab z"\\\n\tµ€0{}=,', "\U0001f600"]), max_size=12)
values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0.0, -0.0, 1e6, 1234567.0, 12345678.9, 1e-7, 1e21, 2.5e-300]),
)


@st.composite
def families(draw: st.DrawFn) -> Metric:
    kind = draw(st.sampled_from(["counter", "gauge", "unknown", "info"]))
    name = draw(names)
    help_text = draw(texts)
    labels = draw(st.lists(label_names, max_size=3, unique=True))
    family: Any
    if kind == "counter":
        family = CounterMetricFamily(name, help_text, labels=labels)
    elif kind == "gauge":
        family = GaugeMetricFamily(name, help_text, labels=labels)
    elif kind == "unknown":
        family = UnknownMetricFamily(name, help_text, labels=labels)
    else:
        family = InfoMetricFamily(name, help_text, labels=labels)
    seen: set[tuple[str, ...]] = set()
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        label_values = tuple(draw(st.lists(texts, min_size=len(labels), max_size=len(labels))))
        if label_values in seen:
            continue
        seen.add(label_values)
        if kind == "info":
            family.add_metric(list(label_values), {"version": draw(texts)})
        else:
            family.add_metric(list(label_values), draw(values))
    out: Metric = family
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(families(), max_size=5))
def test_any_families_render_to_the_same_bytes_as_generate_latest(
    drawn: list[Metric],
) -> None:
    renderer = TextRenderer()
    _same(drawn, renderer)
    _same(drawn, renderer)  # and again from the cache


@given(values)
def test_a_value_is_written_as_prometheus_client_writes_it(value: float) -> None:
    from prometheus_client.utils import floatToGoString

    assert go_float(value) == floatToGoString(value)  # type: ignore[no-untyped-call]


def test_histograms_summaries_statesets_and_gauge_histograms_match() -> None:
    hist = HistogramMetricFamily("req_seconds", "Latency.", labels=["code"])
    hist.add_metric(["200"], [("0.1", 3), ("1.0", 5), ("+Inf", 6)], sum_value=2.5)
    summ = SummaryMetricFamily("sizes_bytes", "Sizes.", count_value=4, sum_value=10.0)
    state = StateSetMetricFamily("mode", "Modes.", value={"a": True, "b": False})
    ghist = GaugeHistogramMetricFamily(
        "queue_items", "Items.", buckets=[("1", 1), ("+Inf", 2)], gsum_value=3
    )
    _same([hist, summ, state, ghist])


def test_families_the_fast_path_cannot_write_go_through_prometheus_client() -> None:
    with_timestamp = GaugeMetricFamily("stamped", "Has a timestamp.")
    with_timestamp.add_metric([], 1.0, timestamp=1700000000.5)
    created = CounterMetricFamily("jobs", "Jobs.", labels=["kind"], created=1700000000.0)
    created.add_metric(["a"], 3, created=1700000000.0)
    odd_name = GaugeMetricFamily("odd.name", "Dots need escaping.", labels=["a.b"])
    odd_name.add_metric(["x"], 2.0)
    reserved = GaugeMetricFamily("reserved", "A reserved label name.")
    reserved.samples.append(Sample("reserved", {"__x": "y"}, 1.0))
    plain = GaugeMetricFamily("plain", "Plain.")
    plain.add_metric([], 7.0)
    _same([with_timestamp, plain, created, odd_name, reserved, plain])


def test_a_series_new_since_the_last_scrape_and_a_changed_value_are_written() -> None:
    renderer = TextRenderer()
    first = GaugeMetricFamily("temp", "Temperature.", labels=["room"])
    first.add_metric(["a"], 1.0)
    _same([first], renderer)
    second = GaugeMetricFamily("temp", "Temperature.", labels=["room"])
    second.add_metric(["a"], 2.0)
    second.add_metric(["b"], math.inf)
    _same([second], renderer)
    assert b'temp{room="b"} +Inf\n' in renderer.render([second])


def test_a_full_cache_starts_afresh_and_stays_correct() -> None:
    renderer = TextRenderer(max_cached=3)
    for round_ in range(3):
        family = GaugeMetricFamily(f"g{round_}", "Churn.", labels=["i"])
        for i in range(10):
            family.add_metric([str(i)], float(i + round_))
        _same([family], renderer)


def test_a_bad_value_raises_as_prometheus_client_does() -> None:
    family = GaugeMetricFamily("bad", "Not a number.")
    family.samples.append(Sample("bad", {}, "x"))  # type: ignore[arg-type]
    for render in (TextRenderer().render, _library):
        try:
            render([family])
        except ValueError:
            continue
        raise AssertionError(f"{render} accepted a non-numeric value")


def test_a_whole_system_scrape_renders_the_same() -> None:
    async def collect() -> list[Metric]:
        out: list[Metric] = []
        for collector in SYSTEM.build(Settings("system", {})):
            out.extend(await collector.collect(ScrapeContext.with_timeout(5.0)))
        return out

    _same(asyncio.run(collect()))
