"""Validation: the real catalogue passes; deliberately bad ones fail, naming every problem."""

from __future__ import annotations

import dataclasses

import pytest

from generator.catalogue import load
from generator.catalogue.system import CPU_HIGH, FDS_HIGH, MEMORY_HIGH
from generator.model import Area, Catalogue, Level, RecordingRule, Severity, Threshold
from generator.testseries import series
from generator.validate import (
    CatalogueError,
    eval_plan,
    known_metrics_from_exporters,
    problems,
    series_samples,
    validate,
)

KNOWN = known_metrics_from_exporters()


def with_area(area: Area) -> Catalogue:
    """The real catalogue plus one extra area."""
    real = load()
    return dataclasses.replace(real, areas=(*real.areas, area))


def area(*thresholds: Threshold, recording: tuple[RecordingRule, ...] = ()) -> Area:
    return Area("extra", "Extra", "A deliberately bad area.", recording, thresholds)


def renamed(threshold: Threshold, name: str, **changes: object) -> Threshold:
    return dataclasses.replace(threshold, name=name, **changes)  # type: ignore[arg-type]


def level_with(threshold: Threshold, index: int = 0, **changes: object) -> tuple[Level, ...]:
    levels = list(threshold.levels)
    levels[index] = dataclasses.replace(levels[index], **changes)  # type: ignore[arg-type]
    return tuple(levels)


def found(catalogue: Catalogue) -> str:
    return "\n".join(problems(catalogue, KNOWN))


def test_the_real_catalogue_validates_against_the_exporters_declarations() -> None:
    catalogue = load()
    assert validate(catalogue, KNOWN) is catalogue
    assert {a.name for a in catalogue.areas} >= {"system", "meta"}


def test_the_system_exporter_declares_metrics_the_system_area_uses() -> None:
    assert "promfleet_system_cpu_seconds_total" in KNOWN
    assert "promfleet_system_scrape_collector_success" in KNOWN


def test_one_error_lists_every_problem_at_once() -> None:
    bad = area(
        renamed(CPU_HIGH, "SystemCPUHigh"),  # duplicate of the real one
        renamed(MEMORY_HIGH, "BadPromQL", signal="rate(foo[5m]"),
        recording=(RecordingRule("no_colons_here", "vector(1)"),),
    )
    with pytest.raises(CatalogueError) as info:
        validate(with_area(bad), KNOWN)
    text = str(info.value)
    assert "duplicate alert name" in text
    assert "PromQL does not parse" in text
    assert "level:metric:operation" in text
    assert len(info.value.problems) >= 3


def test_two_thresholds_sharing_a_name_are_duplicates_but_two_levels_are_not() -> None:
    assert "duplicate alert name" not in found(load())  # FDs has two levels, one name
    twin = renamed(FDS_HIGH, "SystemFileDescriptorsHigh")
    assert "alert SystemFileDescriptorsHigh: duplicate alert name" in found(with_area(area(twin)))


def test_a_duplicate_recording_rule_is_named() -> None:
    rule = RecordingRule("instance:promfleet_system_cpu_utilisation:ratio", "vector(1)")
    text = found(with_area(area(recording=(rule,))))
    assert "recording rule instance:promfleet_system_cpu_utilisation:ratio: duplicate" in text


def test_a_metric_nobody_declares_is_named_with_its_area() -> None:
    bad = renamed(MEMORY_HIGH, "Undeclared", signal="promfleet_system_no_such_metric_bytes")
    text = found(with_area(area(bad)))
    assert "metric promfleet_system_no_such_metric_bytes is not declared" in text
    assert "area extra" in text


def test_a_metric_listed_as_external_by_the_area_is_accepted() -> None:
    ok = renamed(MEMORY_HIGH, "ExternalOk", signal="some_external_gauge")
    extra = dataclasses.replace(area(ok), external_metrics=("some_external_gauge",))
    assert "some_external_gauge" not in found(with_area(extra))


def test_a_name_regex_must_match_at_least_one_known_metric() -> None:
    good = renamed(
        MEMORY_HIGH, "RegexOk", signal='{__name__=~"promfleet_.+_scrape_collector_success"}'
    )
    bad = renamed(MEMORY_HIGH, "RegexBad", signal='{__name__=~"nothing_matches_.+"}')
    text = found(with_area(area(good, bad)))
    assert "RegexOk" not in text
    assert "__name__=~'nothing_matches_.+' matches no metric" in text


def test_a_warning_that_trips_after_its_critical_twin_is_refused() -> None:
    swapped = renamed(
        FDS_HIGH,
        "SwappedLevels",
        levels=(
            dataclasses.replace(FDS_HIGH.levels[0], value=0.95),
            FDS_HIGH.levels[1],
        ),
    )
    text = found(with_area(area(swapped)))
    assert "warning (0.95) must trip before critical (0.9): for '>' its value must be lower" in text


def test_for_a_below_comparison_the_warning_value_must_be_higher() -> None:
    below = renamed(
        FDS_HIGH,
        "BelowLevels",
        op="<",
        levels=(
            dataclasses.replace(FDS_HIGH.levels[0], value=0.1),
            dataclasses.replace(FDS_HIGH.levels[1], value=0.2),
        ),
    )
    assert "for '<' its value must be higher" in found(with_area(area(below)))


def test_bad_durations_and_cooldowns_are_named() -> None:
    bad_for = renamed(CPU_HIGH, "NegativeFor", levels=level_with(CPU_HIGH, for_seconds=-5))
    short = renamed(CPU_HIGH, "ShortCooldown", levels=level_with(CPU_HIGH, cooldown_seconds=10))
    under_tick = renamed(
        CPU_HIGH, "UnderGroupInterval", levels=level_with(CPU_HIGH, cooldown_seconds=120)
    )
    off_tick = renamed(
        CPU_HIGH, "OffTickCooldown", levels=level_with(CPU_HIGH, cooldown_seconds=1200)
    )
    text = found(with_area(area(bad_for, short, under_tick, off_tick)))
    assert (
        "OffTickCooldown (warning): cooldown 1200s is not a whole number of warning "
        "group_interval ticks (900s): Alertmanager repeats on a tick, so it would resend "
        "every 1800s" in text
    )
    assert "NegativeFor (warning): for_seconds -5" in text
    assert "ShortCooldown (warning): cooldown_seconds 10 must be in 60..604800" in text
    assert (
        "UnderGroupInterval (warning): cooldown 120s is shorter than the warning group_interval"
        in text
    )


def test_missing_texts_runbook_sections_and_owner_are_named() -> None:
    runbook = dataclasses.replace(CPU_HIGH.runbook, meaning="", mitigation=())
    bad = renamed(
        CPU_HIGH, "Undocumented", summary="", description=" ", runbook=runbook, team="ops"
    )
    text = found(with_area(area(bad)))
    for expected in (
        "missing summary",
        "missing description",
        "runbook section meaning is empty",
        "runbook section mitigation needs at least one step",
        "owner team must be one of",
    ):
        assert f"alert Undocumented: {expected}" in text


def test_templates_outside_the_allowed_subset_are_refused() -> None:
    bad = renamed(
        MEMORY_HIGH,
        "BadTemplate",
        summary='{{ printf "%.2f" $value }} on {{ $labels.nosuchlabel }}',
    )
    text = found(with_area(area(bad)))
    assert "is outside the allowed template subset" in text
    assert "names a label the alert does not carry" in text


def test_a_test_whose_labels_miss_an_equal_label_is_refused() -> None:
    test = dataclasses.replace(MEMORY_HIGH.levels[0].test, labels=(("job", "system"),))
    bad = renamed(MEMORY_HIGH, "NoInstance", levels=level_with(MEMORY_HIGH, test=test))
    text = found(with_area(area(bad)))
    assert "test labels miss 'instance', a label of the inhibition equal list" in text


def test_a_static_instance_label_satisfies_the_equal_list() -> None:
    test = dataclasses.replace(MEMORY_HIGH.levels[0].test, labels=(("job", "system"),))
    ok = renamed(
        MEMORY_HIGH,
        "StaticInstance",
        levels=level_with(MEMORY_HIGH, test=test),
        static_labels=(("instance", "fleet"),),
        summary="memory",
        description="memory",
    )
    assert "StaticInstance" not in found(with_area(area(ok)))


def test_a_test_value_that_does_not_trip_its_level_is_refused() -> None:
    test = dataclasses.replace(MEMORY_HIGH.levels[0].test, value=0.5, quiet_value=0.95)
    bad = renamed(MEMORY_HIGH, "WrongValue", levels=level_with(MEMORY_HIGH, test=test))
    text = found(with_area(area(bad)))
    assert "test value 0.5 does not trip the level" in text
    assert "test quiet_value 0.95 trips the level" in text


def test_series_too_short_for_the_test_horizon_are_refused() -> None:
    short = (series("promfleet_system_memory_total_bytes", (("instance", "a"),), "1+0x3"),)
    test = dataclasses.replace(MEMORY_HIGH.levels[0].test, firing=short)
    bad = renamed(MEMORY_HIGH, "ShortSeries", levels=level_with(MEMORY_HIGH, test=test))
    assert "ends at 180s but the test looks at 720s" in found(with_area(area(bad)))


def test_an_unrouted_team_and_severity_is_refused() -> None:
    real = load()
    routing = dataclasses.replace(
        real.routing, routes=tuple(r for r in real.routing.routes if r[1] != Severity.CRITICAL)
    )
    text = "\n".join(problems(dataclasses.replace(real, routing=routing), KNOWN))
    assert (
        "alert SystemDiskSpaceHigh (critical): no route for team ops at severity critical" in text
    )


def test_eval_plan_stays_two_intervals_clear_of_the_for_boundary() -> None:
    test = CPU_HIGH.levels[0].test  # warmup 60 s, interval 60 s
    plan = eval_plan(test, 600)
    assert (plan.start, plan.before, plan.fire) == (60, 540, 780)
    assert eval_plan(test, 0).before is None


def test_series_samples_counts_promtools_expanding_notation() -> None:
    assert series_samples("0+1x10") == 11
    assert series_samples("_x3 1 2") == 5
    assert series_samples("40000000000-50000000x80") == 81
    with pytest.raises(ValueError):
        series_samples("1+x")


def test_a_digest_whose_group_interval_outlasts_its_window_is_refused() -> None:
    real = load()
    severities = tuple(
        dataclasses.replace(p, group_interval_seconds=3600) if p.digest else p
        for p in real.routing.severities
    )
    routing = dataclasses.replace(real.routing, severities=severities)
    bad = dataclasses.replace(real, routing=routing)
    text = found(bad)
    assert "group_interval (3600s) is longer than the digest window (1800s)" in text
