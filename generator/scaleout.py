"""What running Prometheus and Alertmanager past one machine takes besides a config file:
the command-line flags of an agent shard, a remote-write receiver and an Alertmanager
gossip peer, and the checks on a shard's place. The Prometheus renderer writes them into
deploy/'s headers and the local runner starts its servers with them, so both agree.
"""

from __future__ import annotations

from collections.abc import Sequence

# A shard scrapes its share and forwards every sample; it keeps no TSDB and runs no rules.
AGENT_FLAGS = ("--enable-feature=agent",)
# Where the shards' samples meet: the rules that need every target run here.
RECEIVER_FLAGS = ("--web.enable-remote-write-receiver",)


def remote_write_url(address: str) -> str:
    """The receiver's remote-write endpoint at ``host:port``."""
    return f"http://{address}/api/v1/write"


def alertmanager_cluster_flags(
    listen: str, advertise: str, peers: Sequence[str]
) -> tuple[str, ...]:
    """The gossip flags of one Alertmanager peer: where it listens, the address the others
    reach it on, and every other peer (each one lists all the others, so any one may
    start first or restart alone)."""
    return (
        f"--cluster.listen-address={listen}",
        f"--cluster.advertise-address={advertise}",
        *(f"--cluster.peer={peer}" for peer in peers),
    )


def check_shard(index: int, count: int) -> None:
    """Refuse a shard count under 1 or an index outside ``0 .. count-1``, by name."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"shard count must be a whole number of at least 1, got {count!r}")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
        raise ValueError(f"shard index {index!r} is out of range for {count} shard(s) "
                         f"(0 to {count - 1})")
