"""Which Prometheus and Alertmanager servers a topology runs: ``single`` (one of each, the
default), ``ha`` (a pair of Prometheus replicas and an Alertmanager gossip cluster) or
``sharded`` (Prometheus agents that split the targets, remote-writing to a receiver that
runs the rules, and one Alertmanager). Counts come from the generator settings
(``ha_replicas``, ``alertmanager_cluster_size``, ``shard_count``); names from the service
table (:mod:`topology`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from generator.model import Settings
from topology import RECEIVER, replicas, shards


class Role(enum.Enum):
    """What one server does in its topology."""

    PROMETHEUS = "Prometheus"  # the single topology's: scrapes, evaluates, alerts
    REPLICA = "Prometheus replica"  # one of the HA pair: the same, with a replica label
    AGENT = "Prometheus agent"  # a shard: scrapes its share, remote-writes, no rules
    RECEIVER = "Prometheus receiver"  # takes the shards' samples, evaluates, alerts
    ALERTMANAGER = "Alertmanager"  # alone, or a peer of the gossip cluster

    @property
    def prometheus(self) -> bool:
        return self is not Role.ALERTMANAGER


TOPOLOGIES = ("single", "ha", "sharded")


@dataclass(frozen=True)
class Server:
    """One server process: its name is its pid file's, its log's, ``<name>.yml`` (a
    Prometheus config) and ``<name>-data`` (its storage) under the state directory."""

    name: str
    role: Role
    index: int = 0  # a replica's, shard's or peer's number
    primary: bool = False  # what ``prometheus`` / ``alertmanager`` stand for: query here


def layout(topology: str, settings: Settings) -> tuple[Server, ...]:
    """The servers of ``topology``, Prometheus first (a shard before the receiver it
    writes to), then Alertmanager; a :class:`ValueError` naming the known topologies."""
    if topology == "single":
        return (Server("prometheus", Role.PROMETHEUS, primary=True),
                Server("alertmanager", Role.ALERTMANAGER, primary=True))
    if topology == "ha":
        proms = tuple(Server(name, Role.REPLICA, i, primary=i == 0)
                      for i, name in enumerate(replicas("prometheus", settings.ha_replicas)))
        peers = replicas("alertmanager", settings.alertmanager_cluster_size)
        return (*proms, *(Server(name, Role.ALERTMANAGER, i, primary=i == 0)
                          for i, name in enumerate(peers)))
    if topology == "sharded":
        agents = tuple(Server(name, Role.AGENT, i)
                       for i, name in enumerate(shards(settings.shard_count)))
        return (*agents, Server(RECEIVER, Role.RECEIVER, primary=True),
                Server("alertmanager", Role.ALERTMANAGER, primary=True))
    raise ValueError(f"unknown topology {topology!r}; known: {', '.join(TOPOLOGIES)}")


def describe(server: Server, settings: Settings, peers: int) -> str:
    """What the runner prints beside a server's URL."""
    if server.role is Role.REPLICA:
        return (f"replica {server.index + 1} of {settings.ha_replicas}, "
                f"{settings.ha_replica_label}=\"{server.name}\" (dropped from alerts)")
    if server.role is Role.AGENT:
        return f"shard {server.index} of {settings.shard_count}: scrapes its share, no queries"
    if server.role is Role.RECEIVER:
        return "receives every shard's samples: rules, alerts and queries here"
    if server.role is Role.ALERTMANAGER and peers > 1:
        return f"peer {server.index + 1} of {peers} of the gossip cluster"
    return ""
