"""The rule linter: each check reports a small bad rule group and passes its good twin."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from generator.model import RoutingPolicy
from generator.routing import POLICY
from generator.rulelint import (
    Analyser,
    Metric,
    declared_metrics,
    lint_rules,
    main,
    policy_from,
    rules_from_document,
)

SCRAPE = frozenset({"instance", "job"})
METRICS = {
    "up": Metric("gauge", SCRAPE),
    "requests_total": Metric("counter", SCRAPE | {"status", "route"}),
    "queue_depth": Metric("gauge", SCRAPE | {"queue"}),
    "latency_seconds_bucket": Metric("counter", SCRAPE | {"le"}),
    "memory_used_bytes": Metric("gauge", SCRAPE | {"target"}),
    "memory_max_bytes": Metric("gauge", SCRAPE | {"target"}),
}


def lint(rules: Sequence[Mapping[str, Any]], scrape: str = "15s") -> list[str]:
    """Findings as ``check: message`` for one group ``g`` in ``x.rules.yml``."""
    document = {"groups": [{"name": "g", "rules": rules}]}
    parsed = rules_from_document("x.rules.yml", yaml.safe_load(yaml.safe_dump(document)))
    return [
        f"{f.check}: {f.message}" for f in lint_rules(parsed, METRICS, policy_from(POLICY, scrape))
    ]


def alert(expr: str, for_: str = "5m", **annotations: str) -> dict[str, Any]:
    return {
        "alert": "A",
        "expr": expr,
        "for": for_,
        "labels": {"severity": "warning", "team": "ops"},
        "annotations": annotations,
    }


def checks(found: list[str]) -> set[str]:
    return {line.split(":", 1)[0] for line in found}


def test_rate_over_a_gauge_is_reported_and_over_a_counter_is_not() -> None:
    found = lint([alert("rate(queue_depth[5m]) > 1")])
    assert "rate-type: rate() over queue_depth, declared as a gauge" in found[0]
    assert lint([alert("rate(requests_total[5m]) > 1")]) == []


def test_a_raw_counter_compared_is_reported() -> None:
    found = lint([alert("requests_total > 100")])
    assert any(f.startswith("counter-raw: counter requests_total is used without") for f in found)


@pytest.mark.parametrize(
    "expr",
    [
        "increase(requests_total[5m]) > 100",
        "count without (route) (requests_total) > 3",
        "queue_depth > 1 and on (instance, job) requests_total",
        'absent(requests_total{job="app"})',
        "histogram_quantile(0.99, sum by (instance, job, le)"
        " (rate(latency_seconds_bucket[5m]))) > 1",
    ],
)
def test_a_counter_under_rate_count_absent_or_a_set_filter_is_fine(expr: str) -> None:
    assert "counter-raw" not in checks(lint([alert(expr, "5m")]))


def test_a_range_under_four_scrape_intervals_is_reported_in_records_and_subqueries() -> None:
    found = lint(
        [
            {"record": "instance:requests:rate30s", "expr": "rate(requests_total[30s])"},
            alert("max_over_time(queue_depth[2m:15s]) > 1"),
        ],
        scrape="1m",
    )
    assert found == [
        "range: range [30s] is shorter than 4 scrape intervals (4m)",
        "range: range [2m] is shorter than 4 scrape intervals (4m)",
    ]
    assert lint([alert("max_over_time(queue_depth[2m:15s]) > 1")], scrape="15s") == []


def test_an_alert_without_a_comparison_always_fires() -> None:
    found = lint([alert("queue_depth"), alert("queue_depth > bool 3")])
    assert (
        found.count(
            "comparison: the expression has no comparison (nor absent()), so the alert always fires"
        )
        == 2
    )


def test_a_comparison_inside_a_recording_rule_or_a_set_operation_counts() -> None:
    record = {"record": "instance:queue:high", "expr": "queue_depth > 10"}
    assert lint([record, alert("instance:queue:high")]) == []
    assert lint([alert("queue_depth * on (instance, job) (up == 1)")]) == []
    assert lint([alert("queue_depth or up")]) != []


def test_a_bare_vector_one_is_the_dead_mans_switch_exception() -> None:
    watchdog = alert("vector(1)", "0s")
    watchdog["alert"] = "Watchdog"
    watchdog["labels"] = {"severity": "info", "team": "ops", "instance": "prometheus"}
    assert lint([watchdog]) == []
    other = alert("vector(2) + 1", "0s")
    assert "comparison" in checks(lint([other]))


def test_an_annotation_naming_a_label_the_expression_cannot_produce_is_reported() -> None:
    found = lint([alert("sum by (instance, job) (queue_depth) > 1", summary="{{ $labels.queue }}")])
    assert found == [
        "template-label: summary uses $labels.queue, which the expression cannot produce "
        "(it can carry: instance, job)"
    ]
    kept = alert("sum by (instance, job, queue) (queue_depth) > 1", summary="{{ $labels.queue }}")
    assert lint([kept]) == []


def test_labels_added_by_label_replace_and_group_left_can_be_templated() -> None:
    replaced = alert(
        'label_replace(queue_depth, "pool", "$1", "queue", "(.*)") > 1',
        summary="{{ $labels.pool }}",
    )
    joined = alert(
        "memory_used_bytes / on (instance, job) group_left (queue) queue_depth > 1",
        summary="{{ $labels.queue }} {{ $labels.target }}",
    )
    assert lint([replaced, joined]) == []


def test_an_aggregation_that_drops_instance_or_job_is_reported() -> None:
    found = lint([alert("sum by (job) (queue_depth) > 1")])
    assert found == [
        "routing-label: the expression drops 'instance', which routing or inhibition relies "
        "on: keep it in by (...)/on (...), or set it as a static label"
    ]
    assert "'job'" in lint([alert("sum without (job) (queue_depth) > 1")])[0]


def test_one_to_one_matching_on_keeps_only_the_listed_labels() -> None:
    found = lint([alert("memory_used_bytes / on (instance) memory_max_bytes > 0.9")])
    assert checks(found) == {"routing-label"}
    assert "'job'" in found[0]


def test_a_static_label_satisfies_the_routing_labels() -> None:
    rule = alert("sum(queue_depth) > 1")
    rule["labels"] = {"severity": "warning", "team": "ops", "instance": "fleet", "job": "all"}
    assert lint([rule]) == []


def test_the_routing_policys_own_labels_are_required() -> None:
    policy = RoutingPolicy(
        receivers=POLICY.receivers,
        routes=POLICY.routes,
        severities=POLICY.severities,
        default_receiver=POLICY.default_receiver,
        deadmans_switch_receiver=POLICY.deadmans_switch_receiver,
        group_by=("alertname", "instance", "cluster"),
    )
    parsed = rules_from_document(
        "x.rules.yml", {"groups": [{"name": "g", "rules": [alert("queue_depth > 1")]}]}
    )
    found = [str(f) for f in lint_rules(parsed, METRICS, policy_from(policy, "15s"))]
    assert len(found) == 1
    assert (
        "x.rules.yml: group g: alert A: routing-label: the expression drops 'cluster'" in found[0]
    )


def test_unknown_metrics_give_no_label_findings() -> None:
    rule = alert('{__name__=~"x_.+"} > 1', summary="{{ $labels.anything }}")
    rule2 = alert("prometheus_notifications_dropped_total > 0", summary="{{ $labels.x }}")
    assert lint([rule, rule2]) == []


def test_absent_with_a_for_under_two_scrape_intervals_is_reported() -> None:
    found = lint([alert('absent(up{job="app"})', "15s")])
    assert found == [
        "absent-for: absent() with for 15s, under 2 scrape intervals (30s): one late scrape "
        "fires it",
        "routing-label: the expression drops 'instance', which routing or inhibition relies "
        "on: keep it in by (...)/on (...), or set it as a static label",
    ]
    assert "absent-for" not in checks(lint([alert('absent(up{job="app"})', "1m")]))


def test_a_sum_of_ratios_is_reported_and_a_ratio_of_sums_is_not() -> None:
    found = lint([alert("sum by (instance, job) (memory_used_bytes / memory_max_bytes) > 1")])
    assert checks(found) == {"aggregate-division"}
    assert (
        lint(
            [
                alert(
                    "sum by (instance, job) (memory_used_bytes)"
                    " / sum by (instance, job) (memory_max_bytes) > 1"
                ),
                alert("sum by (instance, job) (queue_depth / 60) > 1"),
            ]
        )
        == []
    )


def test_duplicate_rules_are_reported() -> None:
    record = {"record": "instance:queue:sum", "expr": "sum by (instance, job) (queue_depth)"}
    found = lint([record, record, alert("queue_depth > 1"), alert("queue_depth  >  1")])
    assert found == [
        "duplicate: recorded 2 times",
        "duplicate: the same alerting rule appears 2 times",
    ]


def test_labels_resolve_through_recording_rules() -> None:
    record = {
        "record": "instance:queue:sum",
        "expr": "sum by (instance) (queue_depth)",
        "labels": {"job": "app"},
    }
    assert lint([record, alert("instance:queue:sum > 1", summary="{{ $labels.job }}")]) == []
    found = lint([record, alert("instance:queue:sum > 1", summary="{{ $labels.queue }}")])
    assert checks(found) == {"template-label"}


def test_the_analyser_reads_the_exporters_declarations() -> None:
    metrics = declared_metrics()
    assert metrics["promfleet_system_cpu_seconds_total"].type == "counter"
    assert {"instance", "job", "cpu", "mode"} <= metrics[
        "promfleet_system_cpu_seconds_total"
    ].labels
    analyser = Analyser(metrics, {})
    tree = promql_parser.parse("sum without (cpu) (rate(promfleet_system_cpu_seconds_total[5m]))")
    assert analyser.labels_of(tree) == frozenset({"instance", "job", "mode"})


def test_the_command_names_file_group_rule_and_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad.rules.yml").write_text(
        yaml.safe_dump(
            {
                "groups": [
                    {
                        "name": "grp",
                        "rules": [alert("promfleet_system_load1")],
                    }
                ]
            }
        )
    )
    assert main(["--rules", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"{tmp_path.name}/bad.rules.yml: group grp: alert A: comparison:" in out


def test_the_command_passes_clean_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ok.rules.yml").write_text(
        yaml.safe_dump(
            {"groups": [{"name": "grp", "rules": [alert("promfleet_system_load1 > 4")]}]}
        )
    )
    assert main(["--rules", str(tmp_path)]) == 0
    assert "0 findings, ok" in capsys.readouterr().out
