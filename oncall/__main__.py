"""``promfleet-oncall``: the command line of the on-call loop (argparse, config, exit
status). Exit 0 on success, 2 on bad input or a server that cannot be reached, 1 on an
unexpected failure."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from generator.model import Severity
from oncall import commands
from oncall.api import Alertmanager, Prometheus
from oncall.errors import OncallError

PROG = "promfleet-oncall"
DEFAULT_ALERTMANAGER = "http://localhost:9093"
DEFAULT_PROMETHEUS = "http://localhost:9090"

DESCRIPTION = f"""\
See what is firing, acknowledge it, undo an ack, and read what fired lately.

An ack is an Alertmanager silence whose comment starts with "ack: ": it stops the
notifications (and the escalation to management) until it expires.

Servers: --alertmanager URL (repeat it, or separate URLs by commas, for the peers of one
cluster; the first that answers is used) and --prometheus URL, or the environment
PROMFLEET_ALERTMANAGER_URL and PROMFLEET_PROMETHEUS_URL.
Defaults: {DEFAULT_ALERTMANAGER} and {DEFAULT_PROMETHEUS}.
"""

EPILOG = """\
examples:
  promfleet-oncall alerts
  promfleet-oncall ack DiskFull instance=db-1:9100 --for 2h --comment "cleaning /var, OPS-42"
  promfleet-oncall unack 5c1e...
  promfleet-oncall history --since 1d --alert DiskFull

exit status: 0 done, 2 bad input or a server not reachable (nothing was changed),
1 an unexpected failure."""

ACK_HELP = """\
Acknowledge a firing alert: silence exactly the alerts named ALERTNAME (and matching
every LABEL=VALUE) for --for, with your name and --comment.

The ack also stops the alert's escalation to management: the escalation is the same
alert, delivered to the management receiver after a delay by a second Alertmanager
route, so the one silence mutes it there too.

Refused (exit 2, nothing silenced) when ALERTNAME is not firing, when no firing alert
matches, or when more than one matches and --all-matching is not given."""


ALERTS_HELP = """\
What is firing now: critical first, then the oldest first. STATE is one of
  active                                the alert notifies; nobody has acked it
  acknowledged by WHO until WHEN (WHY)  an ack mutes it (and its escalation)
  silenced                              a maintenance silence mutes it
  inhibited                             a more urgent alert covers it"""

UNACK_HELP = """\
Expire an ack (or any silence) now, so the alert notifies again. SILENCE_ID is what
`ack` printed; `alerts --json` shows it too."""

HISTORY_HELP = """\
What fired lately: one row per firing episode, newest first, from Prometheus' ALERTS
series, with who acknowledged it (from Alertmanager's silences, expired ones included).
ENDED is "firing" while it still fires. While its alerting rule exists, a start is exact
to the second, and an end too when the query step (the range / 10,000, at least 1s) is
no coarser than the rule's evaluation interval; otherwise they are good to one step.
If Alertmanager cannot be reached the history is still shown, with the acks unknown."""


@dataclass(frozen=True)
class Servers:
    """Where the servers are, resolved once from the flags and the environment."""

    alertmanagers: tuple[str, ...]
    prometheus: str


def resolve_servers(
    flags_alertmanager: Sequence[str] | None,
    flag_prometheus: str | None,
    env: Mapping[str, str],
) -> Servers:
    """The flags win over the environment, the environment over the defaults."""
    raw = list(flags_alertmanager or ()) or [env.get("PROMFLEET_ALERTMANAGER_URL", "")]
    urls = tuple(u.strip() for text in raw for u in text.split(",") if u.strip())
    prometheus = (flag_prometheus or env.get("PROMFLEET_PROMETHEUS_URL", "")).strip()
    return Servers(
        alertmanagers=urls or (DEFAULT_ALERTMANAGER,),
        prometheus=prometheus or DEFAULT_PROMETHEUS,
    )


def default_author(env: Mapping[str, str]) -> str:
    """``$PROMFLEET_ONCALL_AUTHOR``, else the login name."""
    if env.get("PROMFLEET_ONCALL_AUTHOR", "").strip():
        return env["PROMFLEET_ONCALL_AUTHOR"].strip()
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in a bare container
        return ""


def build_parser() -> argparse.ArgumentParser:
    servers = argparse.ArgumentParser(add_help=False)
    group = servers.add_argument_group("servers")
    # SUPPRESS: the options may come before or after the command without overwriting.
    group.add_argument(
        "--alertmanager",
        action="append",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="Alertmanager URL; repeat or comma-separate for the peers of one cluster "
        f"(env PROMFLEET_ALERTMANAGER_URL, default {DEFAULT_ALERTMANAGER})",
    )
    group.add_argument(
        "--prometheus",
        metavar="URL",
        default=argparse.SUPPRESS,
        help=f"Prometheus URL (env PROMFLEET_PROMETHEUS_URL, default {DEFAULT_PROMETHEUS})",
    )
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=DESCRIPTION,
        epilog=EPILOG,
        parents=[servers],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, description: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=help_text,
            description=description,
            parents=[servers],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    severities = [s.value for s in sorted(Severity, key=lambda s: -s.rank)]
    p = command(
        "alerts",
        "what is firing now, and who acknowledged it",
        ALERTS_HELP,
    )
    p.add_argument("matchers", nargs="*", metavar="LABEL=VALUE", help="only these alerts")
    p.add_argument("--team", help="only this team's alerts")
    p.add_argument("--severity", choices=severities, help="only this severity")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = command("ack", "acknowledge a firing alert (a silence with your name)", ACK_HELP)
    p.add_argument("alertname", metavar="ALERTNAME", help="the alert's name, as `alerts` shows")
    p.add_argument(
        "matchers",
        nargs="*",
        metavar="LABEL=VALUE",
        help="narrow it down, e.g. instance=db-1:9100",
    )
    p.add_argument(
        "--for",
        dest="for_text",
        required=True,
        metavar="DURATION",
        help="how long the ack lasts: 30m, 2h, 1d, 1h30m (at most 7d)",
    )
    p.add_argument("--comment", required=True, help="why: what you are doing, a ticket")
    p.add_argument(
        "--author", help="who acks (default $PROMFLEET_ONCALL_AUTHOR, else your login name)"
    )
    p.add_argument(
        "--all-matching",
        action="store_true",
        help="acknowledge every firing alert that matches, not just one",
    )

    p = command(
        "unack",
        "undo an ack (expire its silence)",
        UNACK_HELP,
    )
    p.add_argument("silence_id", metavar="SILENCE_ID")

    p = command(
        "history",
        "what fired lately, for how long, and who acknowledged it",
        HISTORY_HELP,
    )
    p.add_argument(
        "--since",
        default="7d",
        metavar="DURATION",
        help="how far back: 1h, 1d, 7d (default 7d, at most 30d)",
    )
    p.add_argument("--alert", metavar="ALERTNAME", help="only this alert")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    servers = resolve_servers(
        getattr(args, "alertmanager", None), getattr(args, "prometheus", None), env
    )
    am = Alertmanager(servers.alertmanagers)
    now = datetime.now(UTC)
    out = sys.stdout
    if args.command == "alerts":
        return commands.alerts(
            am,
            team=args.team,
            severity=args.severity,
            matcher_texts=args.matchers,
            as_json=args.json,
            now=now,
            out=out,
        )
    if args.command == "ack":
        return commands.ack(
            am,
            alertname=args.alertname,
            matcher_texts=args.matchers,
            for_text=args.for_text,
            comment=args.comment,
            author=args.author if args.author is not None else default_author(env),
            all_matching=args.all_matching,
            now=now,
            out=out,
        )
    if args.command == "unack":
        return commands.unack(am, silence_id=args.silence_id, out=out)
    return commands.history(
        Prometheus(servers.prometheus),
        am,
        since_text=args.since,
        alert=args.alert,
        as_json=args.json,
        now=now,
        out=out,
        err=sys.stderr,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args, os.environ)
    except OncallError as err:
        sys.stderr.write(f"{PROG}: error: {err}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
