"""``python -m runner run|up|down|status``: the verbs behind ``make run/up/down``."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

from runner.log import log
from runner.members import default_members, select
from runner.process import StackError, running_from_pid_file, stop_from_pid_files
from runner.servers import TOPOLOGIES
from runner.stack import REPO_ROOT, Stack, StackConfig, read_status


class Stopped(Exception):
    """Raised by the signal handler :func:`_stop_on_signals` sets; its text names the signal."""


def _stop_on_signals(*signals: signal.Signals) -> None:
    """Leave the status loop of ``run`` by raising :class:`Stopped` on each of ``signals``."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        raise Stopped(signal.Signals(signum).name)

    for each in signals:
        signal.signal(each, handler)


def _parse_pairs(pairs: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"{what}: expected NAME=VALUE, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m runner", description=__doc__)
    parser.add_argument("verb", choices=("run", "up", "down", "status"))
    parser.add_argument("--state-dir", type=Path, default=REPO_ROOT / ".run",
                        help="where config, storage, logs and pid files go (default .run/)")
    parser.add_argument("--topology", choices=TOPOLOGIES, default="single",
                        help="single: one Prometheus and one Alertmanager (default); ha: "
                             "Prometheus replicas and an Alertmanager gossip cluster; "
                             "sharded: Prometheus agents splitting the targets, "
                             "remote-writing to a receiver that runs the rules")
    parser.add_argument("--members", default="",
                        help="comma-separated exporters to run (default: all)")
    parser.add_argument("--port", action="append", default=[], metavar="NAME=PORT",
                        help="pin a port (prometheus, alertmanager or a member); "
                             "default: a free one")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a generator setting (e.g. scrape_interval=1s, "
                             "webhook_override_url=http://...)")
    parser.add_argument("--status-every", type=float, default=5.0,
                        help="seconds between status lines in run (default 5)")
    return parser


def _running(state_dir: Path) -> bool:
    pids = state_dir / "pids"
    return pids.is_dir() and any(running_from_pid_file(p) for p in pids.glob("*.json"))


def _build(args: argparse.Namespace, detach: bool) -> Stack:
    names = tuple(n.strip() for n in args.members.split(",") if n.strip()) or None
    try:
        members = select(default_members(), names)
    except ValueError as err:
        raise SystemExit(str(err)) from err
    ports = {k: int(v) for k, v in _parse_pairs(args.port, "--port").items()}
    settings: dict[str, Any] = {
        k: yaml.safe_load(v) if v else v for k, v in _parse_pairs(args.set, "--set").items()}
    return Stack(StackConfig(state_dir=args.state_dir, members=members, settings=settings,
                             ports=ports, detach=detach, topology=args.topology))


def _print_urls(stack: Stack) -> None:
    if stack.config.topology == "single":
        print(f"Prometheus    {stack.prometheus_url}")
        print(f"Alertmanager  {stack.alertmanager_url}")
    else:
        print(f"topology      {stack.config.topology} (query {stack.prometheus_url})")
        for name, url, note in stack.server_lines():
            print(f"{name:<19} {url}  {note}".rstrip())
    for member in stack.scraped:
        print(f"{member.name:<13} {stack.member_url(member.name)}")
    for member in stack.writers:
        print(f"{member.name:<13} writes {stack.writer_output(member.name)} "
              f"(read by {member.feeds})")
    print(f"state, logs   {stack.state_dir}")
    print(f"on call       PROMFLEET_ALERTMANAGER_URL={','.join(stack.alertmanager_urls)} "
          f"PROMFLEET_PROMETHEUS_URL={stack.prometheus_url} .venv/bin/promfleet-oncall alerts")
    sys.stdout.flush()


def _run(args: argparse.Namespace) -> int:
    stack = _build(args, detach=False)
    _stop_on_signals(signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    try:
        stack.start()
        _print_urls(stack)
        print("Ctrl-C stops everything.")
        deadline = 0.0
        while True:
            dead = [name for name, proc in stack.processes.items() if not proc.alive()]
            if any(stack.is_server(name) for name in dead):
                print(f"{', '.join(dead)} exited; see {stack.logs_dir}", file=sys.stderr)
                return 1
            if time.monotonic() >= deadline:
                try:
                    print(stack.status().line(), flush=True)
                except StackError as err:
                    print(f"status unavailable: {err}", flush=True)
                deadline = time.monotonic() + args.status_every
            time.sleep(0.2)
    except Stopped as stop:
        log("stopping", signal=str(stop))
        return 0
    except StackError as err:
        print(f"the stack did not start: {err}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not orphan
        stack.stop()
        print("stopped.", flush=True)


def _up(args: argparse.Namespace) -> int:
    stack = _build(args, detach=True)
    try:
        stack.start()
    except StackError as err:
        print(f"the stack did not start: {err}", file=sys.stderr)
        return 1
    _print_urls(stack)
    print("running in the background; stop it with: make down "
          "(one status line: python -m runner status)")
    return 0


def _down(args: argparse.Namespace) -> int:
    stopped = stop_from_pid_files(args.state_dir / "pids")
    print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
    return 0


def _status(args: argparse.Namespace) -> int:
    try:
        info = json.loads((args.state_dir / "stack.json").read_text(encoding="utf-8"))
        writers = {name: running_from_pid_file(args.state_dir / "pids" / f"{name}.json")
                   for name in info.get("writers", {})}
        print(read_status(info["urls"]["prometheus"], writers,
                          info.get("targets_from", ())).line())
    except (OSError, ValueError, KeyError, StackError) as err:
        print(f"no stack running here ({err})", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.verb in {"run", "up"} and _running(args.state_dir):
        print(f"a stack is already running from {args.state_dir}; make down first",
              file=sys.stderr)
        return 1
    verbs = {"run": _run, "up": _up, "down": _down, "status": _status}
    return verbs[args.verb](args)


if __name__ == "__main__":
    sys.exit(main())
