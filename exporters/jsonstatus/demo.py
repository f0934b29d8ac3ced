"""A stand-in for the status endpoints the jsonstatus exporter reads in the demo stack.

``python -m exporters.jsonstatus.demo --port PORT`` serves Mini-XDR's
``/api/telemetry/status``, ``/api/orchestrator/status``, ``/api/ml/status``,
``/api/federated/status`` and ``/api/distributed/health``, BlindspotX's ``/api/health``
and the ML Security service's ``/dashboard-data``, shaped as those services answer (the
recorded bodies in ``tests/fixtures/jsonstatus/`` come from :func:`bodies`), healthy and
fresh: heartbeats and events a few seconds old, a handful of incidents an hour; and
``/healthz``. It has no metrics of its own and is not scraped.

``POST /chaos`` makes one thing misbehave, so that each alert can be driven end to end:

- ``component=database&state=down`` sets one of BlindspotX's health components
  (``database``, ``redis``, ``oauth``, ``drift``) to a state (``healthy`` or ``down``);
  while any is down, ``/api/health`` says ``degraded`` and answers 503, as BlindspotX does;
- ``agent=forensics&heartbeat_age=600``: that orchestrator agent's last heartbeat is
  that many seconds old (0: fresh again);
- ``organisation=acme&event_age=7200``: that organisation's last event is that old;
- ``organisation=acme&incidents=25``: that many more incidents opened for it now.
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from exporters.runtime.logs import log_event

ORGANISATIONS = (("acme", 240, 236), ("globex", 96, 95), ("initech", 31, 31))
AGENTS = ("attribution", "containment", "deception", "forensics", "ingestion")
ML_SERVICES = (("api-gateway", 42.0), ("inference", 118.0), ("feature-store", 23.5),
               ("alerting", 12.0))
INCIDENTS_PER_HOUR = 3  # per organisation: well under the incident-volume alert
STARTED = 1_746_000_000.0  # the demo's incident counters count from here


def _iso(moment: float) -> str:
    return datetime.datetime.fromtimestamp(moment, datetime.UTC).isoformat().replace(
        "+00:00", "Z")


COMPONENTS = ("database", "redis", "oauth", "drift")
COMPONENT_STATES = ("healthy", "down")
MAX_AGE_SECONDS = 30 * 86400  # the oldest heartbeat or event /chaos sets
MAX_INCIDENTS = 10_000  # the most incidents one /chaos opens


@dataclass
class Faults:
    """What ``/chaos`` has set: components down, late heartbeats, silent organisations and
    extra incidents. Empty: every endpoint healthy and fresh."""

    down: set[str] = field(default_factory=set)
    heartbeat_age: dict[str, float] = field(default_factory=dict)  # agent -> seconds
    event_age: dict[str, float] = field(default_factory=dict)  # organisation -> seconds
    incidents: dict[str, int] = field(default_factory=dict)  # organisation -> extra

    def apply(self, query: dict[str, str]) -> None:
        """One change from ``/chaos``'s query; ``ValueError`` names what is wrong."""
        slugs = [slug for slug, _, _ in ORGANISATIONS]
        if "component" in query or "state" in query:
            component, state = query.get("component", ""), query.get("state", "")
            if component not in COMPONENTS or state not in COMPONENT_STATES:
                raise ValueError(
                    f"expected component in {', '.join(COMPONENTS)} and state in "
                    f"{', '.join(COMPONENT_STATES)}, got {component!r} and {state!r}")
            if state == "down":
                self.down.add(component)
            else:
                self.down.discard(component)
        elif "agent" in query:
            agent = query["agent"]
            if agent not in AGENTS:
                raise ValueError(f"unknown agent {agent!r}; expected one of {', '.join(AGENTS)}")
            self.heartbeat_age[agent] = _number(query, "heartbeat_age", MAX_AGE_SECONDS)
        elif "organisation" in query:
            slug = query["organisation"]
            if slug not in slugs:
                raise ValueError(
                    f"unknown organisation {slug!r}; expected one of {', '.join(slugs)}")
            if "event_age" in query:
                self.event_age[slug] = _number(query, "event_age", MAX_AGE_SECONDS)
            elif "incidents" in query:
                more = int(_number(query, "incidents", MAX_INCIDENTS))
                self.incidents[slug] = self.incidents.get(slug, 0) + more
            else:
                raise ValueError("organisation= needs event_age= or incidents=")
        else:
            raise ValueError("expected component=&state=, agent=&heartbeat_age=, or "
                             "organisation= with event_age= or incidents=")

    def as_dict(self) -> dict[str, Any]:
        return {"down": sorted(self.down), "heartbeat_age": dict(self.heartbeat_age),
                "event_age": dict(self.event_age), "incidents": dict(self.incidents)}


def _number(query: dict[str, str], key: str, most: float) -> float:
    raw = query.get(key, "")
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{key} must be a number, got {raw!r}") from None
    if not 0 <= value <= most:
        raise ValueError(f"{key} must be between 0 and {most:g}, got {raw!r}")
    return value


def bodies(now: float, faults: Faults | None = None) -> dict[str, Any]:
    """Every endpoint's body at Unix time ``now``, by path, with ``faults`` in force."""
    faults = faults or Faults()
    down = faults.down
    organizations = []
    for index, (slug, assets, agents) in enumerate(ORGANISATIONS):
        incidents = (int((now - STARTED) / 3600 * INCIDENTS_PER_HOUR) + 17 * index
                     + faults.incidents.get(slug, 0))
        organizations.append({
            "id": index + 1, "slug": slug, "name": slug.capitalize(),
            "assets": {"total": assets, "online": assets - 2},
            "agents": {"enrolled": agents, "active": agents - 1},
            "incidents": {"total": incidents, "open": 2 + index},
            "last_event_at": _iso(now - faults.event_age.get(slug, 3 + index)),
        })
    return {
        "/api/telemetry/status": {"status": "ok", "generated_at": _iso(now),
                                  "organizations": organizations},
        "/api/orchestrator/status": {
            "status": "running", "active_workflows": 3, "queued_workflows": 1,
            "agents": {name: {"status": "healthy",
                              "last_heartbeat": _iso(now - faults.heartbeat_age.get(name, 5 + i)),
                              "tasks_completed": 800 + 13 * i}
                       for i, name in enumerate(AGENTS)},
        },
        "/api/ml/status": {
            "status": "ready", "models_loaded": 4,
            "models": {"isolation_forest": {"loaded": True, "accuracy": 0.94},
                       "lstm_autoencoder": {"loaded": True, "accuracy": 0.91},
                       "xgboost": {"loaded": True, "accuracy": 0.96},
                       "ensemble": {"loaded": True, "accuracy": 0.97}},
        },
        "/api/federated/status": {"status": "healthy", "enabled": True, "current_round": 12,
                                  "participants": 5, "last_aggregation": _iso(now - 240)},
        "/api/distributed/health": {
            "status": "healthy",
            "nodes": {"node-a": {"status": "up", "role": "leader"},
                      "node-b": {"status": "up", "role": "follower"},
                      "node-c": {"status": "up", "role": "follower"}},
        },
        "/api/health": {
            "status": "degraded" if down else "healthy", "version": "1.4.2",
            "timestamp": _iso(now),
            "components": {
                "database": "down" if "database" in down else "healthy",
                "redis": {"status": "down" if "redis" in down else "ok", "latency_ms": 1.2},
                "oauth": "down" if "oauth" in down else "up",
                "drift": {"status": "down" if "drift" in down else "healthy",
                          "last_scan": _iso(now - 600)}},
        },
        "/dashboard-data": {
            "generated_at": _iso(now),
            "services": [{"name": name, "status": "healthy", "response_time_ms": ms,
                          "uptime_percent": 99.98} for name, ms in ML_SERVICES],
        },
    }


PATHS = tuple(bodies(STARTED))


async def _healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "healthy"})


def make_app() -> web.Application:
    app = web.Application()
    faults = Faults()  # what /chaos has set

    async def status(request: web.Request) -> web.Response:
        code = 503 if faults.down and request.path == "/api/health" else 200
        return web.json_response(bodies(time.time(), faults)[request.path], status=code)

    async def chaos(request: web.Request) -> web.Response:
        try:
            faults.apply(dict(request.query))
        except ValueError as err:
            return web.json_response({"error": str(err)}, status=400)
        return web.json_response(faults.as_dict())

    for path in PATHS:
        app.router.add_get(path, status)
    app.router.add_get("/healthz", _healthz)
    app.router.add_post("/chaos", chaos)
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exporters.jsonstatus.demo",
                                     description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--print", dest="print_path", metavar="PATH",
                        help="print PATH's body now and exit (how the fixtures are recorded)")
    args = parser.parse_args(argv)
    if args.print_path:
        if args.print_path not in PATHS:
            parser.error(f"unknown path {args.print_path!r}; known: {', '.join(PATHS)}")
        print(json.dumps(bodies(time.time())[args.print_path], indent=2))
        return 0
    log_event("promfleet.jsonstatus.demo", "listening", host=args.host, port=args.port)
    web.run_app(make_app(), host=args.host, port=args.port, print=None,
                handle_signals=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
