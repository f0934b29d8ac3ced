"""The counting engine: a million lines with a known answer, and counts that add up."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporters.security import parse_logs
from exporters.security.detect import BruteForcePolicy
from exporters.security.engine import DEFAULT_EVENTS, SKIP_REASONS, Engine, LogConfig, Snapshot
from exporters.security.parse import FieldMap, parse_combined

T0 = 1_714_560_000  # 2024-05-01T10:40:00Z


def json_log(name: str = "app") -> LogConfig:
    return LogConfig(name, "/unused", "json", fields=FieldMap.for_format("json"))


def feed(engine: Engine, data: bytes, log: str = "app", block: int = 1 << 20) -> None:
    """Feed complete lines in blocks, as the tailer does."""
    start = 0
    while start < len(data):
        end = data.rfind(b"\n", start, start + block)
        end = len(data) - 1 if end == -1 else end
        engine.process(log, data[start : end + 1])
        start = end + 1


def line(**fields: object) -> str:
    return json.dumps(fields, separators=(",", ":"))


# One period of 20 lines with known contributions; the million-line log repeats it.
PERIOD = [
    line(
        time=T0, ip="10.0.0.1", path="/api/v1/items/1", query="page=1", status=200, ua="Mozilla/5.0"
    ),
    line(time=T0, ip="10.0.0.2", path="/api/v1/items/2", status=200, user_agent="curl/8.0"),
    line(time=T0, ip="10.0.0.3", path="/login", status=401),
    line(time=T0, ip="10.0.0.4", path="/admin", status=403),
    line(time=T0, ip="10.0.0.5", path="/api", status=429),
    line(time=T0, ip="10.0.0.6", path="/q", query="id=1%27%20UNION%20SELECT%201--", status=200),
    line(time=T0, ip="10.0.0.7", path="/../../etc/passwd", status=404),
    line(time=T0, ip="10.0.0.8", path="/", user_agent="sqlmap/1.7", status=200),
    line(time=T0, ip="10.0.0.9", event="login_failed", reason="wrong_password", user="bob"),
    line(time=T0, ip="10.0.0.9", event="role_changed", role="admin", user="bob"),
    line(time=T0, ip="10.0.0.9", event="role_changed", role="viewer", user="bob"),
    line(time=T0, event="token_revoked", user="bob"),
    line(time=T0, event="config_changed", user="ops"),
    line(time=T0, ip="10.0.0.10", tenant="acme", target_tenant="globex", path="/t/globex"),
    line(time=T0, ip="10.0.0.10", tenant="acme", target_tenant="acme", path="/t/acme"),
    line(time=T0, msg="user signup", body="password=hunter22&card=4111111111111111"),
    "this is not json",
    '{"unterminated": ',
    "",  # blank: not a line
    line(time=T0, ip="10.0.0.11", path="/search", query="q=%3Cscript%3E", status=200),
]
PERIODS = 50_000  # 20 x 50,000 = 1,000,000 physical lines, 950,000 non-blank


@pytest.mark.slow
def test_a_million_lines_give_exactly_the_known_counts() -> None:
    engine = Engine(
        (json_log(),), BruteForcePolicy(failures=5, window_seconds=300), clock=lambda: T0 + 1.0
    )
    data = ("\n".join(PERIOD * PERIODS) + "\n").encode()
    feed(engine, data)
    assert_known_counts(engine.snapshot(), PERIODS)


def assert_known_counts(snap: Snapshot, n: int, log: str = "app") -> None:
    """What ``n`` periods of ``PERIOD`` must count, exactly."""
    assert snap.logs[log].lines == 19 * n
    assert snap.logs[log].skipped == {**dict.fromkeys(SKIP_REASONS, 0), "parse_error": 2 * n}
    assert snap.denied == {"401": n, "403": n}
    assert snap.rate_limited == n
    assert snap.auth_failures["http_401"] == n
    assert snap.auth_failures["bad_password"] == n
    assert sum(snap.auth_failures.values()) == 2 * n
    assert snap.attacks == {
        "sql_injection": n,
        "xss": n,
        "path_traversal": n,
        "command_injection": 0,
        "auth_bypass": 0,
        "scanner": n,
    }
    assert snap.privilege_escalations == n
    assert snap.token_revocations == n
    assert snap.config_changes == {"deploy_pipeline": 0, "change_window": 0, "unplanned": n}
    assert snap.cross_tenant == n
    assert snap.sensitive["password"] == n
    assert snap.sensitive["card_number"] == n
    # 10.0.0.3 and 10.0.0.9 fail once per period, all at the same second: each crosses 5
    # failures once and then stays offending (no second detection while it goes on).
    assert snap.brute_force_detections == 2
    assert snap.brute_force_tracked == 2
    assert snap.brute_force_sources == 2
    # Each notable line is one event, in one category: the two failures that start the
    # brute-force runs are brute_force events, not also auth_failure ones; the 401 is not
    # also access_denied; the signup's password and card number make one event.
    assert snap.events == {
        "auth_failure": 2 * n - 2,
        "access_denied": n,
        "rate_limited": n,
        "attack": 4 * n,
        "brute_force": 2,
        "privilege_escalation": n,
        "token_revocation": n,
        "config_change": n,
        "cross_tenant": n,
        "sensitive_data": n,
    }


def test_blocks_cut_anywhere_between_lines_give_the_same_counts() -> None:
    data = ("\n".join(PERIOD * 50) + "\n").encode()
    whole, pieces = Engine((json_log(),)), Engine((json_log(),))
    feed(whole, data)
    feed(pieces, data, block=97)
    assert whole.snapshot() == pieces.snapshot()


def test_invalid_utf8_and_too_long_lines_are_counted_by_reason_and_the_rest_still_count() -> None:
    engine = Engine((json_log(),), max_line_chars=200)
    data = b"\n".join(
        [
            line(status=401, ip="10.0.0.1").encode(),
            b'{"status": 403, "ip": "\xff\xfe"}',
            line(status=403, path="x" * 300).encode(),
            line(status=429).encode(),
        ]
    )
    engine.process("app", data + b"\n")
    snap = engine.snapshot()
    assert snap.logs["app"].lines == 4
    assert snap.logs["app"].skipped["invalid_utf8"] == 1
    assert snap.logs["app"].skipped["too_long"] == 1
    assert snap.denied == {"401": 1, "403": 0}
    assert snap.rate_limited == 1


def test_a_field_of_the_wrong_type_loses_only_its_own_check_and_is_counted() -> None:
    engine = Engine((json_log(),))
    data = "\n".join(
        [
            # a list where the path should be: the 401 still counts, the path is not checked
            json.dumps({"status": 401, "ip": "10.0.0.1", "path": ["/etc/passwd"]}),
            # an object where the status should be: the attack in the query still counts
            json.dumps({"status": {"code": 403}, "query": "id=1 UNION SELECT 1"}),
            # an object as the user agent, beside a traversal in the path
            json.dumps({"path": "/../../etc/passwd", "user_agent": {"name": "sqlmap"}}),
            json.dumps({"status": 403, "path": "/ok"}),
        ]
    )
    engine.process("app", data.encode() + b"\n")
    snap = engine.snapshot()
    counts = snap.logs["app"]
    assert counts.lines == 4
    assert counts.bad_field == 3
    assert sum(counts.skipped.values()) == 0
    assert snap.denied == {"401": 1, "403": 1}
    assert snap.auth_failures["http_401"] == 1
    assert snap.attacks["sql_injection"] == 1
    assert snap.attacks["path_traversal"] == 1
    assert snap.attacks["scanner"] == 0


def test_a_list_or_object_in_an_event_tenant_or_failure_field_is_counted_as_a_bad_field() -> None:
    engine = Engine((json_log(),), BruteForcePolicy(failures=1))
    data = "\n".join(
        [
            json.dumps({"event": ["login_failed"], "ip": "10.0.0.1"}),  # no category: skipped
            json.dumps({"tenant": {"id": "acme"}, "target_tenant": "globex"}),
            # the failure counts, with reason other; the source falls back to the user
            json.dumps(
                {"event": "login_failed", "reason": ["x"], "ip": {"v4": "10.0.0.2"}, "user": "bob"}
            ),
            json.dumps({"event": "role_changed", "role": {"name": "admin"}}),
            json.dumps({"status": 401, "ip": "10.0.0.3", "time": [1]}),  # time falls back to now
            # the right types, and numbers where text is expected, are not bad fields
            json.dumps({"event": 7, "tenant": "acme", "target_tenant": "globex", "status": 403}),
            json.dumps({"event": "login_failed", "reason": 3, "ip": 4, "user": "ann"}),
        ]
    )
    engine.process("app", data.encode() + b"\n")
    snap = engine.snapshot()
    assert snap.logs["app"].bad_field == 5
    assert snap.auth_failures == {**dict.fromkeys(snap.auth_failures, 0), "other": 2, "http_401": 1}
    assert snap.brute_force_detections == 3  # user:bob, 10.0.0.3, user:ann
    assert snap.cross_tenant == 1
    assert snap.privilege_escalations == 0


def test_custom_field_names_and_event_names_come_from_the_config() -> None:
    fields = FieldMap.for_format("json", {"source": "client", "event": "action", "status": "code"})
    events = {**DEFAULT_EVENTS, "sso_denied": "auth_failure", "grant": "privilege_escalation"}
    engine = Engine((LogConfig("sso", "/unused", "json", fields=fields, events=events),))
    engine.process(
        "sso",
        b'{"client": "10.1.1.1", "action": "sso_denied"}\n{"action": "grant"}\n{"code": "401"}\n',
    )
    snap = engine.snapshot()
    assert snap.auth_failures["other"] == 1
    assert snap.auth_failures["http_401"] == 1
    assert snap.privilege_escalations == 1


def test_the_offending_sources_gauge_follows_the_clock() -> None:
    now = [float(T0)]
    engine = Engine(
        (json_log(),), BruteForcePolicy(failures=3, window_seconds=60), clock=lambda: now[0]
    )
    detected: list[str] = []
    engine.on_detection = lambda source, when: detected.append(source)
    text = "".join(line(ip="192.0.2.7", status=401, time=T0 + i) + "\n" for i in range(3))
    engine.process("app", text.encode())
    assert detected == ["192.0.2.7"]
    now[0] = T0 + 30
    assert engine.snapshot().brute_force_sources == 1
    now[0] = T0 + 61
    assert engine.snapshot().brute_force_sources == 0


LINES = st.one_of(
    st.text(max_size=120).map(lambda s: s.replace("\n", " ").encode("utf-8", "surrogatepass")),
    st.binary(max_size=120).map(lambda b: b.replace(b"\n", b" ")),
    st.dictionaries(
        st.sampled_from(["ip", "status", "event", "path", "query", "tenant", "target_tenant"]),
        st.one_of(
            st.integers(),
            st.text(max_size=30),
            st.sampled_from([401, 403, 429, "login_failed", "role_changed", "../etc/passwd"]),
            st.lists(st.integers(), max_size=2),
            st.none(),
        ),
    ).map(lambda d: json.dumps(d).encode()),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(LINES, max_size=40))
def test_any_bytes_are_counted_without_raising_and_the_counts_add_up(lines: list[bytes]) -> None:
    engine = Engine((json_log(),))
    engine.process("app", b"\n".join(lines) + b"\n")
    snap = engine.snapshot()
    expected_lines = invalid = 0
    for raw in lines:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            invalid += 1
            continue
        expected_lines += bool(text) and not text.isspace()
    counts = snap.logs["app"]
    assert counts.lines == expected_lines + invalid
    assert counts.skipped["invalid_utf8"] == invalid
    parsed = counts.lines - sum(counts.skipped.values())
    assert parsed >= 0
    assert sum(snap.denied.values()) + snap.rate_limited <= parsed
    assert snap.events["attack"] <= parsed
    assert snap.events["auth_failure"] <= sum(snap.auth_failures.values())
    assert sum(snap.events.values()) <= counts.lines


def test_a_failure_dated_in_the_future_offends_only_for_the_window_from_now() -> None:
    now = [float(T0)]
    engine = Engine(
        (json_log(),), BruteForcePolicy(failures=3, window_seconds=60), clock=lambda: now[0]
    )
    skewed = T0 + 86_400  # a writer whose clock is a day ahead
    text = "".join(line(ip="192.0.2.8", status=401, time=skewed + i) + "\n" for i in range(3))
    engine.process("app", text.encode())
    assert engine.snapshot().brute_force_detections == 1
    assert engine.snapshot().brute_force_sources == 1
    now[0] = T0 + 61
    assert engine.snapshot().brute_force_sources == 0  # not for a day
    assert engine.snapshot().brute_force_tracked == 0


STATUSES = (200, 201, 301, 304, 400, 401, 403, 404, 429, 500, 503)
REQUEST_TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters='"\\ '), max_size=40
)


def combined_line(ip: str, path: str, status: int, agent: str) -> str:
    return (
        f'{ip} - - [01/May/2024:10:40:00 +0000] "GET /{path} HTTP/1.1" {status} 512 '
        f'"-" "{agent}"'
    )


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.ip_addresses().map(str),
            REQUEST_TEXT,
            st.sampled_from(STATUSES),
            REQUEST_TEXT,
        ),
        max_size=40,
    ),
    st.lists(st.text(max_size=60).map(lambda s: s.replace("\n", " ")), max_size=5),
)
def test_combined_lines_count_exactly_their_statuses_and_garbage_only_as_parse_errors(
    requests: list[tuple[str, str, int, str]], garbage: list[str]
) -> None:
    config = LogConfig("nginx", "/unused", "combined", fields=FieldMap.for_format("combined"))
    engine = Engine((config,), BruteForcePolicy(failures=1_000))
    good = [combined_line(*request) for request in requests]
    bad = [g for g in garbage if g.strip() and parse_combined(g) is None]
    engine.process("nginx", ("\n".join(good + bad) + "\n").encode("utf-8", "surrogatepass"))
    snap = engine.snapshot()
    statuses = [status for _, _, status, _ in requests]
    assert snap.logs["nginx"].lines == len(good) + len(bad)
    assert snap.logs["nginx"].skipped["parse_error"] == len(bad)
    assert snap.denied == {"401": statuses.count(401), "403": statuses.count(403)}
    assert snap.rate_limited == statuses.count(429)
    assert snap.auth_failures["http_401"] == statuses.count(401)
    assert snap.events["auth_failure"] <= sum(snap.auth_failures.values())
    assert sum(snap.events.values()) <= len(good)


def test_a_user_regex_log_counts_events_reasons_and_brute_force_from_its_groups() -> None:
    (config,) = parse_logs(
        [
            {
                "name": "sshd",
                "path": "/unused",
                "format": "regex",
                "pattern": r"^(?P<when>\S+) sshd: (?P<what>\w+) for (?P<who>\S+) from (?P<addr>\S+)"
                r"(?: reason=(?P<why>\w+))?",
                "fields": {
                    "time": "when",
                    "event": "what",
                    "user": "who",
                    "source": "addr",
                    "reason": "why",
                },
                "events": {"Failed": "auth_failure", "Refused": "access_denied"},
            }
        ]
    )
    engine = Engine((config,), BruteForcePolicy(failures=3, window_seconds=60), clock=lambda: T0)
    text = "".join(
        f"2024-05-01T10:39:{i:02d}+00:00 sshd: Failed for root from 198.51.100.{i % 2} "
        f"reason={'invalid_password' if i % 2 else 'no_such_user'}\n"
        for i in range(6)
    )
    text += "2024-05-01T10:39:59+00:00 sshd: Refused for alice from 198.51.100.9\n"
    text += "kernel: something else entirely\n"
    engine.process("sshd", text.encode())
    snap = engine.snapshot()
    assert snap.logs["sshd"].lines == 8
    assert snap.logs["sshd"].skipped["parse_error"] == 1
    assert snap.auth_failures["bad_password"] == 3
    assert snap.auth_failures["unknown_user"] == 3
    assert snap.events["access_denied"] == 1
    assert snap.brute_force_detections == 2  # both sources reach 3 failures in a minute


def test_an_attack_in_a_query_field_of_its_own_is_counted_in_json_and_combined_logs() -> None:
    nginx = LogConfig("nginx", "/unused", "combined", fields=FieldMap.for_format("combined"))
    engine = Engine((json_log(), nginx))
    engine.process("app", (line(path="/api/private", query="is_admin=true") + "\n").encode())
    engine.process(
        "nginx",
        b'198.51.100.2 - - [01/May/2024:10:40:00 +0000] "GET /users?role=admin HTTP/1.1" '
        b'200 1 "-" "curl/8.0"\n',
    )
    snap = engine.snapshot()
    assert snap.attacks["auth_bypass"] == 2
    assert snap.events["attack"] == 2
