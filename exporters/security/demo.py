"""A simulated access and authentication log for the demo stack (JSON lines, bounded rate).

``python -m exporters.security.demo --log FILE (--once | --interval 1s) [--rate 2]``
appends what the demo service's front door would log: mostly normal API traffic, a few
401/403/429 responses, occasional failed logins and now and then an attack probe (SQL
injection, XSS, path traversal, command injection, an auth bypass, a scanner). Each
line carries ``time``, ``ip``, ``method``, ``path``, ``query``, ``status``, ``user``,
``user_agent``, ``tenant`` and, for authentication, ``event`` and ``reason``: the
security exporter's default JSON field names.

The mix is set in events per hour, whatever the rate, and stays under every security
alert's threshold (about 20 authentication failures and 70 security events an hour,
fewer than one attack of a kind per ten minutes, no brute-force run, no secret, no
privilege or tenant event), so the demo feeds every panel without paging anyone. The
file is rotated (renamed to ``FILE.1``) when it passes ``--max-bytes``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exporters.runtime.logs import Stopped, log_event, stop_on_signals
from exporters.spec import parse_duration

Line = dict[str, Any]

# Normal traffic: (method, path, query, status) with weights.
_NORMAL: tuple[tuple[str, str, str, int, int], ...] = (
    ("GET", "/api/v1/orders", "page=1&per_page=20", 200, 30),
    ("GET", "/api/v1/orders/4711", "", 200, 20),
    ("POST", "/api/v1/orders", "", 201, 8),
    ("GET", "/api/v1/catalogue", "category=books&sort=price", 200, 15),
    ("GET", "/api/v1/catalogue/item/982", "", 200, 10),
    ("PUT", "/api/v1/cart/items/12", "", 204, 5),
    ("GET", "/static/app.js", "", 304, 8),
    ("GET", "/healthz", "", 200, 6),
    ("GET", "/api/v1/orders/999999", "", 404, 2),
    ("POST", "/login", "", 200, 3),
)
_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64; rv:124.0) Gecko/20100101 Firefox/124.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Version/17.4",
    "promfleet-mobile/3.2.1 (Android 14)",
    "python-requests/2.31.0",
)
_USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi")
_TENANTS = ("acme", "globex", "initech")
# Attack probes: (kind, method, path, query, user agent or "" for a browser's).
_ATTACKS: tuple[tuple[str, str, str, str, str], ...] = (
    ("sql_injection", "GET", "/api/v1/orders", "id=1%27%20OR%20%271%27%3D%271", ""),
    ("sql_injection", "GET", "/api/v1/catalogue", "q=1 UNION SELECT name FROM users", ""),
    ("xss", "GET", "/search", "q=%3Cscript%3Ealert(1)%3C%2Fscript%3E", ""),
    ("path_traversal", "GET", "/static/../../etc/passwd", "", ""),
    ("command_injection", "GET", "/api/v1/export", "file=report.csv;id", ""),
    ("auth_bypass", "GET", "/api/v1/admin;/users", "", ""),
    ("scanner", "GET", "/wp-login.php", "", "Mozilla/5.0 (compatible; Nmap Scripting Engine)"),
)
_AUTH_REASONS = ("wrong_password", "wrong_password", "user_not_found", "mfa_failed")


@dataclass(frozen=True)
class Mix:
    """How many of each notable line an hour; the rest of the rate is normal traffic."""

    unauthorised_per_hour: float = 10.0  # 401 on an API call (expired or bad token)
    forbidden_per_hour: float = 10.0  # 403
    rate_limited_per_hour: float = 12.0  # 429
    failed_logins_per_hour: float = 8.0  # POST /login, 401, event login_failed
    attacks_per_hour: float = 6.0  # one probe every ten minutes, the kind at random

    def notable_per_hour(self) -> float:
        return (self.unauthorised_per_hour + self.forbidden_per_hour
                + self.rate_limited_per_hour + self.failed_logins_per_hour
                + self.attacks_per_hour)


class Traffic:
    """Makes log lines; ``rng`` is injected so a test gets the same lines every run."""

    def __init__(self, rate_per_s: float, mix: Mix, rng: random.Random) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate must be more than zero")
        self.rng = rng
        lines_per_hour = rate_per_s * 3600.0
        notable = mix.notable_per_hour()
        if notable > lines_per_hour:
            raise ValueError(f"a rate of {rate_per_s:g}/s is too low for the mix "
                             f"({notable:g} notable lines an hour)")
        self.kinds: tuple[Callable[[float], Line], ...] = (
            self._unauthorised, self._forbidden, self._rate_limited, self._failed_login,
            self._attack, self._normal)
        self.weights = (mix.unauthorised_per_hour, mix.forbidden_per_hour,
                        mix.rate_limited_per_hour, mix.failed_logins_per_hour,
                        mix.attacks_per_hour, lines_per_hour - notable)

    def line(self, when: float) -> Line:
        make = self.rng.choices(self.kinds, self.weights)[0]
        return make(when)

    def _base(self, when: float, method: str, path: str, query: str, status: int) -> Line:
        rng = self.rng
        return {
            "time": round(when, 3),
            "ip": f"10.20.{rng.randrange(0, 4)}.{rng.randrange(2, 250)}",
            "method": method,
            "path": path,
            "query": query,
            "status": status,
            "user": rng.choice(_USERS),
            "tenant": rng.choice(_TENANTS),
            "user_agent": rng.choice(_AGENTS),
            "bytes": rng.randrange(120, 48_000),
            "duration_ms": round(rng.lognormvariate(3.0, 0.6), 1),
        }

    def _normal(self, when: float) -> Line:
        method, path, query, status, _ = self.rng.choices(
            _NORMAL, [entry[4] for entry in _NORMAL])[0]
        line = self._base(when, method, path, query, status)
        if path == "/login":
            line["event"] = "login_succeeded"
        return line

    def _unauthorised(self, when: float) -> Line:
        line = self._base(when, "GET", "/api/v1/orders", "page=1", 401)
        line["user"] = "-"
        return line

    def _forbidden(self, when: float) -> Line:
        return self._base(when, "DELETE", "/api/v1/tenants/globex/orders/17", "", 403)

    def _rate_limited(self, when: float) -> Line:
        return self._base(when, "GET", "/api/v1/catalogue", "page=3", 429)

    def _failed_login(self, when: float) -> Line:
        line = self._base(when, "POST", "/login", "", 401)
        line["event"] = "login_failed"
        line["reason"] = self.rng.choice(_AUTH_REASONS)
        return line

    def _attack(self, when: float) -> Line:
        _kind, method, path, query, agent = self.rng.choice(_ATTACKS)
        line = self._base(when, method, path, query, 404)
        # Probes come from outside: documentation addresses, never the loopback.
        line["ip"] = f"203.0.113.{self.rng.randrange(1, 255)}"
        line["user"] = "-"
        if agent:
            line["user_agent"] = agent
        return line


def append(path: Path, lines: Sequence[Line], max_bytes: int) -> bool:
    """Append ``lines`` (one JSON object each); rotate first when the file is too big.
    Returns whether it rotated."""
    rotated = False
    try:
        if path.stat().st_size >= max_bytes:
            path.replace(path.with_name(path.name + ".1"))
            rotated = True
    except FileNotFoundError:
        pass
    text = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)  # one write: a reader sees whole lines
    return rotated


def _log(event: str, **fields: Any) -> None:
    log_event("promfleet.security.demo", event, **fields)


def _batch(traffic: Traffic, count: int, start: float, span: float) -> list[Line]:
    """``count`` lines whose times are spread over ``span`` seconds from ``start``."""
    return [traffic.line(start + span * i / max(1, count)) for i in range(count)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exporters.security.demo",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--log", type=Path, required=True, help="the JSON log to append to")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--once", action="store_true",
                      help="append one minute's worth of lines at once and exit")
    mode.add_argument("--interval", type=parse_duration,
                      help="append a batch this often (e.g. 1s) until SIGTERM")
    parser.add_argument("--rate", type=float, default=2.0,
                        help="lines a second on average (default 2; at most 1000)")
    parser.add_argument("--max-bytes", type=int, default=10_000_000,
                        help="rotate the log to LOG.1 past this size (default 10 MB)")
    parser.add_argument("--seed", type=int, default=None, help="repeatable traffic")
    args = parser.parse_args(argv)
    if not 0 < args.rate <= 1000:
        parser.error("--rate must be in (0, 1000]")
    try:
        traffic = Traffic(args.rate, Mix(), random.Random(args.seed))
    except ValueError as err:
        parser.error(str(err))
    args.log.parent.mkdir(parents=True, exist_ok=True)
    if args.once:
        now = time.time()
        append(args.log, _batch(traffic, round(args.rate * 60), now - 60, 60), args.max_bytes)
        _log("written", lines=round(args.rate * 60), log=str(args.log))
        return 0
    if args.interval <= 0:
        parser.error("--interval must be more than zero")
    stop_on_signals()
    _log("started", log=str(args.log), rate_per_second=args.rate)
    owed = 0.0
    try:
        while True:
            started = time.time()
            owed += args.rate * args.interval
            count, owed = int(owed), owed - int(owed)
            try:
                if append(args.log, _batch(traffic, count, started, args.interval),
                          args.max_bytes):
                    _log("rotated", log=str(args.log))
            except OSError as err:
                _log("write_failed", reason=err.strerror or str(err))
            time.sleep(max(0.0, args.interval - (time.time() - started)))
    except Stopped as stop:
        _log("stopped", signal=str(stop))
    return 0


if __name__ == "__main__":
    sys.exit(main())
