"""Who gets what: the receivers, the (team, severity) -> receiver table, and how urgently
each severity is delivered. Rendered to ``alertmanager/alertmanager.yml``.

Secrets are never here: each receiver's secret lives in a file,
``<secrets_dir>/<receiver>.<key>`` (see ``generator.render.alertmanager``).
"""

from __future__ import annotations

from generator.model import Receiver, RoutingPolicy, Severity, SeverityPolicy, Team

RECEIVERS: tuple[Receiver, ...] = (
    # Critical for the operations team: pages the on-call engineer.
    Receiver("ops-pager", "pagerduty"),
    # Warnings for the operations team: the team channel.
    Receiver("ops-chat", "slack", (("channel", "#ops-alerts"),)),
    # Critical for engineering: their on-call rota lives in Opsgenie.
    Receiver("engineering-pager", "opsgenie", (("team", "engineering"),)),
    Receiver("engineering-chat", "slack", (("channel", "#engineering-alerts"),)),
    # Security alerts go to the SIEM's webhook, which opens an incident.
    Receiver("security-siem", "webhook", (("url", "https://siem.example.org/hooks/promfleet"),)),
    Receiver(
        "management-email",
        "email",
        (
            ("to", "service-owners@example.org"),
            ("from", "alertmanager@example.org"),
            ("smarthost", "smtp.example.org:587"),
            ("auth_username", "alertmanager@example.org"),
        ),
    ),
    # Every team's info alerts, once a day.
    Receiver(
        "daily-digest",
        "email",
        (
            ("to", "monitoring-digest@example.org"),
            ("from", "alertmanager@example.org"),
            ("smarthost", "smtp.example.org:587"),
            ("auth_username", "alertmanager@example.org"),
        ),
    ),
    # The Watchdog heartbeat: an external service pages when it stops arriving.
    Receiver(
        "deadmans-switch",
        "webhook",
        (("url", "https://deadmans-switch.example.org/ping/promfleet"),),
        send_resolved=False,
    ),
)

ROUTES: tuple[tuple[Team, Severity, str], ...] = (
    (Team.OPS, Severity.CRITICAL, "ops-pager"),
    (Team.OPS, Severity.WARNING, "ops-chat"),
    (Team.OPS, Severity.INFO, "daily-digest"),
    (Team.ENGINEERING, Severity.CRITICAL, "engineering-pager"),
    (Team.ENGINEERING, Severity.WARNING, "engineering-chat"),
    (Team.ENGINEERING, Severity.INFO, "daily-digest"),
    (Team.SECURITY, Severity.CRITICAL, "security-siem"),
    (Team.SECURITY, Severity.WARNING, "security-siem"),
    (Team.SECURITY, Severity.INFO, "daily-digest"),
    (Team.MANAGEMENT, Severity.CRITICAL, "management-email"),
    (Team.MANAGEMENT, Severity.WARNING, "management-email"),
    (Team.MANAGEMENT, Severity.INFO, "daily-digest"),
)

POLICY = RoutingPolicy(
    receivers=RECEIVERS,
    routes=ROUTES,
    severities=(
        # Critical: at once (a few seconds to batch a burst), updates every 5 minutes.
        SeverityPolicy(Severity.CRITICAL, group_wait_seconds=10, group_interval_seconds=300),
        # Warning: within the hour.
        SeverityPolicy(Severity.WARNING, group_wait_seconds=300, group_interval_seconds=900),
        # Info: gathered all day, delivered inside the daily digest window. The
        # group_interval must be well under the window's length, or no flush tick need
        # ever fall inside it and the digest would never be sent.
        SeverityPolicy(
            Severity.INFO, group_wait_seconds=900, group_interval_seconds=300, digest=True
        ),
    ),
    default_receiver="ops-chat",
    deadmans_switch_receiver="deadmans-switch",
)
