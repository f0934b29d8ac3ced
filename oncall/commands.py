"""The four on-call commands: each reads from the servers, prints to ``out`` and returns
the exit status. Checks of the input come first, so bad input never reaches a server."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TextIO

from oncall.ack import MOST_ACK_SECONDS, parse_matchers, plan_ack
from oncall.api import Alertmanager, HTTPStatusError, Prometheus
from oncall.durations import format_duration, format_time, parse_duration, rfc3339
from oncall.errors import OncallError
from oncall.history import (
    FIRING_QUERY,
    FOR_STATE_QUERY,
    MOST_HISTORY_SECONDS,
    Episode,
    acks_for,
    build_episodes,
    choose_step,
)
from oncall.model import (
    Alert,
    Matcher,
    Silence,
    compact_labels,
    format_labels,
    matching,
    severity_rank,
)

ESCALATION_NOTE = (
    "The escalation to management is muted too: the escalation is this same alert, sent "
    "to the management receiver after a delay by a second route, so this one silence "
    "covers both."
)


def _table(rows: Sequence[Sequence[str]], out: TextIO) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.write(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n"
        )


# alerts -----------------------------------------------------------------------------------


def alert_state(alert: Alert, silences: Mapping[str, Silence]) -> tuple[str, Silence | None]:
    """``active``, ``acknowledged by A until T (comment)``, ``silenced`` or
    ``inhibited``; and the ack silence, if any."""
    acks = [silences[s] for s in alert.silenced_by if s in silences and silences[s].is_ack]
    if acks:
        ack = max(acks, key=lambda s: s.ends_at)
        until = format_time(ack.ends_at)
        return f"acknowledged by {ack.created_by} until {until} ({ack.reason})", ack
    if alert.silenced_by:
        return "silenced", None
    if alert.inhibited_by:
        return "inhibited", None
    return "active", None


def sort_alerts(alerts: Sequence[Alert]) -> list[Alert]:
    """Critical first, then the oldest first."""
    return sorted(alerts, key=lambda a: (-severity_rank(a.severity), a.starts_at, a.name))


def alerts(
    am: Alertmanager,
    *,
    team: str | None,
    severity: str | None,
    matcher_texts: Sequence[str],
    as_json: bool,
    now: datetime,
    out: TextIO,
) -> int:
    matchers: list[Matcher] = parse_matchers(matcher_texts)
    if team:
        matchers.append(Matcher("team", team))
    if severity:
        matchers.append(Matcher("severity", severity))
    shown = sort_alerts(matching(am.alerts(), matchers))
    silences = {s.id: s for s in am.silences()} if any(a.silenced_by for a in shown) else {}
    if as_json:
        rows = []
        for alert in shown:
            state, ack = alert_state(alert, silences)
            rows.append(
                {
                    "alertname": alert.name,
                    "severity": alert.severity,
                    "team": alert.labels.get("team", ""),
                    "instance": alert.labels.get("instance", ""),
                    "labels": dict(alert.labels),
                    "startsAt": rfc3339(alert.starts_at),
                    "age_seconds": int((now - alert.starts_at).total_seconds()),
                    "state": state.split(" ")[0],
                    "acknowledgement": None if ack is None else _ack_json(ack),
                    "silencedBy": list(alert.silenced_by),
                    "inhibitedBy": list(alert.inhibited_by),
                }
            )
        json.dump(rows, out, indent=2)
        out.write("\n")
        return 0
    if not shown:
        out.write(f"Nothing is firing ({am.url}).\n")
        return 0
    rows_text = [["ALERTNAME", "SEVERITY", "TEAM", "INSTANCE", "AGE", "STATE", "OTHER LABELS"]]
    for alert in shown:
        rows_text.append(
            [
                alert.name,
                alert.severity,
                alert.labels.get("team", ""),
                alert.labels.get("instance", ""),
                format_duration((now - alert.starts_at).total_seconds()),
                alert_state(alert, silences)[0],
                compact_labels(alert.other_labels),
            ]
        )
    _table(rows_text, out)
    return 0


def _ack_json(ack: Silence) -> dict[str, Any]:
    return {
        "silence_id": ack.id,
        "author": ack.created_by,
        "comment": ack.reason,
        "from": rfc3339(ack.starts_at),
        "until": rfc3339(ack.ends_at),
    }


# ack and unack -----------------------------------------------------------------------------


def ack(
    am: Alertmanager,
    *,
    alertname: str,
    matcher_texts: Sequence[str],
    for_text: str,
    comment: str,
    author: str,
    all_matching: bool,
    now: datetime,
    out: TextIO,
) -> int:
    seconds = parse_duration(for_text, what="--for", most_seconds=MOST_ACK_SECONDS)
    label_matchers = parse_matchers(matcher_texts)
    if not comment.strip():  # checked here too, before anything is read from a server
        raise OncallError("--comment must say why you acknowledge (e.g. 'on it, OPS-123')")
    plan = plan_ack(
        am.alerts(),
        alertname,
        label_matchers,
        seconds=seconds,
        comment=comment,
        author=author,
        all_matching=all_matching,
        now=now,
    )
    silence_id = am.create_silence(
        [m.to_json() for m in plan.matchers],
        plan.starts_at,
        plan.ends_at,
        plan.created_by,
        plan.comment,
    )
    count = len(plan.alerts)
    out.write(
        f"Acknowledged {count} alert{'s' if count != 1 else ''} as {plan.created_by} until "
        f"{format_time(plan.ends_at)} ({format_duration(seconds)}), silence {silence_id} "
        f"on {am.url}:\n"
    )
    for alert in plan.alerts:
        out.write(f"  {format_labels(alert.labels)}\n")
    if any(alert.labels.get("severity") == "critical" for alert in plan.alerts):
        out.write(f"{ESCALATION_NOTE}\n")  # only critical alerts escalate
    out.write(f"To undo: promfleet-oncall unack {silence_id}\n")
    return 0


def unack(am: Alertmanager, *, silence_id: str, out: TextIO) -> int:
    try:
        silence = am.silence(silence_id)
    except HTTPStatusError as err:
        raise OncallError(
            f"no silence {silence_id!r} on {am.url} (HTTP {err.status}); "
            "`promfleet-oncall alerts` shows the acks in force"
        ) from err
    if silence.state == "expired":
        raise OncallError(
            f"silence {silence_id} has already expired ({format_time(silence.ends_at)}): "
            f"{silence.describe()}"
        )
    am.expire_silence(silence_id)
    kind = "acknowledgement" if silence.is_ack else "silence (not an ack)"
    out.write(f"Expired {kind} {silence_id}: {silence.describe()}\n")
    return 0


# history ------------------------------------------------------------------------------------


def _selector_value(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def history(
    prometheus: Prometheus,
    am: Alertmanager,
    *,
    since_text: str,
    alert: str | None,
    as_json: bool,
    now: datetime,
    out: TextIO,
    err: TextIO,
) -> int:
    since = parse_duration(since_text, what="--since", most_seconds=MOST_HISTORY_SECONDS)
    step = choose_step(since)
    end = now.timestamp()
    start = end - step * (since // step)  # the grid ends exactly at now
    firing_query, for_state_query = FIRING_QUERY, FOR_STATE_QUERY
    if alert:
        name = _selector_value(alert)
        firing_query = f'timestamp(ALERTS{{alertstate="firing", alertname={name}}})'
        for_state_query = f"ALERTS_FOR_STATE{{alertname={name}}}"
    firing = prometheus.query_range(firing_query, start, end, step)
    for_state = prometheus.query_range(for_state_query, start, end, step)
    episodes = build_episodes(
        firing, for_state, prometheus.alerting_rules(), start=start, end=end, step=step
    )
    silences: list[Silence] | None
    try:
        silences = am.silences()
    except OncallError as error:
        silences = None
        err.write(f"warning: acknowledgements unknown: {error}\n")
    acked = [None if silences is None else acks_for(e, silences, now) for e in episodes]
    if as_json:
        json.dump(
            [_episode_json(e, a, now) for e, a in zip(episodes, acked, strict=True)], out, indent=2
        )
        out.write("\n")
        return 0
    if not episodes:
        what = f"{alert} has" if alert else "nothing has"
        out.write(f"{what} fired in the last {format_duration(since)}.\n")
        return 0
    rows = [["STARTED", "ENDED", "DURATION", "ALERTNAME", "SEVERITY", "TEAM", "INSTANCE", "ACK"]]
    for episode, acks in zip(episodes, acked, strict=True):
        rows.append(
            [
                format_time(episode.started),
                "firing" if episode.ended is None else format_time(episode.ended),
                format_duration(episode.duration_seconds(now)),
                episode.name,
                episode.labels.get("severity", ""),
                episode.labels.get("team", ""),
                episode.labels.get("instance", ""),
                "unknown"
                if acks is None
                else "; ".join(f"{s.created_by} ({s.reason})" for s in acks) or "-",
            ]
        )
    _table(rows, out)
    if any(not e.exact for e in episodes):
        out.write(f"(times are good to one query step, {format_duration(step)})\n")
    return 0


def _episode_json(episode: Episode, acks: list[Silence] | None, now: datetime) -> dict[str, Any]:
    return {
        "alertname": episode.name,
        "severity": episode.labels.get("severity", ""),
        "team": episode.labels.get("team", ""),
        "instance": episode.labels.get("instance", ""),
        "labels": dict(episode.labels),
        "started": rfc3339(episode.started),
        "ended": None if episode.ended is None else rfc3339(episode.ended),
        "firing": episode.ended is None,
        "duration_seconds": round(episode.duration_seconds(now), 3),
        "exact": episode.exact,
        "acknowledged_by": None if acks is None else [_ack_json(s) for s in acks],
    }
