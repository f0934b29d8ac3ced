"""The system exporter served by the real runtime: declared families, promtool, options."""

from __future__ import annotations

import json

from exporters.registry import exporter_specs
from exporters.system import EXPORTER
from tests.helpers import (
    ExporterProcess,
    assert_matches_declaration,
    promtool_check_metrics,
    sample_value,
    scrape,
)

# Present only where this machine has them: process groups are opt-in, and a container
# may have no block device that survives the default exclusion.
OPTIONAL = (
    "promfleet_system_process_cpu_seconds_total",
    "promfleet_system_process_resident_memory_bytes",
    "promfleet_system_process_open_fds",
    "promfleet_system_process_threads",
    "promfleet_system_process_start_time_seconds",
    "promfleet_system_process_group_members",
)


def test_a_real_scrape_publishes_exactly_the_declared_families_and_promtool_is_clean() -> None:
    with ExporterProcess("system") as exporter:
        status, headers, text = scrape(exporter.url + "/metrics")
    assert status == 200, text
    assert headers["content-type"].startswith("text/plain")
    assert_matches_declaration(text, exporter_specs(EXPORTER), allow_missing=OPTIONAL)
    assert promtool_check_metrics(text) == []
    for collector in (
        "stat",
        "loadavg",
        "meminfo",
        "filefd",
        "timex",
        "filesystem",
        "diskstats",
        "netdev",
    ):
        success = sample_value(
            text, "promfleet_system_scrape_collector_success", {"collector": collector}
        )
        assert success == 1, f"collector {collector} failed"


def test_process_groups_from_the_environment_add_the_group_families_and_exclusions_apply() -> None:
    groups = json.dumps([{"name": "exporter", "cmdline": r"-m exporters system"}])
    env = {
        "PROMFLEET_SYSTEM_PROCESSES_GROUPS": groups,
        "PROMFLEET_SYSTEM_NETWORK_DEVICE_EXCLUDE": "^lo$",
    }
    with ExporterProcess("system", env=env) as exporter:
        status, _, text = scrape(exporter.url + "/metrics")
    assert status == 200, text
    assert_matches_declaration(text, exporter_specs(EXPORTER))
    assert promtool_check_metrics(text) == []
    members = sample_value(text, "promfleet_system_process_group_members", {"group": "exporter"})
    assert members is not None and members >= 1  # it sees itself
    assert 'device="lo"' not in text


def test_a_bad_regular_expression_option_stops_the_exporter_with_a_message() -> None:
    proc = ExporterProcess("system", "--filesystem.mount-points-exclude=(", wait=False)
    with proc:
        code = proc.wait_exit(timeout=20)
        logs = proc.logs()
    assert code == 2  # a configuration problem, not a crash
    assert "mount-points-exclude" in logs and "Traceback" not in logs
