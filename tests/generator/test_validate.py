"""Validation: the real catalogue passes; deliberately bad ones fail, naming every problem."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from generator.catalogue import load
from generator.catalogue.system import CPU_HIGH, FDS_HIGH, MEMORY_HIGH
from generator.model import (
    Area,
    Catalogue,
    Level,
    RecordingRule,
    Settings,
    Severity,
    Team,
    Threshold,
)
from generator.testseries import series
from generator.validate import (
    CatalogueError,
    eval_plan,
    known_metrics_from_exporters,
    problems,
    series_samples,
    validate,
)
from tests.generator.catalogues import small_catalogue

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
        real.routing,
        routes=tuple(r for r in real.routing.routes if r.severity != Severity.CRITICAL),
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


def test_eval_plan_looks_for_pending_one_interval_in_when_the_for_allows_it() -> None:
    # An alert in another group than its recording rules may see their first value one
    # evaluation late (promtool orders groups at random): at the start it is not pending
    # yet in some runs. A for of two intervals leaves room to look one interval in.
    test = CPU_HIGH.levels[0].test  # warmup 60 s, interval 60 s
    assert eval_plan(test, 120).before == 120
    assert eval_plan(test, 60).before == 60  # no room: the start is the only time


def test_series_samples_counts_promtools_expanding_notation() -> None:
    assert series_samples("0+1x10") == 11
    assert series_samples("_x3 1 2") == 5
    assert series_samples("40000000000-50000000x80") == 81
    with pytest.raises(ValueError):
        series_samples("1+x")


def _with_routing(**changes: Any) -> str:
    real = load()
    return found(dataclasses.replace(real, routing=dataclasses.replace(real.routing, **changes)))


def test_a_critical_route_that_pages_no_one_is_refused() -> None:
    routes = tuple(
        dataclasses.replace(r, receivers=("ops-email", "critical-chat"))
        if r.team is None and r.severity == Severity.CRITICAL else r
        for r in load().routing.routes
    )
    text = _with_routing(routes=routes)
    assert "route (any other team, critical): no receiver pages a person" in text


def test_a_critical_route_with_one_integration_is_refused() -> None:
    routes = tuple(
        dataclasses.replace(r, receivers=("ops-pager",))
        if r.team == Team.OPS and r.severity == Severity.CRITICAL else r
        for r in load().routing.routes
    )
    assert "route (ops, critical): a page needs two different integrations" in _with_routing(
        routes=routes
    )


def test_a_severity_without_a_fallback_route_is_refused() -> None:
    routes = tuple(r for r in load().routing.routes if r.team is not None)
    text = _with_routing(routes=routes)
    for severity in ("critical", "warning", "info"):
        assert f"no fallback route (team None) for severity {severity}" in text


def test_a_digest_split_across_receivers_is_refused() -> None:
    routes = tuple(
        dataclasses.replace(r, receivers=("monitoring-chat",))
        if r.team == Team.SECURITY and r.severity == Severity.INFO else r
        for r in load().routing.routes
    )
    assert "info is a digest: every team's route must name the same one receiver" in (
        _with_routing(routes=routes)
    )


def test_an_info_cooldown_other_than_the_digest_period_is_refused() -> None:
    real = load()
    severities = tuple(
        dataclasses.replace(p, group_interval_seconds=3600) if p.digest else p
        for p in real.routing.severities
    )
    text = _with_routing(severities=severities)
    assert (
        "alert AppRestarted (info): cooldown 86400s: info alerts are delivered in the digest, "
        "every 3600s" in text
    )


def test_a_receiver_silent_on_resolution_must_say_why() -> None:
    receivers = tuple(
        dataclasses.replace(r, send_resolved=False) if r.name == "tickets" else r
        for r in load().routing.receivers
    )
    assert "receiver tickets: send_resolved is off: say why" in _with_routing(receivers=receivers)


def test_an_escalation_receiver_that_pages_no_one_is_refused() -> None:
    text = _with_routing(escalation_receiver="ops-email")
    assert "receiver 'ops-email' must page a person" in text


def test_a_critical_alert_without_a_category_is_refused() -> None:
    bad = renamed(FDS_HIGH, "NoCategory", category=None)
    assert "alert NoCategory: a critical level needs a category" in found(with_area(area(bad)))


# -- the alerting policy, on the small test catalogue -----------------------------------


def small_with(*thresholds: Threshold, recording: tuple[RecordingRule, ...] = ()) -> Catalogue:
    """The small test catalogue plus one area holding ``thresholds``."""
    small = small_catalogue()
    extra = Area("extra", "Extra", "Policy cases.", recording, thresholds)
    return dataclasses.replace(small, areas=(*small.areas, extra))


def policy_found(
    *thresholds: Threshold,
    recording: tuple[RecordingRule, ...] = (),
    settings: Settings | None = None,
) -> str:
    return "\n".join(problems(small_with(*thresholds, recording=recording), None, settings))


def _base() -> Threshold:
    base = small_catalogue().areas[0].thresholds[0]  # HostLoadHigh: warning 5m, critical 10m
    return renamed(base, "PolicyCase")


def test_a_level_without_for_needs_a_single_event_reason() -> None:
    instant = dataclasses.replace(_base(), levels=level_with(_base(), 1, for_seconds=0))
    assert "alert PolicyCase (critical): for_seconds is 0 but the threshold gives no " in (
        policy_found(instant)
    )
    explained = dataclasses.replace(instant, single_event="One deadlock is a bug to fix.")
    assert "single_event" not in policy_found(explained)


def test_a_blank_single_event_does_not_count_as_a_reason() -> None:
    instant = dataclasses.replace(
        _base(), levels=level_with(_base(), 0, for_seconds=0), single_event="   "
    )
    assert "alert PolicyCase (warning): for_seconds is 0" in policy_found(instant)


def test_a_single_event_on_an_alert_whose_levels_all_have_a_for_is_contradictory() -> None:
    held = dataclasses.replace(_base(), single_event="One occurrence is the incident.")
    assert "alert PolicyCase: single_event is set but every level has a for" in (
        policy_found(held)
    )
    assert "single_event" not in policy_found(_base())


def test_the_watchdog_fires_without_for_or_single_event() -> None:
    watchdog = dataclasses.replace(
        _base(), name="Watchdog", levels=level_with(_base(), 0, for_seconds=0)
    )
    assert "single_event" not in policy_found(watchdog)


@pytest.mark.parametrize("seconds", [-60, 30.5, 6 * 3600 + 1])
def test_keep_firing_seconds_outside_whole_seconds_in_bounds_is_refused(seconds: float) -> None:
    bad = dataclasses.replace(_base(), keep_firing_seconds=seconds)  # type: ignore[arg-type]
    assert f"alert PolicyCase: keep_firing_seconds {seconds!r} must be whole seconds" in (
        policy_found(bad)
    )


def test_keep_firing_seconds_within_bounds_is_accepted() -> None:
    for seconds in (0, 600, 6 * 3600):
        good = dataclasses.replace(_base(), keep_firing_seconds=seconds)
        assert "keep_firing_seconds" not in policy_found(good)


_ERRORS = RecordingRule(
    "instance:http_errors:ratio_rate5m",
    'sum without (status) (rate(promfleet_app_http_requests_total{status="5xx"}[5m]))\n'
    "/ sum without (status) (rate(promfleet_app_http_requests_total[5m]))",
)
_TRAFFIC = RecordingRule(
    "instance:http_requests:rate5m",
    "sum without (status) (rate(promfleet_app_http_requests_total[5m]))",
)


def _ratio(signal: str, guard: str = "") -> Threshold:
    return dataclasses.replace(_base(), signal=signal, guard=guard)


def test_a_ratio_of_rates_through_a_recording_rule_needs_a_guard() -> None:
    text = policy_found(_ratio(_ERRORS.record), recording=(_ERRORS,))
    assert "alert PolicyCase: no guard: a ratio of rates needs a minimum-traffic guard" in text


def test_a_ratio_of_rates_written_inline_needs_a_guard() -> None:
    inline = _ratio("rate(a_total[5m]) / (rate(a_total[5m]) + rate(b_total[5m]))")
    assert "alert PolicyCase: no guard" in policy_found(inline)


def test_a_quantile_over_rated_buckets_needs_a_guard() -> None:
    p99 = _ratio("histogram_quantile(0.99, sum without (route) (rate(d_bucket[5m])))")
    assert "alert PolicyCase: no guard" in policy_found(p99)


def test_a_guard_on_traffic_satisfies_the_ratio_rule() -> None:
    for guard in (
        "and on (instance, job) instance:http_requests:rate5m > 0.1",
        "and on (instance) sum by (instance) (rate(promfleet_app_http_requests_total[5m])) > 1",
    ):
        guarded = _ratio(_ERRORS.record, guard)
        assert "guard" not in policy_found(guarded, recording=(_ERRORS, _TRAFFIC))


def test_a_guard_that_measures_no_traffic_is_refused() -> None:
    guarded = _ratio(_ERRORS.record, "and on (instance) promfleet_app_up == 1")
    assert "alert PolicyCase: guard uses no rate()" in policy_found(guarded, recording=(_ERRORS,))


def test_a_guard_joined_with_or_does_not_restrict_the_alert() -> None:
    loose = _ratio(_ERRORS.record, "or on (instance) instance:http_requests:rate5m > 0.1")
    text = policy_found(loose, recording=(_ERRORS, _TRAFFIC))
    assert "alert PolicyCase: guard must restrict the condition with 'and'" in text


def test_a_ratio_of_time_counters_with_a_reason_needs_no_guard() -> None:
    busy = "1 - rate(cpu_seconds_total{mode=\"idle\"}[5m]) / rate(cpu_seconds_total[5m])"
    reasoned = dataclasses.replace(_ratio(busy), no_traffic_guard="CPU time always advances.")
    assert "guard" not in policy_found(reasoned)
    assert "alert PolicyCase: no guard" in policy_found(_ratio(busy))


def test_a_no_traffic_guard_reason_on_a_signal_that_is_no_ratio_is_refused() -> None:
    plain = dataclasses.replace(_ratio("a_bytes / b_bytes"), no_traffic_guard="why not")
    assert "alert PolicyCase: no_traffic_guard given, but the signal is no ratio" in (
        policy_found(plain)
    )


def test_a_ratio_of_gauges_or_a_plain_rate_needs_no_guard() -> None:
    for signal in ("a_bytes / b_bytes", "rate(a_total[5m])", "increase(a_total[1h]) / 3600"):
        assert "guard" not in policy_found(_ratio(signal))


def test_a_range_shorter_than_four_scrape_intervals_is_refused_in_rules_and_alerts() -> None:
    short = RecordingRule("instance:a:rate30s", "rate(a_total[30s])")
    alert = _ratio("max_over_time(a_bytes[45s:15s])")
    text = policy_found(alert, recording=(short,))
    assert "recording rule instance:a:rate30s: range [30s] is shorter than 4 scrape" in text
    assert "alert PolicyCase: range [45s] is shorter than 4 scrape intervals (1m" in text


def test_the_range_floor_follows_the_scrape_interval_setting() -> None:
    alert = _ratio("rate(a_total[1m]) > 0")
    assert "range" not in policy_found(alert)
    slow = Settings(scrape_interval="30s")
    assert "alert PolicyCase: range [1m] is shorter than 4 scrape intervals (2m" in (
        policy_found(alert, settings=slow)
    )


def test_a_level_without_for_over_an_hour_window_count_is_refused() -> None:
    hourly = RecordingRule("instance:events:increase1h", "increase(events_total[1h])")
    instant = dataclasses.replace(
        _base(),
        signal=hourly.record,
        levels=level_with(_base(), 0, for_seconds=0),
        single_event="One event is the incident.",
    )
    assert "alert PolicyCase: a level without a for counts over a 1h window" in policy_found(
        instant, recording=(hourly,)
    )
    short = RecordingRule("instance:events:increase1h", "increase(events_total[5m])")
    assert "window" not in policy_found(instant, recording=(short,))
    held = dataclasses.replace(instant, levels=_base().levels, single_event="")
    assert "window" not in policy_found(held, recording=(hourly,))
