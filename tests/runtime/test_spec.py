"""The exporter contract: metric declarations refuse bad names, option parsers name bad input."""

from __future__ import annotations

import re
from typing import Any

import pytest

from exporters.spec import (
    MetricNamespace,
    MetricSpec,
    Option,
    OptionError,
    Settings,
    option_value,
    parse_bool,
    parse_duration,
    parse_positive_float,
    parse_positive_int,
    specs_by_name,
)


def test_a_metric_namespace_prefixes_the_name_and_puts_its_labels_first() -> None:
    _m = MetricNamespace("promfleet_x", ("target",))
    assert _m("up", "gauge", "Up.", "role") == MetricSpec(
        "promfleet_x_up", "gauge", "Up.", ("target", "role")
    )
    assert MetricNamespace("promfleet_x")("load1", "gauge", "Load.").labels == ()


@pytest.mark.parametrize(
    ("name", "type_", "message"),
    [
        ("x_requests", "counter", "counter 'x_requests' must end in _total"),
        ("x_open_total", "gauge", "gauge 'x_open_total' must not end in _total"),
        ("x_build", "info", "info metric 'x_build' must end in _info"),
    ],
)
def test_a_metric_named_against_its_type_is_refused_by_name(
    name: str, type_: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        MetricSpec(name, type_, "Help.")


def test_a_family_declared_twice_is_refused_by_name() -> None:
    spec = MetricSpec("x_up", "gauge", "Up.")
    with pytest.raises(ValueError, match="metric 'x_up' declared twice"):
        specs_by_name([spec, spec])


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("15s", 15.0), ("5m", 300.0), ("2h", 7200.0), ("1d", 86400.0), (" 3 ", 3.0)],
)
def test_a_duration_takes_a_prometheus_unit_or_plain_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("value", ["soon", "5x", "-1s", -2, "ms"])
def test_a_bad_duration_is_refused_with_the_value_named(value: Any) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(value))):
        parse_duration(value)


@pytest.mark.parametrize(
    ("parse", "value", "message"),
    [
        (parse_bool, "maybe", "expected true or false, got 'maybe'"),
        (parse_positive_int, "1.5", "expected a whole number, got '1.5'"),
        (parse_positive_int, 0, "expected a positive whole number, got 0"),
        (parse_positive_float, "x", "expected a number, got 'x'"),
        (parse_positive_float, "0", "expected a positive number, got '0'"),
    ],
)
def test_option_parsers_name_the_bad_value(parse: Any, value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse(value)


def test_an_option_value_is_parsed_and_a_bad_one_names_the_option() -> None:
    options = (Option("disk.max-devices", "Most devices.", 100, parse_positive_int),)
    assert option_value(options, Settings("system", {}), "disk.max-devices") == 100
    given = Settings("system", {"disk.max-devices": "7"})
    assert option_value(options, given, "disk.max-devices") == 7
    bad = Settings("system", {"disk.max-devices": "many"})
    with pytest.raises(OptionError, match=r"^--disk\.max-devices: expected a whole number"):
        option_value(options, bad, "disk.max-devices")
