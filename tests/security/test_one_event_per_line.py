"""One log line is one event in one category: no line is counted twice by the alerts.

Alerts add the categories of ``events_total`` together (SecurityEventsHigh) and the
reasons of ``auth_failures_total`` (SecurityAuthFailuresHigh); a line counted in two
categories made 51 failed logins look like 102 security events. Lines generated from
every field that makes a line notable, fed one at a time, each move every counter an
alert reads by at most one, and a notable line is exactly one event.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from exporters.security.change import ChangePolicy, ChangeWindow
from exporters.security.detect import BruteForcePolicy
from exporters.security.engine import DEFAULT_EVENTS, Engine, LogConfig, Snapshot
from exporters.security.parse import FieldMap

T0 = 1_714_560_000  # 2024-05-01T10:40:00Z, a Wednesday


def engine(failures: int = 2) -> Engine:
    config = LogConfig("app", "/unused", "json", fields=FieldMap.for_format("json"))
    return Engine(
        (config,),
        BruteForcePolicy(failures=failures, window_seconds=300),
        clock=lambda: T0 + 60.0,
        changes=ChangePolicy(deployers=frozenset({"deploy-bot"})),
    )


FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "ip": st.sampled_from(["198.51.100.1", "198.51.100.2", "-"]),
    "status": st.sampled_from([200, 401, 403, 429, "401", "403", 404, 500]),
    "event": st.sampled_from([*sorted(DEFAULT_EVENTS), "page_view", "role_changed"]),
    "reason": st.sampled_from(["wrong_password", "no_such_user", "mystery"]),
    "role": st.sampled_from(["admin", "viewer", "root"]),
    "user": st.sampled_from(["alice", "deploy-bot", "-"]),
    "tenant": st.sampled_from(["acme", "globex"]),
    "target_tenant": st.sampled_from(["acme", "globex", "initech"]),
    "path": st.sampled_from(["/api/items", "/../../etc/passwd", "/login", "/search"]),
    "query": st.sampled_from(["page=2", "id=1%27%20UNION%20SELECT%201--", "q=%3Cscript%3E"]),
    "user_agent": st.sampled_from(["Mozilla/5.0", "sqlmap/1.7", "nikto"]),
    "body": st.sampled_from(["name=bob", "password=hunter22&card=4111111111111111"]),
    "msg": st.sampled_from(["ok", "api_key=abcdefghijklmnop0123 token bearer " + "x" * 24]),
}
LINES = st.fixed_dictionaries({}, optional={**FIELDS, "time": st.integers(T0 - 120, T0 + 60)}).map(
    lambda fields: json.dumps(fields)
)


def signals(snap: Snapshot) -> dict[str, int]:
    """What alerts read, each as one number per line's worth of change."""
    return {
        "events": sum(snap.events.values()),
        "auth_failures": sum(snap.auth_failures.values()),
        "denied": sum(snap.denied.values()),
        "rate_limited": snap.rate_limited,
        "attacks": sum(snap.attacks.values()),
        "cross_tenant": snap.cross_tenant,
        "privilege_escalations": snap.privilege_escalations,
        "token_revocations": snap.token_revocations,
        "config_changes": sum(snap.config_changes.values()),
        "unplanned_changes": snap.config_changes["unplanned"],
    }


@settings(max_examples=300, deadline=None)
@given(st.lists(LINES, min_size=1, max_size=30))
def test_each_line_moves_each_summed_counter_by_at_most_one_and_is_at_most_one_event(
    lines: list[str],
) -> None:
    counting = engine()
    before = signals(counting.snapshot())
    secrets_before = sum(counting.snapshot().sensitive.values())
    events_before = dict(counting.snapshot().events)
    for text in lines:
        counting.process("app", (text + "\n").encode())
        snap = counting.snapshot()
        after = signals(snap)
        moved = {name: after[name] - before[name] for name in after}
        secrets = sum(snap.sensitive.values()) - secrets_before
        categories = [c for c in snap.events if snap.events[c] != events_before[c]]
        assert len(categories) <= 1, (text, categories)
        for name, delta in moved.items():
            assert 0 <= delta <= 1, (text, name, delta)
        # A line that moved any signal an alert reads (a planned change moves none) is
        # exactly one event; others (an access_denied event field alone) at most one.
        notable = secrets > 0 or any(
            delta for name, delta in moved.items() if name not in ("events", "config_changes")
        )
        assert moved["events"] == 1 if notable else moved["events"] <= 1, (text, moved)
        before, events_before = after, dict(snap.events)
        secrets_before = sum(snap.sensitive.values())


def test_fifty_one_failed_logins_answered_401_are_fifty_one_events_not_a_hundred_and_two() -> None:
    counting = engine(failures=1_000)
    block = "".join(
        json.dumps(
            {"ip": f"198.51.100.{i}", "status": 401, "event": "login_failed",
             "reason": "wrong_password", "time": T0}
        ) + "\n"
        for i in range(51)
    )  # fmt: skip
    counting.process("app", block.encode())
    snap = counting.snapshot()
    assert sum(snap.auth_failures.values()) == 51
    assert snap.denied["401"] == 51  # the response code is still counted, as a code
    assert snap.events == {**dict.fromkeys(snap.events, 0), "auth_failure": 51}
    assert sum(snap.events.values()) == 51  # under SecurityEventsHigh's 100


def test_one_line_that_is_several_things_is_counted_in_its_most_serious_category() -> None:
    counting = engine(failures=1_000)
    lines = [
        # a failed login that also wrote the password: an auth failure, not a leak event
        {"ip": "198.51.100.9", "status": 401, "body": "password=hunter22"},
        # a cross-tenant request carrying an injection: cross_tenant
        {"tenant": "acme", "target_tenant": "globex", "query": "id=1 UNION SELECT 1"},
        # a 429 that is also a rate_limited event: one rate-limited request
        {"status": 429, "event": "rate_limited"},
        # sqlmap's user agent and its payload: one sql_injection attack
        {"query": "id=1 UNION SELECT 1", "user_agent": "sqlmap/1.7", "status": 403},
    ]
    counting.process("app", "".join(json.dumps(line) + "\n" for line in lines).encode())
    snap = counting.snapshot()
    assert snap.events == {
        **dict.fromkeys(snap.events, 0),
        "auth_failure": 1,
        "cross_tenant": 1,
        "rate_limited": 1,
        "attack": 1,
    }
    assert snap.rate_limited == 1
    assert snap.sensitive["password"] == 1  # the secret itself is still counted, by kind
    assert snap.attacks == {**dict.fromkeys(snap.attacks, 0), "sql_injection": 2}


def test_a_secret_on_a_line_that_does_not_parse_is_still_one_event() -> None:
    counting = engine()
    counting.process("app", b"not json password=hunter22 card 4111 1111 1111 1111\nplain\n")
    snap = counting.snapshot()
    assert snap.sensitive["password"] == 1 and snap.sensitive["card_number"] == 1
    assert snap.events["sensitive_data"] == 1
    assert snap.logs["app"].skipped["parse_error"] == 2


def test_a_change_by_the_deploy_pipeline_or_inside_a_change_window_is_not_drift() -> None:
    config = LogConfig("app", "/unused", "json", fields=FieldMap.for_format("json"))
    counting = Engine(
        (config,),
        clock=lambda: T0 + 86_400.0,
        changes=ChangePolicy(
            deployers=frozenset({"deploy-bot"}),
            windows=(ChangeWindow.parse("Wed 10:00-11:00"),),
        ),
    )
    lines = [
        {"event": "config_changed", "user": "deploy-bot", "time": T0 - 7200},  # the pipeline
        {"event": "config_changed", "user": "alice", "time": T0},  # Wednesday 10:40 UTC
        {"event": "config_changed", "user": "alice", "time": T0 + 3600},  # 11:40: drift
        {"event": "settings_changed", "time": T0 + 86_400},  # Thursday, nobody: drift
    ]
    counting.process("app", "".join(json.dumps(line) + "\n" for line in lines).encode())
    snap = counting.snapshot()
    assert snap.config_changes == {"deploy_pipeline": 1, "change_window": 1, "unplanned": 2}
    assert snap.events == {**dict.fromkeys(snap.events, 0), "config_change": 2}
