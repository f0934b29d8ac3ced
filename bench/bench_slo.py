"""SLO rule cost: Prometheus' own ``prometheus_rule_group_last_duration_seconds`` for our
generated SLO rule group against the same SLO written the way Sloth writes it, in one
Prometheus, over the same 1,000 synthetic services.

A synthetic exporter (a thread of this process) serves a good and a bad request counter
for each of 1,000 services; one SLO (99.9 %, 30 days, the workbook's four tiers) kept
per ``service``. Ours: the generator's own rules (:mod:`generator.render._slo`): windows
up to 6h from the raw counters, longer ones and the period from the 1h rates a second
group records once an hour (its duration is added to ours). Sloth's: every window's ratio
from the raw counters, and the
period as ``sum_over_time`` of the 5-minute ratio over 30 days (its generated form),
with its page and ticket alerts.

Both are rendered with the same window compression (``slo_window_divisor``, 60: 1h is a
minute, 3 days 72 minutes, 30 days 12 hours). Before Prometheus starts, its storage is
backfilled (``promtool tsdb create-blocks-from openmetrics``) with the history each side
reads, so every window is full from the first evaluation: the raw counters for the
last 80 minutes (every 5 s), Sloth's recorded 5-minute ratio for the last 12 hours
(every 15 s) and our hourly 1h rates (one a compressed hour, a minute, as that group
records them). Sparser than live data (1 s scrapes, 5 s evaluations, which are 1 and 5
minutes of real time), so the backfill understates what Sloth's long ranges read at a
real month's density, never what ours read.
"""

from __future__ import annotations

import contextlib
import http.server
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from bench import common
from generator.model import SLO, Area, ErrorRatioSLI, Settings, SLORunbook, Team, format_duration
from generator.render import _slo

SERVICES = 1000
DIVISOR = 60
SCRAPE = "1s"
EVALUATION = "5s"
WARMUP_S = 45.0  # before sampling: live samples in the short windows (the rest is backfilled)
RAW_HISTORY_S = 80 * 60  # the compressed 3 days (72 minutes) and some
RAW_STEP_S = 5
RECORDED_HISTORY_S = 12 * 3600  # the compressed 30 days
SLOTH_STEP_S = 15
HOURLY_STEP_S = 60  # a compressed hour
SAMPLE_S = 120.0
SAMPLE_EVERY_S = 5.0
OBJECTIVE = 99.9

SLO_ENTRY = SLO(
    name="BenchAvailabilitySLO",
    slo="bench-availability",
    service="bench",
    title="Bench availability",
    description="Synthetic requests answered without a server error.",
    objective_percent=OBJECTIVE,
    sli=ErrorRatioSLI(
        bad='bench_requests_total{job="bench",code="5xx"}',
        total='bench_requests_total{job="bench"}',
    ),
    team=Team.ENGINEERING,
    by=("job", "service"),
    runbook=SLORunbook(impact="-", diagnosis=("-",), mitigation=("-",), escalation="-"),
)
AREA = Area("bench", "Bench", "Synthetic services.", (), ())


def settings() -> Settings:
    return Settings(
        scrape_interval=SCRAPE, evaluation_interval=EVALUATION,
        slo_window_divisor=str(DIVISOR),
    )


def _yaml_rule(rule: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("record", "alert", "expr", "for"):
        if rule.get(key):
            out[key] = rule[key]
    if rule.get("labels"):
        out["labels"] = dict(rule["labels"])
    if rule.get("annotations"):
        out["annotations"] = dict(rule["annotations"])
    return out


def ours() -> dict[str, Any]:
    groups = []
    for group in _slo.rule_groups(AREA, SLO_ENTRY, settings()):
        out: dict[str, Any] = {"name": group["name"]}
        if group["interval"]:
            out["interval"] = group["interval"]
        out["rules"] = [_yaml_rule(r) for r in group["rules"]]
        groups.append(out)
    return {"groups": groups}


def _scaled(seconds: int) -> str:
    return format_duration(max(1, seconds // DIVISOR))


def sloth() -> dict[str, Any]:
    """The same SLO as Sloth generates it (its rule shapes, windows compressed alike)."""
    by = "job, service"
    sel = '{sloth_slo="bench-availability"}'
    budget = round(1 - OBJECTIVE / 100, 12)
    rules: list[dict[str, Any]] = []
    windows = {"5m": 300, "30m": 1800, "1h": 3600, "2h": 7200, "6h": 21600, "1d": 86400,
               "3d": 259200}
    for name, seconds in windows.items():
        rng = _scaled(seconds)
        rules.append({
            "record": f"slo:sli_error:ratio_rate{name}",
            "expr": f'(sum by ({by}) (rate(bench_requests_total{{job="bench",code="5xx"}}[{rng}])))'
                    f'\n/\n(sum by ({by}) (rate(bench_requests_total{{job="bench"}}[{rng}])))',
            "labels": {"sloth_slo": "bench-availability", "sloth_window": name},
        })
    period = _scaled(30 * 86400)
    rules += [
        {
            "record": "slo:sli_error:ratio_rate30d",
            "expr": f"sum_over_time(slo:sli_error:ratio_rate5m{sel}[{period}])\n"
                    f"/ ignoring (sloth_window)\n"
                    f"count_over_time(slo:sli_error:ratio_rate5m{sel}[{period}])",
            "labels": {"sloth_slo": "bench-availability", "sloth_window": "30d"},
        },
        {"record": "slo:error_budget:ratio", "expr": f"vector(1-{OBJECTIVE / 100})",
         "labels": {"sloth_slo": "bench-availability"}},
        {"record": "slo:current_burn_rate:ratio",
         "expr": f"slo:sli_error:ratio_rate5m{sel}\n/ on (sloth_slo) group_left\n"
                 f"slo:error_budget:ratio{sel}"},
        {"record": "slo:period_burn_rate:ratio",
         "expr": f"slo:sli_error:ratio_rate30d{sel}\n/ on (sloth_slo) group_left\n"
                 f"slo:error_budget:ratio{sel}"},
        {"record": "slo:period_error_budget_remaining:ratio",
         "expr": f"1 - slo:period_burn_rate:ratio{sel}",
         "labels": {"sloth_slo": "bench-availability"}},
    ]

    def pair(long: str, short: str, factor: float) -> str:
        return (f"(max(slo:sli_error:ratio_rate{short}{sel} > ({factor:g} * {budget:g})) "
                f"without (sloth_window)\nand max(slo:sli_error:ratio_rate{long}{sel} > "
                f"({factor:g} * {budget:g})) without (sloth_window))")

    rules += [
        {"alert": "SlothPage", "expr": f"{pair('1h', '5m', 14.4)}\nor ignoring (sloth_window)\n"
                                       f"{pair('6h', '30m', 6)}",
         "labels": {"severity": "critical"}},
        {"alert": "SlothTicket", "expr": f"{pair('1d', '2h', 3)}\nor ignoring (sloth_window)\n"
                                         f"{pair('3d', '6h', 1)}",
         "labels": {"severity": "warning"}},
    ]
    return {"groups": [{"name": "sloth", "rules": rules}]}


def _rate(i: int) -> tuple[float, float]:
    """Service ``i``'s requests per second and its bad share (one service in ten burns)."""
    return 10.0 + i % 20, (0.0005 if i % 10 else 0.02)


def backfill(path: Path, now: float) -> int:
    """Write the OpenMetrics history both sides read; returns the number of samples."""
    end = now - 60
    samples = 0
    with path.open("w", encoding="utf-8") as out:
        out.write("# TYPE bench_requests_total unknown\n")
        raw_times = [end - RAW_HISTORY_S + k * RAW_STEP_S
                     for k in range(RAW_HISTORY_S // RAW_STEP_S)]
        for code in ("2xx", "5xx"):
            for i in range(SERVICES):
                per_s, bad = _rate(i)
                share = bad if code == "5xx" else 1 - bad
                labels = f'code="{code}",instance="backfill",job="bench",service="svc-{i:04d}"'
                for t in raw_times:
                    value = (t - raw_times[0]) * per_s * share
                    out.write(f"bench_requests_total{{{labels}}} {value:.3f} {t:.3f}\n")
                samples += len(raw_times)
        for name in (_slo.HOURLY_EVENTS, _slo.HOURLY_BAD, "slo:sli_error:ratio_rate5m"):
            step = SLOTH_STEP_S if name == "slo:sli_error:ratio_rate5m" else HOURLY_STEP_S
            times = [end - RECORDED_HISTORY_S + k * step
                     for k in range(RECORDED_HISTORY_S // step)]
            out.write(f"# TYPE {name} unknown\n")
            for i in range(SERVICES):
                per_s, bad = _rate(i)
                if name == "slo:sli_error:ratio_rate5m":
                    labels = (f'job="bench",service="svc-{i:04d}",sloth_slo="bench-availability",'
                              'sloth_window="5m"')
                    value = bad
                else:
                    labels = f'job="bench",service="svc-{i:04d}",slo="bench-availability"'
                    value = per_s * bad if name == _slo.HOURLY_BAD else per_s
                for t in times:
                    out.write(f"{name}{{{labels}}} {value:.6g} {t:.3f}\n")
                samples += len(times)
        out.write("# EOF\n")
    return samples


class _Counters:
    """1,000 services' request counters: each serves 20 requests a second, 0.05 % bad."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def body(self) -> bytes:
        elapsed = time.monotonic() - self.started
        lines = ["# TYPE bench_requests_total counter"]
        for i in range(SERVICES):
            per_s, share = _rate(i)
            total = elapsed * per_s
            bad = total * share
            good = total - bad
            lines.append(f'bench_requests_total{{service="svc-{i:04d}",code="2xx"}} {good:.3f}')
            lines.append(f'bench_requests_total{{service="svc-{i:04d}",code="5xx"}} {bad:.3f}')
        return ("\n".join(lines) + "\n").encode()


@contextlib.contextmanager
def exporter() -> Iterator[str]:
    counters = _Counters()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = counters.body()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", common.free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _durations(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("prometheus_rule_group_last_duration_seconds{"):
            group = line.split('rule_group="', 1)[1].split('"', 1)[0].rsplit(";", 1)[1]
            out[group] = float(line.rsplit(" ", 1)[1])
    return out


def measure() -> tuple[list[float], list[float], int, int, int]:
    prometheus = common.require_binary("prometheus")
    promtool = common.require_binary("promtool")
    with tempfile.TemporaryDirectory(prefix="bench-slo-") as tmp, exporter() as target:
        root = Path(tmp)
        (root / "ours.rules.yml").write_text(yaml.safe_dump(ours(), sort_keys=False))
        (root / "sloth.rules.yml").write_text(yaml.safe_dump(sloth(), sort_keys=False))
        subprocess.run([promtool, "check", "rules", "ours.rules.yml", "sloth.rules.yml"],
                       cwd=root, check=True, capture_output=True, timeout=60)
        config = {
            "global": {"scrape_interval": SCRAPE, "scrape_timeout": SCRAPE,
                       "evaluation_interval": EVALUATION},
            "rule_files": ["ours.rules.yml", "sloth.rules.yml"],
            "scrape_configs": [{"job_name": "bench", "static_configs": [{"targets": [target]}]}],
        }
        (root / "prometheus.yml").write_text(yaml.safe_dump(config))
        history = root / "history.om"
        backfilled = backfill(history, time.time())
        subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", "-q",
                        str(history), str(root / "data")],
                       check=True, capture_output=True, timeout=900)
        history.unlink()
        port = common.free_port()
        url = f"http://127.0.0.1:{port}"
        argv = [prometheus, f"--config.file={root / 'prometheus.yml'}",
                f"--storage.tsdb.path={root / 'data'}", f"--web.listen-address=127.0.0.1:{port}"]
        with common.started(argv, f"{url}/-/ready", timeout_s=60):
            time.sleep(WARMUP_S)
            ours_s, sloth_s = [], []
            deadline = time.monotonic() + SAMPLE_S
            with common.Scraper(f"{url}/metrics") as scraper:
                while time.monotonic() < deadline:
                    durations = _durations(scraper.get()[0])
                    mine = [v for k, v in durations.items() if k.startswith("slo-")]
                    if len(mine) == 2 and "sloth" in durations:
                        ours_s.append(sum(mine))
                        sloth_s.append(durations["sloth"])
                    time.sleep(SAMPLE_EVERY_S)
        if len(ours_s) < 5:
            raise common.BenchError("Prometheus reported too few rule group durations")
        return (ours_s, sloth_s, sum(len(g["rules"]) for g in ours()["groups"]),
                len(sloth()["groups"][0]["rules"]), backfilled)


def run() -> str:
    ours_s, sloth_s, ours_rules, sloth_rules, backfilled = measure()
    ours_med, sloth_med = statistics.median(ours_s), statistics.median(sloth_s)
    ratio = ours_med / sloth_med
    return "\n".join([
        "## SLO rules: ours vs Sloth-style",
        "",
        f"One Prometheus, {SERVICES:,} synthetic services (a good and a bad request counter "
        f"each, scraped every {SCRAPE}), one 99.9 % / 30-day SLO kept per service with the "
        f"workbook's four tiers, rules evaluated every {EVALUATION}; windows compressed "
        f"{DIVISOR}x for both (1h is a minute, 3 days 72 minutes, 30 days 12 hours). The "
        f"storage was backfilled with {backfilled:,} samples of history (raw counters every "
        f"{RAW_STEP_S} s for {RAW_HISTORY_S // 60} minutes; for {RECORDED_HISTORY_S // 3600} "
        f"hours Sloth's 5-minute ratio every {SLOTH_STEP_S} s and our hourly rates every "
        f"{HOURLY_STEP_S} s, a compressed hour), so every "
        f"window is full; sampled for {SAMPLE_S:.0f} s after {WARMUP_S:.0f} s. Figures: "
        "Prometheus' own `prometheus_rule_group_last_duration_seconds`, median of "
        f"{len(ours_s)} readings.",
        "",
        "| rule group | rules | median ms | min ms | max ms |",
        "|---|---:|---:|---:|---:|",
        f"| ours (generated, both groups) | {ours_rules} | {ours_med * 1000:.1f} | "
        f"{min(ours_s) * 1000:.1f} | "
        f"{max(ours_s) * 1000:.1f} |",
        f"| Sloth-style | {sloth_rules} | {sloth_med * 1000:.1f} | {min(sloth_s) * 1000:.1f} | "
        f"{max(sloth_s) * 1000:.1f} |",
        "",
        f"Ours / Sloth-style: **x{ratio:.2f}** of the evaluation time. Sloth reads every "
        "sample of its 1-day and 3-day windows from the raw counters and every sample of its "
        "5-minute ratio over the 30 days; ours read the raw counters up to 6 hours and one "
        "sample an hour beyond (24, 72 and 720 per service). The backfilled history is "
        "sparser than live data (Sloth's ratio every 15 s here is every 15 minutes of real "
        "time), so at a real month's density Sloth's long ranges read more than they did "
        "here, and ours the same.",
    ])
