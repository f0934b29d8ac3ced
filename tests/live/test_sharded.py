"""The sharded topology live on loopback (``make run TOPOLOGY=sharded``): two Prometheus
agents split the scrape targets by ``hashmod``, each target scraped by exactly one of
them, and remote-write to a receiver where a rule over the whole fleet sees every target.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.live.conftest import LiveStack, StartLiveStack
from tests.oncall.servers import MetricsServer, http_json, query, wait_for

pytestmark = pytest.mark.live

SHARDS = 2
AT_LEAST = 6  # fleet targets, and more until both shards have some


def hashmod(address: str, modulus: int) -> int:
    """Prometheus' ``hashmod`` relabelling of one source value: the last 8 bytes of its
    MD5, big-endian, modulo ``modulus``; an independent reference to check it against."""
    return int.from_bytes(hashlib.md5(address.encode()).digest()[8:], "big") % modulus


@pytest.fixture(scope="module")
def fleet() -> Iterator[list[MetricsServer]]:
    """Fleet targets, each exporting its own number, spread over both shards."""
    with contextlib.ExitStack() as stack:
        servers: list[MetricsServer] = []
        while len(servers) < AT_LEAST or len({hashmod(s.address, SHARDS)
                                              for s in servers}) < SHARDS:
            value = len(servers) + 1
            servers.append(stack.enter_context(MetricsServer({"fleet_demo_value": value})))
        yield servers


def _rules(path: Path) -> Path:
    rules = [
        {"record": "fleet:up:count", "expr": 'count(up{job="fleet"} == 1)'},
        {"record": "fleet:fleet_demo_value:sum", "expr": 'sum(fleet_demo_value{job="fleet"})'},
    ]
    path.write_text(yaml.safe_dump({"groups": [{"name": "fleet", "rules": rules}]}),
                    encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def sharded(live_stack: StartLiveStack, fleet: list[MetricsServer],
            tmp_path_factory: pytest.TempPathFactory) -> LiveStack:
    rules = _rules(tmp_path_factory.mktemp("fleet-rules") / "fleet.rules.yml")
    return live_stack(members=(), topology="sharded",
                      extra_targets={"fleet": tuple(s.address for s in fleet)},
                      extra_rule_files=(rules,), settings={"shard_count": SHARDS})


def _targets(url: str) -> dict[str, Any]:
    data: dict[str, Any] = http_json(f"{url}/api/v1/targets")["data"]
    return data


def test_every_target_is_scraped_by_exactly_the_shard_its_address_hashes_to(
    sharded: LiveStack,
) -> None:
    stack = sharded.stack
    every = {addr for addrs in stack.targets().values() for addr in addrs}
    shards = [stack.server_url(f"prometheus-shard-{i}") for i in range(SHARDS)]
    scraped: dict[str, list[int]] = {}
    dropped: dict[int, set[str]] = {}
    for index, url in enumerate(shards):
        seen = _targets(url)
        for target in seen["activeTargets"]:
            scraped.setdefault(target["labels"]["instance"], []).append(index)
        dropped[index] = {t["discoveredLabels"]["__address__"] for t in seen["droppedTargets"]}
    assert set(scraped) == every  # nothing lost
    assert {addr: owners for addr, owners in scraped.items() if len(owners) != 1} == {}
    assert {addr: owners[0] for addr, owners in scraped.items()} == {
        addr: hashmod(addr, SHARDS) for addr in every}
    for index in range(SHARDS):  # what a shard keeps, the others drop
        assert dropped[index] == {a for a, owners in scraped.items() if owners != [index]}
    fleet = stack.config.extra_targets["fleet"]
    assert {scraped[a][0] for a in fleet} == set(range(SHARDS))  # both shards have some


def test_a_rule_over_the_whole_fleet_evaluates_on_the_receiver_with_every_target(
    sharded: LiveStack, fleet: list[MetricsServer],
) -> None:
    receiver = sharded.prometheus_url
    assert receiver == sharded.stack.server_url("prometheus-receiver")
    total = sum(range(1, len(fleet) + 1))

    def value(record: str) -> float | None:
        result = query(receiver, record)
        return float(result[0]["value"][1]) if result else None

    wait_for(f"fleet:up:count to reach {len(fleet)} on the receiver",
             lambda: value("fleet:up:count") == len(fleet), timeout=120)
    wait_for(f"fleet:fleet_demo_value:sum to reach {total} on the receiver",
             lambda: value("fleet:fleet_demo_value:sum") == total, timeout=120)
    # Every target's own series arrived, each from the shard that scraped it.
    present = {r["metric"]["instance"] for r in query(receiver, 'fleet_demo_value{job="fleet"}')}
    assert present == {s.address for s in fleet}
    # The catalogue's rules run there too, and the shards (agents) answer no queries.
    groups = http_json(f"{receiver}/api/v1/rules")["data"]["groups"]
    assert {"fleet"} < {g["name"] for g in groups}
    with pytest.raises(OSError):
        query(sharded.stack.server_url("prometheus-shard-0"), "up")
