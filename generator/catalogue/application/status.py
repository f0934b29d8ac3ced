"""Application alerts from the jsonstatus exporter: what Mini-XDR, BlindspotX and the ML
Security service publish on their own JSON status endpoints, read without changing them.

Panels on the ``application-status`` dashboard.
"""

from __future__ import annotations

import math

from generator.catalogue.application._common import ESCALATE_ENG, ESCALATE_OPS, SEL
from generator.model import (
    AlertTest,
    Category,
    Level,
    Panel,
    RecordingRule,
    Runbook,
    Severity,
    Team,
    TestSeries,
    Threshold,
)
from generator.testseries import gauge as _gauge
from generator.testseries import series

NS = "promfleet_jsonstatus"
DASHBOARD = "status"
JS = (("instance", "jsonstatus-1:9117"), ("job", "jsonstatus"))
TELEMETRY = (*JS, ("target", "minixdr-telemetry"))
ORG = (*TELEMETRY, ("organisation", "acme"))
ORCHESTRATOR = (*JS, ("target", "minixdr-orchestrator"))
AGENT = (*ORCHESTRATOR, ("agent", "containment"))
FEDERATED = (*JS, ("target", "minixdr-federated"))
DISTRIBUTED = (*JS, ("target", "minixdr-distributed"))
BLINDSPOTX = (*JS, ("target", "blindspotx"))

INCIDENTS_1H = f"instance_organisation:{NS}_minixdr_incidents:increase1h"
INCIDENTS_PER_HOUR = 20
HEARTBEAT_LATE_SECONDS = 120
EVENTS_QUIET_SECONDS = 900
EVENTS_STOPPED_SECONDS = 3600
TELEMETRY_CURL = "curl -s http://MINIXDR/api/telemetry/status | jq ."
ORCHESTRATOR_CURL = "curl -s http://MINIXDR/api/orchestrator/status | jq ."

RECORDING_RULES = (
    RecordingRule(INCIDENTS_1H, f"increase({NS}_minixdr_organisation_incidents_total[1h])"),
)

# A counter flat for this many minutes first, so the hour's window is full of samples
# when it starts to grow and the minute the condition starts to hold is exact.
LEAD_MINUTES = 60


def _rising(per_minute: float) -> TestSeries:
    return series(f"{NS}_minixdr_organisation_incidents_total", ORG,
                  f"0+0x{LEAD_MINUTES} 0+{per_minute:g}x90")


def _rising_test(per_minute: float, above: float, for_seconds: int,
                 quiet: tuple[TestSeries, ...]) -> AlertTest:
    grown = LEAD_MINUTES + 1
    starts = grown + math.floor(above / per_minute) + 1
    fires = starts + math.ceil(for_seconds / 60) + 2
    return AlertTest(firing=(_rising(per_minute),), quiet=quiet, labels=ORG,
                     value=per_minute * min(fires - grown, 60), warmup_seconds=starts * 60)


def _age(metric: str, labels: tuple[tuple[str, str], ...], age_at_zero: float) -> TestSeries:
    """A timestamp that stays put: ``age_at_zero`` seconds old at t=0, older as t grows."""
    return _gauge(f"{NS}_{metric}", labels, -age_at_zero)


INCIDENT_VOLUME = Threshold(
    name="MiniXdrIncidentVolumeHigh",
    category=Category.SECURITY_INCIDENT,
    signal=INCIDENTS_1H,
    op=">",
    levels=(
        Level(
            Severity.WARNING, INCIDENTS_PER_HOUR, for_seconds=300, cooldown_seconds=3600,
            test=_rising_test(1, INCIDENTS_PER_HOUR, 300, quiet=(series(
                f"{NS}_minixdr_organisation_incidents_total", ORG, "0+0.2x150"),)),
        ),
    ),
    team=Team.SECURITY,
    summary="Mini-XDR opened {{ $value | humanize }} incidents in an hour for "
    "{{ $labels.organisation }}",
    description=(
        "Mini-XDR ({{ $labels.target }}, read by {{ $labels.instance }}) opened "
        "{{ $value | humanize }} incidents for organisation {{ $labels.organisation }} in the "
        "last hour, more than 20: a campaign against it, a detection rule gone noisy, or "
        "one source raising the same incident over and over."
    ),
    runbook=Runbook(
        meaning="More than 20 incidents were opened for one organisation in the last hour "
        "(from the incident total on Mini-XDR's /api/telemetry/status).",
        impact="Analysts cannot triage at this pace; a real attack may hide among duplicates.",
        diagnosis=(
            f"Per organisation: `{INCIDENTS_1H}`",
            f"Open now: `{NS}_minixdr_organisation_incidents_open`",
            f"The body: ```sh\n{TELEMETRY_CURL}\n```",
            "Mini-XDR's incident list for the organisation: one source or rule behind most?",
        ),
        mitigation=(
            "A real campaign: follow the incident response plan (contain the sources named).",
            "One noisy rule or source: tune or suppress it in Mini-XDR, and say so in the "
            "ticket.",
        ),
        escalation="Page the security on-call when the incidents are real and still coming.",
    ),
    panel=Panel(
        title="Mini-XDR incidents per hour",
        dashboard=DASHBOARD,
        expr=f"{INCIDENTS_1H}{{{SEL}}}",
        unit="short",
        description="Incidents opened in the last hour, per organisation.",
        legend="{{organisation}}",
    ),
)

AGENT_HEARTBEAT_LATE = Threshold(
    name="MiniXdrAgentHeartbeatLate",
    signal=f"time() - {NS}_minixdr_agent_heartbeat_timestamp_seconds",
    op=">",
    levels=(
        Level(
            Severity.WARNING, HEARTBEAT_LATE_SECONDS, for_seconds=120, cooldown_seconds=3600,
            test=AlertTest(
                firing=(_age("minixdr_agent_heartbeat_timestamp_seconds", AGENT, 600),),
                quiet=(series(f"{NS}_minixdr_agent_heartbeat_timestamp_seconds", AGENT,
                              "0+60x40"),),
                labels=AGENT, value=600 + 240,
            ),
        ),
    ),
    team=Team.ENGINEERING,
    summary="Mini-XDR agent {{ $labels.agent }} has not sent a heartbeat for "
    "{{ $value | humanizeDuration }}",
    description=(
        "The orchestrator ({{ $labels.target }}, read by {{ $labels.instance }}) last heard "
        "from agent {{ $labels.agent }} {{ $value | humanizeDuration }} ago, more than 2 "
        "minutes: its responses (containment, forensics, ...) are not running."
    ),
    runbook=Runbook(
        meaning="An agent the orchestrator knows has not sent a heartbeat for over 2 minutes.",
        impact="Workflows that need the agent wait or fail; its response actions do not run.",
        diagnosis=(
            f"How late: `time() - {NS}_minixdr_agent_heartbeat_timestamp_seconds`",
            f"Its reported health: `{NS}_minixdr_agent_healthy`",
            f"The body: ```sh\n{ORCHESTRATOR_CURL}\n```",
        ),
        mitigation=(
            "Restart the agent's process; check what it needs (its queue, its credentials).",
            "If the agent was removed on purpose, remove it from the orchestrator too.",
        ),
        escalation=ESCALATE_ENG,
    ),
    panel=Panel(
        title="Mini-XDR agent heartbeat age",
        dashboard=DASHBOARD,
        expr=f"time() - {NS}_minixdr_agent_heartbeat_timestamp_seconds{{{SEL}}}",
        unit="s",
        description="Seconds since each orchestrator agent's last heartbeat.",
        legend="{{agent}}",
    ),
)

EVENTS_STOPPED = Threshold(
    name="MiniXdrNoEvents",
    category=Category.SYSTEM_OUTAGE,
    signal=f"time() - {NS}_minixdr_organisation_last_event_timestamp_seconds",
    op=">",
    levels=(
        Level(
            Severity.CRITICAL, EVENTS_STOPPED_SECONDS, for_seconds=300, cooldown_seconds=3600,
            test=AlertTest(
                firing=(_age("minixdr_organisation_last_event_timestamp_seconds", ORG, 7200),),
                quiet=(_age("minixdr_organisation_last_event_timestamp_seconds", ORG, 1000),),
                labels=ORG, value=7200 + 420, quiet_value=1000 + 420,
            ),
        ),
        Level(
            Severity.WARNING, EVENTS_QUIET_SECONDS, for_seconds=300, cooldown_seconds=3600,
            test=AlertTest(
                firing=(_age("minixdr_organisation_last_event_timestamp_seconds", ORG, 1000),),
                quiet=(series(f"{NS}_minixdr_organisation_last_event_timestamp_seconds", ORG,
                              "0+60x40"),),
                labels=ORG, value=1000 + 420,
            ),
        ),
    ),
    team=Team.SECURITY,
    summary="Mini-XDR has received no event from {{ $labels.organisation }} for "
    "{{ $value | humanizeDuration }}",
    description=(
        "Mini-XDR ({{ $labels.target }}, read by {{ $labels.instance }}) last received an "
        "event from organisation {{ $labels.organisation }} {{ $value | humanizeDuration }} "
        "ago. Warning after 15 minutes; critical after an hour, when detection for that "
        "organisation is blind."
    ),
    runbook=Runbook(
        meaning="No telemetry event has arrived from one organisation for 15 minutes "
        "(warning) or an hour (critical), by the last event time Mini-XDR reports.",
        impact="Nothing from that organisation is being detected: an attack there goes "
        "unseen until events flow again.",
        diagnosis=(
            f"Since when: `time() - {NS}_minixdr_organisation_last_event_timestamp_seconds`",
            f"Agents enrolled: `{NS}_minixdr_organisation_agents_enrolled` (0: nothing can send)",
            f"The body: ```sh\n{TELEMETRY_CURL}\n```",
            "Mini-XDR's ingestion agent and its queue: `"
            f"{NS}_minixdr_agent_healthy{{agent=\"ingestion\"}}`",
        ),
        mitigation=(
            "Restore the path from the organisation's agents to Mini-XDR (network, "
            "credentials, the ingestion agent).",
            "An organisation that was off-boarded: remove it from Mini-XDR.",
        ),
        escalation="Critical: page the security on-call at once; detection is blind there.",
    ),
    panel=Panel(
        title="Mini-XDR last event age",
        dashboard=DASHBOARD,
        expr=f"time() - {NS}_minixdr_organisation_last_event_timestamp_seconds{{{SEL}}}",
        unit="s",
        description="Seconds since the last event from each organisation.",
        legend="{{organisation}}",
    ),
)


def _unhealthy(name: str, metric: str, labels: tuple[tuple[str, str], ...], what: str,
               endpoint: str, for_seconds: int, impact: str, title: str) -> Threshold:
    return Threshold(
        name=name,
        signal=f"{NS}_{metric}",
        op="<",
        levels=(
            Level(
                Severity.WARNING, 1, for_seconds=for_seconds, cooldown_seconds=3600,
                test=AlertTest(firing=(_gauge(f"{NS}_{metric}", labels, 0),),
                               quiet=(_gauge(f"{NS}_{metric}", labels, 1),),
                               labels=labels, value=0),
            ),
        ),
        team=Team.ENGINEERING,
        summary=f"Mini-XDR reports its {what} unhealthy",
        description=(
            f"Mini-XDR's {endpoint} ({{{{ $labels.target }}}}, read by "
            f"{{{{ $labels.instance }}}}) has reported its {what} unhealthy for "
            f"{for_seconds // 60} minutes."
        ),
        runbook=Runbook(
            meaning=f"Mini-XDR's own {endpoint} says its {what} is not healthy.",
            impact=impact,
            diagnosis=(
                f"The flag: `{NS}_{metric}`",
                f"The body: ```sh\ncurl -s http://MINIXDR{endpoint} | jq .\n```",
                "Mini-XDR's logs around the time it turned unhealthy.",
            ),
            mitigation=(
                "Fix what the body names (a participant, a node, a lost quorum), or restart "
                "the component.",
            ),
            escalation=ESCALATE_ENG,
        ),
        panel=Panel(
            title=title,
            dashboard=DASHBOARD,
            expr=f"{NS}_{metric}{{{SEL}}}",
            unit="short",
            description=f"1 while Mini-XDR reports its {what} healthy, 0 when not.",
            legend="{{target}}",
        ),
    )


FEDERATED_UNHEALTHY = _unhealthy(
    "MiniXdrFederatedUnhealthy", "minixdr_federated_healthy", FEDERATED,
    "federated learning", "/api/federated/status", 600,
    "Detection models stop learning from the other participants; detection itself goes on.",
    "Mini-XDR federated learning healthy")

DISTRIBUTED_UNHEALTHY = _unhealthy(
    "MiniXdrDistributedUnhealthy", "minixdr_distributed_healthy", DISTRIBUTED,
    "distributed cluster", "/api/distributed/health", 300,
    "Detection runs on fewer nodes, or not at all where the cluster lost its quorum.",
    "Mini-XDR distributed cluster healthy")


# BlindspotX: one alert per component of /api/health, each with its own runbook.


def _component(name: str, component: str, severity: Severity, for_seconds: int,
               meaning: str, impact: str, diagnosis: tuple[str, ...],
               mitigation: tuple[str, ...]) -> Threshold:
    labels = (*BLINDSPOTX, ("component", component))
    metric = f"{NS}_blindspotx_component_up"
    critical = severity is Severity.CRITICAL
    return Threshold(
        name=name,
        category=Category.SYSTEM_OUTAGE if critical else None,
        signal=f'{metric}{{component="{component}"}}',
        op="<",
        levels=(
            Level(
                severity, 1, for_seconds=for_seconds, cooldown_seconds=1800 if critical else 3600,
                test=AlertTest(firing=(_gauge(metric, labels, 0),),
                               quiet=(_gauge(metric, labels, 1),), labels=labels, value=0),
            ),
        ),
        team=Team.ENGINEERING,
        summary=f"BlindspotX reports its {component} component down",
        description=(
            f"BlindspotX's /api/health ({{{{ $labels.target }}}}, read by "
            f"{{{{ $labels.instance }}}}) has reported {component} down for "
            f"{for_seconds // 60} minutes."
        ),
        runbook=Runbook(
            meaning=meaning,
            impact=impact,
            diagnosis=(
                f"Every component: `{metric}`",
                "The body (503 while a component is down): ```sh\n"
                "curl -s http://BLINDSPOTX/api/health | jq .components\n```",
                *diagnosis,
            ),
            mitigation=mitigation,
            escalation=ESCALATE_ENG if critical else ESCALATE_OPS,
        ),
        panel=Panel(
            title=f"BlindspotX {component} up",
            dashboard=DASHBOARD,
            expr=f'{metric}{{{SEL},component="{component}"}}',
            unit="short",
            description=f"1 while BlindspotX reports {component} up, 0 when down.",
            legend="{{target}}",
        ),
    )


BLINDSPOTX_DATABASE_DOWN = _component(
    "BlindspotXDatabaseDown", "database", Severity.CRITICAL, 120,
    "BlindspotX cannot reach its database, by its own health check.",
    "BlindspotX is down for everyone: nothing is read or stored.",
    ("The database's own alerts (PostgresDown, connections) on the database dashboard.",),
    ("Restore the database or the network path and credentials BlindspotX uses for it.",
     "Restart BlindspotX if it does not reconnect by itself once the database is back."))

BLINDSPOTX_REDIS_DOWN = _component(
    "BlindspotXRedisDown", "redis", Severity.WARNING, 300,
    "BlindspotX cannot reach its Redis, by its own health check.",
    "Sessions and caches are lost: users may be signed out and pages are slower.",
    ("Redis's own alerts (RedisDown, memory) on the database dashboard.",),
    ("Restore Redis or the network path to it; BlindspotX reconnects by itself.",))

BLINDSPOTX_OAUTH_DOWN = _component(
    "BlindspotXOAuthDown", "oauth", Severity.CRITICAL, 300,
    "BlindspotX cannot reach its OAuth identity provider, by its own health check.",
    "Nobody can sign in; sessions already open go on until their tokens expire.",
    ("The identity provider's status page, and BlindspotX's logs for the token errors.",),
    ("Restore the path to the identity provider; check that the client secret has not "
     "expired or been rotated without BlindspotX.",))

BLINDSPOTX_DRIFT_DOWN = _component(
    "BlindspotXDriftMonitorDown", "drift", Severity.WARNING, 900,
    "BlindspotX's configuration-drift monitor is not running, by its own health check.",
    "Configuration drift goes undetected until it runs again; nothing else is affected.",
    ("BlindspotX's logs for the drift scanner's last run and its error.",),
    ("Restart the drift scanner; check the credentials it scans with.",))

ENDPOINT_DOWN = Threshold(
    name="JsonStatusEndpointDown",
    signal=f"{NS}_up",
    op="<",
    levels=(
        Level(
            Severity.WARNING, 1, for_seconds=300, cooldown_seconds=3600,
            test=AlertTest(firing=(_gauge(f"{NS}_up", TELEMETRY, 0),),
                           quiet=(_gauge(f"{NS}_up", TELEMETRY, 1),), labels=TELEMETRY,
                           value=0),
        ),
    ),
    team=Team.OPS,
    summary="The status endpoint {{ $labels.target }} cannot be read",
    description=(
        "For 5 minutes {{ $labels.instance }} has not read a JSON body from "
        "{{ $labels.target }}; the alerts on what it reports cannot fire meanwhile."
    ),
    runbook=Runbook(
        meaning="The jsonstatus exporter cannot read a target's status endpoint: it does not "
        "answer, answers late, with a refused status, or with something that is not JSON.",
        impact="The alerts fed by that endpoint (Mini-XDR, BlindspotX, ML Security) are blind.",
        diagnosis=(
            f"Why: `{NS}_failure == 1` (connection, timeout, status, content_type, "
            "invalid_json, too_large)",
            f"Fields the mapping could not read: `increase({NS}_values_skipped_total[1h]) > 0`",
            "The exporter's log names the cause once: ```sh\n"
            "journalctl -u promfleet-jsonstatus --since '-1h' | grep 'status fetch'\n```",
        ),
        mitigation=(
            "A service that is down: its own alerts and runbook.",
            "A login page or HTML error (content_type): fix the URL or the credentials.",
            "A timeout: the endpoint is slower than the scrape timeout; raise the target's "
            "timeout and Prometheus' scrape timeout together.",
        ),
        escalation=ESCALATE_OPS,
    ),
    panel=Panel(
        title="Status endpoints read",
        dashboard=DASHBOARD,
        expr=f"{NS}_up{{{SEL}}}",
        unit="short",
        description="1 while each status endpoint answers with a JSON body.",
        legend="{{target}}",
    ),
)

PANELS = (
    Panel(
        title="Mini-XDR active workflows",
        dashboard=DASHBOARD,
        expr=f"{NS}_minixdr_workflows_active{{{SEL}}}",
        unit="short",
        description="Response workflows the orchestrator is running.",
        legend="{{target}}",
    ),
    Panel(
        title="Mini-XDR agents enrolled",
        dashboard=DASHBOARD,
        expr=f"{NS}_minixdr_organisation_agents_enrolled{{{SEL}}}",
        unit="short",
        description="Agents enrolled per organisation.",
        legend="{{organisation}}",
    ),
    Panel(
        title="ML Security service status",
        dashboard=DASHBOARD,
        expr=f"{NS}_mlsecurity_service_up{{{SEL}}}",
        unit="short",
        description="1 while /dashboard-data reports the service up, 0 when down.",
        legend="{{service}}",
    ),
    Panel(
        title="ML Security service response time",
        dashboard=DASHBOARD,
        expr=f"{NS}_mlsecurity_service_response_time_seconds{{{SEL}}}",
        unit="s",
        description="Response time per service, as /dashboard-data reports it.",
        legend="{{service}}",
    ),
)
