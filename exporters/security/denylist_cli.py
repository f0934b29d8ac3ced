"""``promfleet-denylist``: block, unblock and list addresses in the security exporter's
deny-list file by hand, beside the exporter's own automatic blocks.

Every change takes the file's lock, re-reads the file under it and replaces it
atomically, so concurrent runs and the exporter's own rewrites never lose an entry
(see :mod:`exporters.security.denylist`). Exit status: 0 done, 2 bad input (nothing was
changed), 1 the file could not be changed (locked too long, unwritable).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from exporters.runtime.config import ConfigError, resolve
from exporters.security import EXPORTER
from exporters.security.denylist import (
    DenyListError,
    Entry,
    allowed,
    clean_reason,
    file_lock,
    networks,
    parse_block_duration,
    parse_file,
    parse_target,
    read_text,
    render,
)
from exporters.security.tail import atomic_write

PROG = "promfleet-denylist"
DESCRIPTION = """\
Block or unblock an address or network (CIDR) in the security exporter's nginx deny-list,
and list what it holds. The exporter keeps these manual entries when it rewrites the
file, publishes them (promfleet_security_denylist_entries{origin="manual"},
promfleet_security_denylist_blocks_total{reason="manual"}) and drops them when they
expire.

The file comes from --file, or from the exporter's own configuration: --config.file (its
YAML file) and the PROMFLEET_SECURITY_* environment, as the exporter reads them. The
networks never blocked (denylist.never) come from the same place; an entry touching one
is refused."""
EPILOG = """\
examples:
  promfleet-denylist --config.file security.yml block 203.0.113.7 --reason "OPS-42 scraping" \\
      --expires 6h
  promfleet-denylist --file /etc/nginx/deny.conf block 198.51.100.0/24 --reason "botnet"
  promfleet-denylist --file /etc/nginx/deny.conf unblock 203.0.113.7
  promfleet-denylist --file /etc/nginx/deny.conf list --json

exit status: 0 done, 2 bad input (nothing was changed), 1 the file could not be changed."""


class UsageError(Exception):
    """Bad input: exit 2, nothing changed."""


@dataclass(frozen=True)
class Target:
    path: str
    never: tuple[str, ...]
    default_seconds: float


def _target(args: argparse.Namespace, environ: Mapping[str, str]) -> Target:
    argv = [f"--config.file={args.config_file}"] if args.config_file else []
    try:
        _, settings, _ = resolve(EXPORTER, argv, environ)
    except ConfigError as err:
        raise UsageError(f"the exporter's configuration: {err}") from err
    path = args.file or settings["denylist.file"]
    if not path:
        raise UsageError(
            "no deny-list file: give --file, or --config.file with denylist.file set"
        )
    return Target(
        path=path,
        never=(*settings["denylist.never"], *args.never),
        default_seconds=settings["denylist.ttl"],
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--file", default="", help="the deny-list file")
    parser.add_argument(
        "--config.file", dest="config_file", default="", help="the security exporter's YAML file"
    )
    parser.add_argument(
        "--never",
        action="append",
        default=[],
        metavar="NETWORK",
        help="a network never to block, besides denylist.never (repeat it)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    block = commands.add_parser("block", help="deny an address or network until an expiry")
    block.add_argument("address", help="an IPv4/IPv6 address or network (CIDR)")
    block.add_argument("--reason", required=True, help="who asked and why (one line)")
    block.add_argument(
        "--expires",
        default="",
        help="how long, 1h to 24h (default: the exporter's denylist.ttl, 1h)",
    )
    unblock = commands.add_parser("unblock", help="remove an address or network")
    unblock.add_argument("address")
    listing = commands.add_parser("list", help="what the file holds now")
    listing.add_argument("--json", action="store_true", help="one JSON object a line")
    return parser


def _check_never(target: str, never: Sequence[str]) -> None:
    try:
        nets = networks(never)
    except ValueError as err:
        raise UsageError(f"--never: {err}") from err
    if not allowed(target, nets):
        raise UsageError(f"{target} is in a network never blocked (denylist.never)")


def block(where: Target, address: str, reason: str, expires: str, now: float) -> Entry:
    try:
        target = parse_target(address)
        text = clean_reason(reason)
        seconds = parse_block_duration(expires) if expires else where.default_seconds
    except ValueError as err:
        raise UsageError(str(err)) from err
    _check_never(target, where.never)
    entry = Entry(target, now + seconds, "manual", text)
    with file_lock(where.path):
        entries = parse_file(read_text(where.path), now, networks(where.never))
        entries[target] = entry
        atomic_write(where.path, render(entries), mode=0o644)
    return entry


def unblock(where: Target, address: str, now: float) -> Entry:
    try:
        target = parse_target(address)
    except ValueError as err:
        raise UsageError(str(err)) from err
    with file_lock(where.path):
        entries = parse_file(read_text(where.path), now, networks(where.never))
        entry = entries.pop(target, None)
        if entry is None:
            raise UsageError(f"{target} is not in the deny-list {where.path}")
        atomic_write(where.path, render(entries), mode=0o644)
    return entry


def _describe(entry: Entry) -> dict[str, str]:
    until = datetime.fromtimestamp(entry.expiry, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"address": entry.target, "until": until, "origin": entry.origin, "reason": entry.reason}


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)  # exits 2 naming an unknown command or a missing value
    now = time.time()
    try:
        where = _target(args, os.environ if environ is None else environ)
        if args.command == "block":
            entry = block(where, args.address, args.reason, args.expires, now)
            print(f"blocked {entry.target} until {_describe(entry)['until']}: {entry.reason}")
        elif args.command == "unblock":
            entry = unblock(where, args.address, now)
            print(f"unblocked {entry.target} ({entry.origin}, {entry.reason})")
        else:
            entries = parse_file(read_text(where.path), now, networks(where.never))
            for key in sorted(entries):
                described = _describe(entries[key])
                if args.json:
                    print(json.dumps(described, sort_keys=True))
                else:
                    print("\t".join(described[k] for k in ("address", "until", "origin", "reason")))
    except UsageError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except (DenyListError, OSError) as err:
        print(f"{PROG}: error: cannot change the deny-list: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
