"""The whole stack live: every target up, every recording rule and dashboard query has
data, and the Watchdog reaches the dead man's switch.

One stack for the module, as ``make run`` starts it: every exporter present in this
checkout (against the local PostgreSQL and Redis), the demo writers that feed the
training status directory and the security log, Prometheus and Alertmanager, rendered
with 1 s intervals.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.model import Catalogue, Panel
from tests.live.conftest import LiveStack, StartLiveStack
from tests.live.promql import metric_names, substitute

pytestmark = pytest.mark.live

# Recording rules (matched by regex) that may return nothing on a healthy, idle stack:
# why, and a query that must return data for the reason to hold ("" when the reason is
# that nothing happened yet). Rules whose inputs come from an exporter that is not in
# the stack are reported by the test itself.
EXPECTED_EMPTY_RULES: dict[str, tuple[str, str]] = {
    r"^instance:promfleet_system_swap_utilisation:ratio$": (
        "the host has no swap", "promfleet_system_swap_total_bytes == 0"),
    r"^instance_target:promfleet_redis_memory:usage_ratio$": (
        "the Redis server has no maxmemory limit", "promfleet_redis_memory_max_bytes == 0"),
    r"^instance_target_table:promfleet_postgres_table_dead_tuples:ratio$": (
        "the PostgreSQL server has no user table with rows",
        "absent(promfleet_postgres_table_live_tuples > 0)"),
    # The demo app's request metrics leave out /healthz (the probe's signal, not traffic),
    # so the default stack, which sends it nothing else, has no request series at all.
    r"promfleet_app_http_request": (
        "the demo app has had no request (its health checks are not counted as traffic)",
        "absent(promfleet_app_http_requests_total)"),
    # Seconds until full exist only while the trend falls: a host whose free space (or
    # free inodes) did not shrink over the window has nothing to predict.
    r"^instance_mountpoint:promfleet_system_filesystem_avail_bytes:seconds_to_zero_6h$": (
        "no filesystem's free space is shrinking",
        "absent(deriv(promfleet_system_filesystem_avail_bytes[6h]) < 0)"),
    r"^instance_mountpoint:promfleet_system_filesystem_files_free:seconds_to_zero_6h$": (
        "no filesystem's free inodes are shrinking",
        "absent(deriv(promfleet_system_filesystem_files_free[6h]) < 0)"),
    # Loopback is left out; an idle sandbox's other devices may carry no packet in a minute.
    r"^instance_device:promfleet_system_network_errors:ratio_rate5m$": (
        "no network device but loopback carried a packet in the last minute",
        "(sum(rate(promfleet_system_network_receive_packets_total[1m]))"
        " + sum(rate(promfleet_system_network_transmit_packets_total[1m]))) == 0"
        " or absent(promfleet_system_network_receive_packets_total)"),
    r":promfleet_app_(http_errors|deliveries|external_request|workflow)": (
        "counts what the demo app did: errors, deliveries, outbound calls and workflows "
        "need traffic, which the application live test drives", ""),
    # Per-GPU series exist only for devices NVML reports; the demo trainers name GPUs in
    # their records, but no utilisation, memory or temperature can be read without one.
    r"promfleet_training_gpu_(utilisation|memory|temperature|power|info)": (
        "this host has no GPU (NVML reports none)", "promfleet_training_gpu_devices == 0"),
    # An SLO's series (``slo:...{slo="..."}``) need its SLI's events: the app's SLOs need
    # requests, which the default stack does not send; the probes' and the alerting
    # pipeline's have data at once, under the same record names.
    r"^slo:": (
        "the app's SLOs have no request to measure (the default stack sends the demo app "
        "none)", "absent(promfleet_app_http_requests_total)"),
    r"^instance_model:promfleet_training_model_accuracy:drop1d$": (
        "compares accuracy with a day ago, and the stack starts with empty Prometheus "
        "storage", "absent(promfleet_training_model_accuracy_ratio offset 1d)"),
}


def _expected_empty(stack: LiveStack, record: str) -> str | None:
    """The reason ``record`` may be empty here, or None."""
    for pattern, (reason, proof) in EXPECTED_EMPTY_RULES.items():
        if re.search(pattern, record) and (not proof or stack.query(proof)):
            return reason
    return None

# How long data may take to appear: rate() needs two 1 s scrapes, and a recording rule
# over another recording rule one more evaluation.
DATA_TIMEOUT_S = 20.0


@pytest.fixture(scope="module")
def stack(live_stack: StartLiveStack) -> LiveStack:
    return live_stack(members="all")


def _recording_rules(root: Path) -> list[dict[str, Any]]:
    """Every recording rule in ``root/rules/*.rules.yml``."""
    rules: list[dict[str, Any]] = []
    for path in sorted((root / "rules").glob("*.rules.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for group in doc.get("groups", []):
            rules.extend({**r, "file": path.name} for r in group.get("rules", [])
                         if "record" in r)
    return rules


def _declared_by() -> dict[str, str]:
    """metric series name -> the source (exporter) that declares it."""
    from exporters.registry import all_metric_specs

    out: dict[str, str] = {}
    for source, specs in all_metric_specs().items():
        for spec in specs:
            for sample in spec.sample_names():
                out[sample] = source
    return out


def test_every_target_the_stack_scrapes_is_up(stack: LiveStack) -> None:
    result = stack.query("up")
    jobs = {r["metric"]["job"] for r in result}
    expected = {m.name for m in stack.members if m.scraped} | {"prometheus", "alertmanager"}
    assert jobs == expected
    down = [r["metric"] for r in result if r["value"][1] != "1"]
    assert down == [], f"targets down: {down}"


def test_every_recording_rule_returns_data_when_the_stack_runs_its_inputs(
    stack: LiveStack,
) -> None:
    # The rules Prometheus loaded: the catalogue rendered by the stack (the drift check
    # keeps the committed rules/ identical to a fresh render).
    rules = _recording_rules(stack.out_dir)
    assert rules, "no recording rules in rules/*.rules.yml"
    records = {r["record"] for r in rules}
    declared = _declared_by()
    members = {m.name for m in stack.members if m.scraped} | {"prometheus", "alertmanager"}

    def missing_sources(expr: str, seen: frozenset[str] = frozenset()) -> set[str]:
        """Sources outside the stack that ``expr`` reads, through other rules too."""
        out: set[str] = set()
        for name in metric_names(expr):
            if name in records and name not in seen:
                for rule in rules:
                    if rule["record"] == name:
                        out |= missing_sources(rule["expr"], seen | {name})
            elif declared.get(name) and declared[name] not in members:
                out.add(declared[name])
        return out

    deadline = time.monotonic() + DATA_TIMEOUT_S
    empty: dict[str, str] = {}
    not_in_stack: dict[str, set[str]] = {}
    for rule in rules:
        record = rule["record"]
        outside = missing_sources(rule["expr"])
        if outside:
            not_in_stack[record] = outside
            continue
        left = max(0.5, deadline - time.monotonic())
        if not stack.wait_for_data(record, timeout=left):
            empty[record] = rule["expr"]
    for record, sources in sorted(not_in_stack.items()):
        print(f"not checked: {record} reads {', '.join(sorted(sources))}, not in this stack")
    unexplained = {}
    for record, expr in sorted(empty.items()):
        reason = _expected_empty(stack, record)
        if reason:
            print(f"no data, as expected: {record}: {reason}")
        else:
            unexplained[record] = expr
    assert unexplained == {}, "recording rules with no data:\n" + "\n".join(
        f"  {r}: {e}" for r, e in sorted(unexplained.items()))
    checked = len(rules) - len(not_in_stack)
    assert checked > 0, "no recording rule could be checked on this stack"


def _catalogue_panels(catalogue: Catalogue) -> dict[tuple[str, str], Panel]:
    from generator.render.grafana import alerts_panels

    panels: list[Panel] = list(alerts_panels())
    for area in catalogue.areas:
        panels.extend(area.panels)
        panels.extend(t.panel for t in area.thresholds)
    return {(p.title, p.expr): p for p in panels}


def _dashboard_queries(root: Path) -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, expr) for every panel target in grafana/dashboards."""
    out = []
    for path in sorted((root / "grafana" / "dashboards").glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        for panel in doc.get("panels", []):
            for target in panel.get("targets", []):
                if target.get("expr"):
                    out.append((path.name, str(panel.get("title", "")), str(target["expr"])))
    return out


def test_every_dashboard_panel_query_parses_and_returns_data_on_the_live_prometheus(
    stack: LiveStack, catalogue: Catalogue
) -> None:
    queries = _dashboard_queries(stack.out_dir)
    assert queries, "no panel queries in grafana/dashboards/*.json"
    catalogue_panels = _catalogue_panels(catalogue)
    members = {m.name for m in stack.members if m.scraped} | {"prometheus", "alertmanager"}
    declared = _declared_by()
    deadline = time.monotonic() + DATA_TIMEOUT_S
    no_data: list[str] = []
    for dashboard, title, expr in queries:
        promql = substitute(expr)
        stack.query(promql)  # a parse error raises here, naming the query
        panel = catalogue_panels.get((title, expr))
        if panel is not None and not panel.expect_data:
            continue  # the catalogue says: data only once an alert fires or an error occurs
        reasons = {r for n in metric_names(promql) if (r := _expected_empty(stack, n))}
        if reasons:
            print(f"not checked for data: {dashboard} {title!r}: {'; '.join(sorted(reasons))}")
            continue
        outside = {declared[n] for n in metric_names(promql)
                   if declared.get(n) and declared[n] not in members}
        if outside:
            print(f"not checked for data: {dashboard} {title!r} reads "
                  f"{', '.join(sorted(outside))}, not in this stack")
            continue
        left = max(0.5, deadline - time.monotonic())
        if not stack.wait_for_data(promql, timeout=left):
            no_data.append(f"{dashboard} {title!r}: {promql}")
    assert no_data == [], "panels with no data:\n  " + "\n  ".join(no_data)


def test_the_watchdog_reaches_the_dead_mans_switch_receiver(
    stack: LiveStack, catalogue: Catalogue
) -> None:
    routing = catalogue.routing
    delivery = stack.wait_for_alert(routing.watchdog_alert, timeout=30)
    assert delivery.receiver == routing.deadmans_switch_receiver


def _value(stack: LiveStack, promql: str) -> float:
    result = stack.wait_for_data(promql, timeout=DATA_TIMEOUT_S)
    assert result, f"no data for {promql}"
    return sum(float(r["value"][1]) for r in result)


def test_the_demo_writers_keep_the_training_status_directory_and_security_log_fresh(
    stack: LiveStack,
) -> None:
    writers = {m.name: m.feeds for m in stack.members if not m.scraped}
    if not {"training", "security"} & set(writers.values()):
        pytest.skip("neither the training nor the security exporter is in this checkout")
    running = {name: stack.stack.processes[name].alive() for name in writers}
    assert all(running.values()), f"demo writers not running: {running}"
    if "training" in writers.values():
        kinds = stack.query('promfleet_training_records{job="training",source="directory"} > 0')
        assert {r["metric"]["kind"] for r in kinds} == {"job", "model", "drift", "federated"}
        assert _value(stack, 'sum(promfleet_training_records_rejected{job="training"})') == 0
        states = stack.query('sum by (state) (promfleet_training_jobs{job="training"}) > 0')
        assert {r["metric"]["state"] for r in states} >= {"running", "pending", "failed"}
        # The writer rewrites every 5 s: no running job's record is ever older than that
        # by much (the stall alert waits for 15 minutes).
        assert _value(stack, "max(instance_job_id:promfleet_training_job_update_age:seconds)") < 30
    if "security" in writers.values():
        lines = 'promfleet_security_log_lines_total{job="security",log="access"}'
        first = _value(stack, lines)
        assert first > 0, "the set-up batch was not read from the beginning of the log"
        assert stack.wait_for_data(f"{lines} > {first}", timeout=DATA_TIMEOUT_S), (
            "the log stopped growing")
        skipped = 'sum(promfleet_security_log_lines_skipped_total{job="security"})'
        assert _value(stack, skipped) == 0, "the demo wrote lines the exporter cannot parse"
        sensitive = 'sum(promfleet_security_sensitive_data_total{job="security"})'
        assert _value(stack, sensitive) == 0, "the demo log holds something like a secret"
