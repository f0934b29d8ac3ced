"""Security exporter against Debian's mtail, side by side in one run, and its memory.

Both read the same generated log of one million JSON access-log lines with realistic
attack traffic from its start to its end: ours through the exporter's own tailer and
engine (``--ours``), mtail with ``bench/security.mtail`` in ``--one_shot`` mode. Each
runs in its own process and is charged the CPU time the kernel reports for it; lines
per CPU second is the measure. A second child (``--rss``) feeds five million
generated lines from a million distinct sources and reports its RSS as it goes: the
brute-force window and the caches are bounded, so it should stay flat. It runs twice:
the access log's mix (3 % failures, so the five-minute window holds a few thousand
sources), and a botnet where every line is a failed login from a new source, which
fills the window to its cap (``brute-force.max-sources``) within the first million
lines; after that only evictions may happen.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import common

REPO_ROOT = Path(__file__).resolve().parent.parent
WORK = REPO_ROOT / "bench" / ".work"
LINES = int(os.environ.get("PROMFLEET_BENCH_SECURITY_LINES", "1000000"))
RSS_LINES = int(os.environ.get("PROMFLEET_BENCH_SECURITY_RSS_LINES", "5000000"))
RSS_SOURCES = 1_000_000
AIM_LINES_PER_S_RATIO = 2.0
AIM_RSS_GROWTH_BYTES = 5e6
BOTNET_LINES_PER_S = 1000

_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0 Safari/537.36",
    "okhttp/4.12.0",
    "python-requests/2.31.0",
)
_SCANNERS = ("sqlmap/1.7.2#stable (https://sqlmap.org)", "Mozilla/5.00 (Nikto/2.1.6)")
_ATTACKS = (
    ("/search", "q=1%27%20UNION%20SELECT%20username,password%20FROM%20users--"),
    ("/items", "id=5' or '1'='1"),
    ("/comment", "text=%3Cscript%3Ealert(document.cookie)%3C/script%3E"),
    ("/static/../../../etc/passwd", ""),
    ("/download", "file=..%2F..%2Fetc%2Fshadow"),
    ("/ping", "host=127.0.0.1;cat%20/etc/passwd"),
    ("/admin..;/users", ""),
    ("/api/private", "is_admin=true"),
)
_PATHS = ("/", "/api/v1/orders", "/api/v1/cart", "/static/app.js", "/login", "/healthz")


def access_line(rnd: random.Random, index: int, source: str | None = None) -> str:
    """One JSON access-log line; about 4 % carry an attack, 3 % a 401, 1 % a 429."""
    roll = rnd.random()
    ip = source or f"10.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"
    path = _PATHS[index % len(_PATHS)] if roll > 0.3 else f"/api/v1/users/{rnd.randrange(50000)}"
    query, status, agent = f"page={rnd.randrange(20)}", 200, _AGENTS[index % len(_AGENTS)]
    extra = ""
    if roll < 0.03:
        path, query = _ATTACKS[index % len(_ATTACKS)]
        status = 403 if roll < 0.01 else 200
    elif roll < 0.04:
        agent = _SCANNERS[index % len(_SCANNERS)]
        status = 404
    elif roll < 0.07:
        path, status = "/login", 401
        if source is None:
            ip = f"203.0.113.{index % 40}"  # a few brute forcers among them
    elif roll < 0.08:
        status = 429
    elif roll < 0.081:
        extra = ',"body":"user=bob&password=hunter22"'
    stamp = 1_714_560_000 + index // 200
    return (
        f'{{"time":{stamp},"ip":"{ip}","method":"GET","path":"{path}","query":"{query}",'
        f'"status":{status},"bytes":{rnd.randrange(100, 90000)},"duration_ms":'
        f'{rnd.randrange(1, 900)},"user_agent":"{agent}"{extra}}}'
    )


def generate(path: Path, lines: int, seed: int = 6) -> None:
    """The benchmark log, written once and reused while its size marker matches."""
    marker = path.with_suffix(".done")
    if path.exists() and marker.exists() and marker.read_text() == str(lines):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    rnd = random.Random(seed)
    with open(path, "w", encoding="utf-8") as handle:
        batch: list[str] = []
        for index in range(lines):
            batch.append(access_line(rnd, index))
            if len(batch) == 10_000:
                handle.write("\n".join(batch) + "\n")
                batch.clear()
        if batch:
            handle.write("\n".join(batch) + "\n")
    marker.write_text(str(lines))


def _config(path: Path) -> Any:
    from exporters.security.engine import LogConfig
    from exporters.security.parse import FieldMap

    return LogConfig("bench", str(path), "json", fields=FieldMap.for_format("json"))


def child_ours(path: str) -> None:
    """Read the log to its end through the tailer and engine; print the counts."""
    from exporters.security.memory import pin_mmap_threshold

    pin_mmap_threshold(262_144)  # as the exporter does (--memory.mmap-threshold)
    from exporters.security.engine import Engine
    from exporters.security.tail import LogFollower

    config = _config(Path(path))
    engine = Engine((config,))
    follower = LogFollower(config, engine, max_line_bytes=65536, start_at_end=False)
    while follower.poll():
        pass
    snap = engine.snapshot()
    print(
        json.dumps(
            {
                "lines": snap.logs["bench"].lines,
                "denied": sum(snap.denied.values()),
                "attacks": sum(snap.attacks.values()),
                "brute_force_detections": snap.brute_force_detections,
            }
        )
    )


def botnet_line(index: int, source: str) -> str:
    """A failed login from ``source``; 1,000 a second of log time (a window's worth is
    300,000 sources, three times the default cap)."""
    return (
        f'{{"time":{1_714_560_000 + index // BOTNET_LINES_PER_S},"ip":"{source}","method":"POST",'
        f'"path":"/login","query":"","status":401,"bytes":{index % 900 + 100},'
        f'"user_agent":"{_AGENTS[index % len(_AGENTS)]}","event":"login_failed",'
        f'"reason":"wrong_password","user":"user{index % 5000}"}}'
    )


def child_rss(lines: int, sources: int, botnet: bool = False) -> None:
    """Feed ``lines`` generated lines from ``sources`` distinct sources; print RSS samples."""
    from exporters.security.memory import pin_mmap_threshold

    pin_mmap_threshold(262_144)  # as the exporter does (--memory.mmap-threshold)
    import psutil

    from exporters.security.engine import Engine

    now = [1_714_560_000.0]
    # The log's own clock, so the brute-force window holds live entries throughout.
    engine = Engine((_config(Path("/dev/null")),), clock=lambda: now[0])
    rnd = random.Random(7)
    me = psutil.Process()

    def line_for(index: int, source: str) -> str:
        return botnet_line(index, source) if botnet else access_line(rnd, index, source)

    step = 4_000  # about one 1 MiB read of the tailer
    for start in range(0, lines, step):
        now[0] = 1_714_560_000 + start // (BOTNET_LINES_PER_S if botnet else 200)
        block = "\n".join(
            line_for(i, f"10.{(i % sources) >> 16}.{((i % sources) >> 8) & 255}.{i & 255}")
            for i in range(start, min(lines, start + step))
        )
        engine.process("bench", (block + "\n").encode())
        if (start + step) % 500_000 == 0:
            snap = engine.snapshot()
            print(
                json.dumps(
                    {
                        "lines": start + step,
                        "rss": me.memory_info().rss,
                        # Blocks the interpreter holds: flat while RSS grows means the
                        # growth is the C allocator's free space, not our objects.
                        "blocks": sys.getallocatedblocks(),
                        "tracked": snap.brute_force_tracked,
                        "evictions": snap.brute_force_evictions,
                    }
                ),
                flush=True,
            )


# Linux carries a process's peak RSS (ru_maxrss) across fork and exec, so a child
# started straight from this (by now large) process would report at least our own
# peak. A small launcher forks the measured program from a fresh interpreter instead
# and reports that grandchild's own rusage on file descriptor 3.
_LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
os.write(3, f"{usage.ru_utime} {usage.ru_stime} {usage.ru_maxrss}\\n".encode())
sys.exit(os.waitstatus_to_exitcode(status))
"""


def _measured(argv: list[str]) -> tuple[float, int, str]:
    """Run to completion; (CPU seconds user+sys, peak RSS bytes, stdout)."""
    read_fd, write_fd = os.pipe()
    with tempfile.TemporaryFile() as out:
        # sh makes the pipe the launcher's file descriptor 3, then execs it.
        proc = subprocess.Popen(
            [
                "/bin/sh",
                "-c",
                f'exec "$0" "$@" 3>&{write_fd}',
                sys.executable,
                "-c",
                _LAUNCHER,
                *argv,
            ],
            stdout=out,
            stderr=subprocess.DEVNULL,
            cwd=REPO_ROOT,
            env=_env(),
            pass_fds=(write_fd,),
        )
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as report:
            fields = report.read().decode().split()
        proc.wait()
        out.seek(0)
        text = out.read().decode("utf-8", errors="replace")
    if proc.returncode != 0 or len(fields) != 3:
        raise common.Skip(f"{argv[0]} exited with {proc.returncode}")
    utime, stime, maxrss_kb = float(fields[0]), float(fields[1]), int(fields[2])
    return utime + stime, maxrss_kb * 1024, text


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    return env


def _mtail_count(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _rss_section(title: str, mode: str) -> str:
    """One RSS run in its own process, as a paragraph and a table."""
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "bench.bench_security", "--rss", str(RSS_LINES), str(RSS_SOURCES)]
        + (["--botnet"] if mode == "botnet" else []),
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=_env(),
        check=False,
        timeout=1800,
    )
    samples = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    if not samples:
        return f"RSS run ({title}) failed: {proc.stderr[-300:]}\n\n"
    first = next((s for s in samples if s["lines"] >= 1_000_000), samples[0])
    last = samples[-1]
    growth = last["rss"] - first["rss"]
    met = "yes" if growth <= AIM_RSS_GROWTH_BYTES else "**no**"
    rss_rows = "\n".join(
        f"| {s['lines']:,} | {s['rss'] / 1e6:.1f} MB | {s['blocks']:,} | {s['tracked']:,} "
        f"| {s['evictions']:,} |"
        for s in samples
    )
    return (
        f"RSS of the engine fed {last['lines']:,} lines from {RSS_SOURCES:,} distinct "
        f"sources, {title} ({time.monotonic() - started:.0f} s): growth from "
        f"{first['lines']:,} lines to the end {growth / 1e6:+.1f} MB (aim: within "
        f"{AIM_RSS_GROWTH_BYTES / 1e6:.0f} MB, met: {met}); blocks the interpreter holds "
        f"{last['blocks'] - first['blocks']:+,} over the same lines.\n\n"
        "| lines | RSS | Python blocks | sources tracked | evicted |\n|---|---|---|---|---|\n"
        + rss_rows
        + "\n\n"
    )


def run() -> str:
    mtail = common.require_binary("mtail")
    log = WORK / "security-access.log"
    generate(log, LINES)
    ours_cpu, ours_peak, ours_out = _measured(
        [sys.executable, "-m", "bench.bench_security", "--ours", str(log)]
    )
    ours = json.loads(ours_out.strip().splitlines()[-1])
    with tempfile.TemporaryDirectory() as progs:
        shutil.copy(REPO_ROOT / "bench" / "security.mtail", progs)
        mtail_cpu, mtail_peak, mtail_out = _measured(
            [
                mtail,
                "--progs",
                progs,
                "--logs",
                str(log),
                "--one_shot",
                "--one_shot_format",
                "prometheus",
                "--logtostderr",
            ]
        )
    mtail_lines = _mtail_count(mtail_out, "promfleet_mtail_lines_total")
    mtail_401 = _mtail_count(mtail_out, "promfleet_mtail_http_denied_responses_total")
    rows = [
        common.Row("lines read", ours["lines"], mtail_lines, "{:.0f}"),
        common.Row(
            "lines per CPU second",
            ours["lines"] / ours_cpu,
            mtail_lines / mtail_cpu if mtail_cpu else None,
            "{:,.0f}",
            aim=lambda o, r: r is not None and o >= AIM_LINES_PER_S_RATIO * r,
            aim_text=f">= {AIM_LINES_PER_S_RATIO:g}x mtail",
        ),
        common.Row("CPU seconds (whole process)", ours_cpu, mtail_cpu, "{:.2f}"),
        common.Row("peak RSS", ours_peak, mtail_peak, "{:.1f} MB", 1e-6),
        common.Row("401/403 responses counted", ours["denied"], mtail_401, "{:.0f}"),
    ]
    rss_text = "".join(
        _rss_section(title, mode)
        for title, mode in (
            ("the access log's mix", "mixed"),
            ("a botnet: every line a failed login from a new source", "botnet"),
        )
    )
    return (
        "## security\n\n"
        f"One log of {LINES:,} JSON access-log lines (about 4 % attacks, 3 % 401s, 1 % 429s), "
        "read from start to end by each side in its own process; mtail runs "
        "`bench/security.mtail` with `--one_shot`. Ours also parses every line as JSON, "
        f"tracks brute force ({ours['brute_force_detections']} detections) and scans for "
        f"secrets. {common.machine_summary()}.\n\n"
        + common.table(rows, "promfleet", "mtail")
        + "\n"
        + rss_text
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--ours"]:
        child_ours(sys.argv[2])
    elif sys.argv[1:2] == ["--rss"]:
        child_rss(int(sys.argv[2]), int(sys.argv[3]), botnet="--botnet" in sys.argv[4:])
    else:
        print(run())
