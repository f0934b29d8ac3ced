"""Automatic blocks of attack runs, manual blocks by promfleet-denylist, and the deny-list
file shared by both: real log lines through the running exporter, real CLI processes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from exporters.registry import exporter_specs
from exporters.runtime.config import ConfigError, resolve
from exporters.security import EXPORTER, OPTIONS
from exporters.security.denylist import DenyList, parse_block_duration, parse_target
from exporters.security.detect import CRITICAL_ATTACK_KINDS
from generator.catalogue import security as catalogue
from tests.helpers import ExporterProcess, assert_matches_declaration, sample_value, scrape
from tests.security.test_exporter import append, metric, wait_for, write_config

NS = "promfleet_security"
CLI = (sys.executable, "-m", "exporters.security.denylist_cli")


def attack(ip: str, path: str) -> str:
    return json.dumps({"ip": ip, "path": path, "status": 404}) + "\n"


SQLI = "/items?id=1%27%20UNION%20SELECT%20password%20FROM%20users--"
XSS = "/search?q=%3Cscript%3Ealert(1)%3C/script%3E"


def deny_lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [line for line in path.read_text().splitlines() if line.startswith("deny ")]


def denied(path: Path) -> dict[str, str]:
    """{address: the rest of its line} of a deny-list file."""
    out = {}
    for line in deny_lines(path):
        address, _, rest = line.removeprefix("deny ").partition(";")
        out[address] = rest.strip()
    return out


def cli(*args: str, deny: Path | None = None) -> subprocess.CompletedProcess[str]:
    prefix = ("--file", str(deny)) if deny is not None else ()
    return subprocess.run(
        (*CLI, *prefix, *args), capture_output=True, text=True, timeout=60, check=False
    )


def test_a_burst_of_sql_injection_blocks_its_source_but_never_a_protected_one(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path, **{"denylist.never": ["127.0.0.0/8", "198.51.100.0/24"]})
    deny = tmp_path / "deny.conf"
    append(tmp_path / "app.log", "")
    with ExporterProcess("security", f"--config.file={config}") as proc:
        burst = "".join(attack("203.0.113.9", SQLI) for _ in range(20))
        burst += "".join(attack("198.51.100.20", SQLI) for _ in range(20))  # never blocked
        burst += "".join(attack("203.0.113.50", XSS) for _ in range(20))  # not a blocking kind
        append(tmp_path / "app.log", burst)
        wait_for(lambda: metric(proc, "promfleet_security_log_lines_total", {"log": "app"}) == 60)
        wait_for(lambda: "203.0.113.9" in denied(deny))
        _, _, body = scrape(proc.url + "/metrics")
        assert_matches_declaration(body, exporter_specs(EXPORTER))
        sqli = {"kind": "sql_injection"}
        assert sample_value(body, "promfleet_security_attacks_total", sqli) == 40
        blocks = {
            reason: sample_value(body, f"{NS}_denylist_blocks_total", {"reason": reason})
            for reason in ("sql_injection", "xss", "brute_force", "manual")
        }
        # One run per source: the 20 lines of 203.0.113.9 are one block, not 20.
        assert blocks == {"sql_injection": 1, "xss": 0, "brute_force": 0, "manual": 0}
        assert (
            sample_value(body, "promfleet_security_denylist_rejections_total",
                         {"reason": "allowed_network"})
            == 1
        )
        assert sample_value(body, "promfleet_security_attack_sources") == 2
        assert sample_value(body, f"{NS}_denylist_entries", {"origin": "automatic"}) == 1
        assert "203.0.113.9" not in body  # never a label
        time.sleep(1.5)  # another flush: nothing else may appear
    assert set(denied(deny)) == {"203.0.113.9"}
    until = denied(deny)["203.0.113.9"]
    assert until.startswith("# until ") and until.endswith(" automatic sql_injection")


def test_below_the_attack_run_threshold_nothing_is_blocked(tmp_path: Path) -> None:
    config = write_config(tmp_path, **{"denylist.attack-requests": 3})
    append(tmp_path / "app.log", "")
    with ExporterProcess("security", f"--config.file={config}") as proc:
        append(tmp_path / "app.log", attack("203.0.113.9", SQLI) * 2)
        wait_for(lambda: metric(proc, "promfleet_security_log_lines_total", {"log": "app"}) == 2)
        time.sleep(1.5)
        assert metric(proc, "promfleet_security_denylist_blocks_total",
                      {"reason": "sql_injection"}) == 0
    assert denied(tmp_path / "deny.conf") == {}


def test_the_blocking_kinds_and_durations_are_configurable_and_checked() -> None:
    defaults = {option.name: option.default for option in OPTIONS}
    assert set(defaults["denylist.attack-kinds"]) == CRITICAL_ATTACK_KINDS
    assert set(catalogue.BLOCKING_ATTACK_KINDS) == CRITICAL_ATTACK_KINDS
    assert defaults["denylist.ttl"] == 3600
    _, settings, _ = resolve(
        EXPORTER, ["--denylist.attack-kinds=xss,sql_injection", "--denylist.ttl=24h"], {}
    )
    assert settings["denylist.attack-kinds"] == ("sql_injection", "xss")
    assert settings["denylist.ttl"] == 86400
    for flag, message in (
        ("--denylist.ttl=30m", "a block lasts from 1h to 24h, got '30m'"),
        ("--denylist.ttl=25h", "a block lasts from 1h to 24h, got '25h'"),
        ("--denylist.attack-kinds=sqli", "unknown attack kinds ['sqli']"),
    ):
        with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
            resolve(EXPORTER, [flag], {})
    assert parse_block_duration("6h") == 21600
    assert parse_target("2001:DB8::1") == "2001:db8::1"
    assert parse_target("10.0.0.1/32") == "10.0.0.1"
    assert parse_target("10.1.0.0/16") == "10.1.0.0/16"
    for bad, message in (
        ("10.0.0.1/24", "host bits set: did you mean 10.0.0.0/24"),
        ("0.0.0.0/0", "too wide"),
        ("2001::/16", "too wide"),
        ("300.1.1.1", "not an IP address or a network"),
        ("1.2.3.4; include /etc/passwd", "not an IP address or a network"),
    ):
        with pytest.raises(ValueError, match=message):
            parse_target(bad)


def test_the_command_blocks_lists_and_unblocks_with_reason_and_expiry(tmp_path: Path) -> None:
    deny = tmp_path / "deny.conf"
    done = cli("block", "203.0.113.7", "--reason", "OPS-42  scraping\tlogin", "--expires", "6h",
               deny=deny)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("blocked 203.0.113.7 until ")
    assert cli("block", "198.51.100.0/24", "--reason", "botnet", deny=deny).returncode == 0
    listed = cli("list", "--json", deny=deny)
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["address"], r["origin"], r["reason"]) for r in rows] == [
        ("198.51.100.0/24", "manual", "botnet"),
        ("203.0.113.7", "manual", "OPS-42 scraping login"),
    ]
    hours = {
        r["address"]: (time.mktime(time.strptime(r["until"], "%Y-%m-%dT%H:%M:%SZ"))
                       - time.mktime(time.gmtime())) / 3600
        for r in rows
    }
    assert 5.9 < hours["203.0.113.7"] <= 6.0 and 0.9 < hours["198.51.100.0/24"] <= 1.0
    assert cli("unblock", "203.0.113.7", deny=deny).returncode == 0
    assert set(denied(deny)) == {"198.51.100.0/24"}
    assert deny.stat().st_mode & 0o777 == 0o644
    assert not list(tmp_path.glob(".tmp-*"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("block", "not-an-ip", "--reason", "x"), "'not-an-ip' is not an IP address or a network"),
        (("block", "10.0.0.7/24", "--reason", "x"), "did you mean 10.0.0.0/24"),
        (("block", "203.0.113.7", "--reason", "x", "--expires", "10m"), "from 1h to 24h"),
        (("block", "203.0.113.7", "--reason", "x", "--expires", "2d"), "from 1h to 24h"),
        (("block", "203.0.113.7", "--reason", "x", "--expires", "soon"), "expected a duration"),
        (("block", "203.0.113.7", "--reason", "  "), "a reason is required"),
        (("block", "203.0.113.7"), "the following arguments are required: --reason"),
        (("block", "127.0.0.1", "--reason", "x"), "never blocked"),
        (("block", "127.0.0.0/8", "--reason", "x"), "never blocked"),
        (("unblock", "192.0.2.99"), "192.0.2.99 is not in the deny-list"),
        (("ban", "203.0.113.7"), "invalid choice: 'ban'"),
        ((), "the following arguments are required: COMMAND"),
    ],
)
def test_the_command_refuses_bad_input_naming_it_and_changes_nothing(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    deny = tmp_path / "deny.conf"
    assert cli("block", "192.0.2.1", "--reason", "kept", deny=deny).returncode == 0
    before = deny.read_text()
    done = cli(*args, deny=deny)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert deny.read_text() == before


def test_the_command_reads_the_exporters_configuration_or_says_what_is_missing(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path, **{"denylist.never": ["192.0.2.0/24"], "denylist.ttl": "2h"})
    done = subprocess.run((*CLI, "--config.file", str(config), "block", "203.0.113.1",
                           "--reason", "x"), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "203.0.113.1" in denied(tmp_path / "deny.conf")
    refused = subprocess.run((*CLI, "--config.file", str(config), "block", "192.0.2.5",
                              "--reason", "x"), capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "never blocked" in refused.stderr
    nothing = subprocess.run((*CLI, "list"), capture_output=True, text=True, timeout=60,
                             env={"PATH": "/usr/bin:/bin"})
    assert nothing.returncode == 2 and "no deny-list file" in nothing.stderr
    (tmp_path / "bad.yml").write_text("denylist.ttl: 48h\n")
    bad = subprocess.run((*CLI, "--config.file", str(tmp_path / "bad.yml"), "list"),
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "from 1h to 24h" in bad.stderr


def test_a_held_lock_makes_the_command_fail_cleanly_not_hang(tmp_path: Path) -> None:
    deny = tmp_path / "deny.conf"
    holder = subprocess.Popen(
        (sys.executable, "-c",
         "import sys, time; from exporters.security.denylist import file_lock\n"
         f"with file_lock({str(deny)!r}):\n    print('held', flush=True); time.sleep(30)"),
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        done = cli("block", "203.0.113.7", "--reason", "x", deny=deny)
        assert done.returncode == 1
        assert "is held by another writer" in done.stderr
    finally:
        holder.kill()
        holder.wait()
    assert not deny.exists()


def test_concurrent_commands_and_the_exporters_own_rewrites_lose_no_entry(tmp_path: Path) -> None:
    """Sixteen real processes block at once while the exporter blocks attackers and
    rewrites the file every second; then half are unblocked at once, and an automatic
    block is lifted by hand: nothing is lost, nothing comes back."""
    config = write_config(tmp_path)
    deny = tmp_path / "deny.conf"
    log = tmp_path / "app.log"
    append(log, "")
    manual = [f"192.0.2.{n}" for n in range(1, 17)]
    attackers = [f"203.0.113.{n}" for n in range(1, 31)]
    with ExporterProcess("security", f"--config.file={config}") as proc:
        procs = [
            subprocess.Popen((*CLI, "--file", str(deny), "block", address, "--reason",
                              f"ticket {n}"), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for n, address in enumerate(manual)
        ]
        # Meanwhile the exporter detects attackers, one burst after another.
        for index, address in enumerate(attackers):
            append(log, attack(address, SQLI) * 3)
            if index % 10 == 9:
                time.sleep(0.5)
        for child in procs:
            _, err = child.communicate(timeout=60)
            assert child.returncode == 0, err
        wait_for(lambda: set(denied(deny)) == set(manual) | set(attackers), timeout=30)
        wait_for(lambda: metric(proc, "promfleet_security_denylist_entries",
                                {"origin": "manual"}) == 16)
        assert metric(proc, "promfleet_security_denylist_blocks_total", {"reason": "manual"}) == 16
        assert metric(proc, "promfleet_security_denylist_entries", {"origin": "automatic"}) == 30

        procs = [
            subprocess.Popen((*CLI, "--file", str(deny), "unblock", address),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for address in (*manual[:8], attackers[0])
        ]
        append(log, attack("203.0.113.200", SQLI) * 3)  # and the exporter writes again
        for child in procs:
            _, err = child.communicate(timeout=60)
            assert child.returncode == 0, err
        expected = set(manual[8:]) | set(attackers[1:]) | {"203.0.113.200"}
        wait_for(lambda: set(denied(deny)) == expected, timeout=30)
        wait_for(lambda: metric(proc, "promfleet_security_denylist_unblocks_total") == 9)
        time.sleep(2.5)  # two more flushes: an unblocked entry must not come back
        assert set(denied(deny)) == expected
        assert metric(proc, "promfleet_security_denylist_entries", {"origin": "manual"}) == 8
    assert set(denied(deny)) == expected  # the last rewrite at shutdown kept them too


def test_expired_manual_entries_are_dropped_and_old_lines_still_load(tmp_path: Path) -> None:
    now = [1_714_560_000.0]
    path = tmp_path / "deny.conf"
    path.write_text(
        "deny 192.0.2.1;  # until 2024-05-01T11:00:00Z\n"  # written before origins existed
        "deny 192.0.2.2;  # until 2024-05-01T10:50:00Z manual: short one\n"
        "deny 192.0.2.0/24;  # until 2024-05-01T11:00:00Z automatic brute_force\n"  # not ours
        "deny 10.0.0.0/16;  # until 2024-05-01T11:00:00Z manual: touches never\n"
    )
    deny = DenyList(str(path), ttl_seconds=3600, never=("10.0.0.0/8",), clock=lambda: now[0])
    assert deny.load() == 2
    assert deny.counts() == {"automatic": 1, "manual": 1}
    deny.flush()
    assert denied(path) == {
        "192.0.2.1": "# until 2024-05-01T11:00:00Z automatic brute_force",
        "192.0.2.2": "# until 2024-05-01T10:50:00Z manual: short one",
    }
    now[0] += 601
    deny.flush()
    assert set(denied(path)) == {"192.0.2.1"}
    assert deny.counts() == {"automatic": 1, "manual": 0}
