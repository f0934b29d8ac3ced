"""A fixture exporter the live tests own: it serves catalogue test series in real time.

A catalogue :class:`~generator.model.AlertTest` gives raw exporter series in promtool's
expanding notation (``10+5x20``, one sample per ``interval_seconds``). Served here as a
scrape target, the same series drive the same alert on the live stack, with nothing
faked downstream: real Prometheus evaluates the generated rules over real scrapes.
"""

from __future__ import annotations

import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from generator.model import TestSeries

_TOKEN = re.compile(r"^(-?[0-9.e+]+?)(?:([+-])([0-9.e]+))?x([0-9]+)$")
_SERIES = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"')


def expand(values: str) -> list[float | None]:
    """promtool's notation to samples: ``1+2x3`` -> 1 3 5 7; ``_`` is a missing sample."""
    out: list[float | None] = []
    for token in values.split():
        if token == "_":
            out.append(None)
            continue
        match = _TOKEN.match(token)
        if match is None:
            out.append(float(token))
            continue
        start, sign, step, count = match.groups()
        delta = float(step or 0) * (-1 if sign == "-" else 1)
        out.extend(float(start) + delta * i for i in range(int(count) + 1))
    return out


def is_constant(values: str) -> bool:
    samples = [v for v in expand(values) if v is not None]
    return bool(samples) and all(v == samples[0] for v in samples)


def split_series(series: str) -> tuple[str, dict[str, str]]:
    """``name{a="b"}`` -> (name, labels), without the ``job`` and ``instance`` Prometheus sets."""
    match = _SERIES.match(series.strip())
    if match is None:
        raise ValueError(f"not a series selector: {series!r}")
    labels = dict(_LABEL.findall(match.group(2) or ""))
    labels.pop("job", None)
    labels.pop("instance", None)
    return match.group(1), labels


class ReplayExporter:
    """Serves ``series`` on ``/metrics``, sample ``i`` at ``i * interval_seconds`` after start,
    linearly interpolated between samples (so a counter's rate is the test's rate)."""

    def __init__(self, series: tuple[TestSeries, ...], interval_seconds: int) -> None:
        self.series = [(split_series(s.series), expand(s.values)) for s in series]
        self.interval = float(interval_seconds)
        self.started = time.monotonic()
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = replay.exposition().encode()
                self.send_response(200 if self.path.startswith("/metrics") else 404)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def value(self, samples: list[float | None], elapsed: float) -> float | None:
        pos = elapsed / self.interval
        i = min(int(pos), len(samples) - 1)
        here = samples[i]
        if here is None or i + 1 >= len(samples) or samples[i + 1] is None:
            return here
        nxt = samples[i + 1]
        assert nxt is not None
        return here + (nxt - here) * (pos - i)

    def exposition(self) -> str:
        elapsed = time.monotonic() - self.started
        lines = []
        for (name, labels), samples in self.series:
            value = self.value(samples, elapsed)
            if value is None:
                continue
            text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
            lines.append(f"{name}{{{text}}} {value!r}")
        return "\n".join(lines) + "\n"

    def __enter__(self) -> ReplayExporter:
        self.started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
