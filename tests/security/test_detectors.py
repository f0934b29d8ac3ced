"""Parsers and detectors of the security exporter, on recorded lines and generated input."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporters.security.detect import (
    _PATTERNS,
    ATTACK_KINDS,
    CACHE_VALUE_MAX_CHARS,
    SENSITIVE_KINDS,
    SOURCE_MAX_CHARS,
    BruteForcePolicy,
    BruteForceWindow,
    VerdictCache,
    classify_value,
    is_scanner,
    luhn_ok,
    normalise,
    scan_sensitive,
    source_key,
)
from exporters.security.parse import (
    FieldMap,
    parse_combined,
    parse_json,
    parse_timestamp,
    regex_parser,
)


def sensitive(text: str) -> dict[str, int]:
    counts = dict.fromkeys(SENSITIVE_KINDS, 0)
    scan_sensitive(text.lower(), text.encode(), counts)
    return {k: v for k, v in counts.items() if v}


def test_a_json_line_parses_to_its_object_and_anything_else_to_none() -> None:
    assert parse_json('{"ip": "10.0.0.1", "status": 401}') == {"ip": "10.0.0.1", "status": 401}
    assert parse_json('{"a": 1}  \r') == {"a": 1}
    for bad in ("", "[1, 2]", '{"a": 1} trailing', '{"a": ', "nan", "[" * 100_000, "1" * 5000):
        assert parse_json(bad) is None


def test_a_combined_line_gives_source_path_query_status_and_agent() -> None:
    line = (
        '203.0.113.5 - alice [10/Oct/2024:13:55:36 +0000] "GET /search?q=x%27 HTTP/1.1" '
        '401 512 "https://ref/" "Mozilla/5.0 (sqlmap)"'
    )
    record = parse_combined(line)
    assert record is not None
    assert (record["remote_addr"], record["path"], record["query"], record["status"]) == (
        "203.0.113.5",
        "/search",
        "q=x%27",
        "401",
    )
    assert record["http_user_agent"] == "Mozilla/5.0 (sqlmap)"
    assert parse_combined("not an access log line") is None


def test_a_user_regex_maps_its_named_groups() -> None:
    parse = regex_parser(r"^(?P<when>\S+) (?P<ip>\S+) (?P<event>\w+)")
    assert parse("2024-05-01T00:00:00Z 10.1.1.1 login_failed") == {
        "when": "2024-05-01T00:00:00Z",
        "ip": "10.1.1.1",
        "event": "login_failed",
    }
    with pytest.raises(ValueError, match="named groups"):
        regex_parser(r"\S+")
    with pytest.raises(ValueError, match="unknown field"):
        FieldMap.for_format("regex", {"sauce": "ip"})


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("/items?id=1%27%20UNION%20SELECT%20password%20FROM%20users--", "sql_injection"),
        ("/login?user=admin&pass=x' or '1'='1", "sql_injection"),
        ("/search?q=%3Cscript%3Ealert(1)%3C/script%3E", "xss"),
        ("/p?x=<img src=x onerror=alert(1)>", "xss"),
        ("/static/../../etc/passwd", "path_traversal"),
        ("/download?f=%252e%252e%252fetc%252fpasswd", "path_traversal"),
        ("/etc/passwd", "path_traversal"),
        ("/ping?host=127.0.0.1;cat /etc/shadow", "command_injection"),
        ("/x?cmd=$(whoami)", "command_injection"),
        ("/admin..;/users", "auth_bypass"),
        ("/api/private?is_admin=true", "auth_bypass"),
    ],
)
def test_an_attack_in_a_request_field_is_found_by_kind(value: str, kind: str) -> None:
    assert kind in classify_value(value)


@pytest.mark.parametrize(
    "value",
    [
        "/api/v1/users/1234",
        "page=2&sort=name&order=asc",
        "/static/app.min.js",
        "/blog/2024/05/how-to-select-a-database",
        "/docs/user-guide/commands#id",
        "q=rock+and+roll&lang=en",
    ],
)
def test_an_ordinary_request_field_is_not_an_attack(value: str) -> None:
    assert classify_value(value) == ()


def test_scanner_user_agents_are_recognised_and_browsers_are_not() -> None:
    assert is_scanner("sqlmap/1.7.2#stable (https://sqlmap.org)")
    assert is_scanner("Mozilla/5.00 (Nikto/2.1.6)")
    assert not is_scanner("Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0")


def test_secrets_in_logs_are_counted_by_kind_and_masked_values_are_not() -> None:
    line = json.dumps(
        {
            "msg": "login",
            "password": "hunter22",
            "api_key": "a1b2c3d4e5f6a7b8c9d0",
            "card": "4111 1111 1111 1111",
            "auth": "Bearer abcdefghijklmnopqrstuvwxyz0123",
        }
    )
    assert sensitive(line) == {"password": 1, "api_key": 1, "card_number": 1, "token": 1}
    assert sensitive('{"password": "***", "api_key": "[REDACTED]"}') == {}
    assert sensitive("aws key AKIAIOSFODNN7EXAMPLE in config") == {"api_key": 1}
    assert sensitive("-----BEGIN RSA PRIVATE KEY-----") == {"private_key": 1}


def test_card_numbers_need_a_valid_checksum_and_timestamps_are_not_cards() -> None:
    assert luhn_ok(b"4111111111111111")
    assert not luhn_ok(b"4111111111111112")
    assert sensitive("paid with 4111111111111112") == {}
    assert sensitive('{"ts": 1714560000123, "t": "2024-05-01 12:00:00", "ip": "10.0.0.1"}') == {}
    assert sensitive("card=5500-0000-0000-0004&x=1") == {"card_number": 1}


def test_timestamps_are_read_from_epoch_iso_and_common_log_format() -> None:
    assert parse_timestamp(1714560000) == 1714560000.0
    assert parse_timestamp(1714560000123) == pytest.approx(1714560000.123)
    assert parse_timestamp("2024-05-01T10:40:00Z") == 1714560000.0
    assert parse_timestamp("01/May/2024:10:40:00 +0000") == 1714560000.0
    assert parse_timestamp("2024-05-01T10:40:00") is None  # naive: ambiguous
    assert parse_timestamp("yesterday") is None
    assert parse_timestamp(True) is None


def test_a_source_offends_at_n_failures_within_the_window_only() -> None:
    window = BruteForceWindow(BruteForcePolicy(failures=5, window_seconds=300, max_sources=10))
    slow = [window.failure("10.0.0.1", t) for t in (0, 100, 200, 300, 400)]
    assert slow == [False] * 5  # 5 failures over 400 s: never 5 within 300 s
    fast = [window.failure("10.0.0.2", t) for t in (0, 10, 20, 30, 40, 50, 60)]
    assert fast == [False, False, False, False, True, False, False]
    assert window.detections == 1
    assert window.offending(60) == 1
    assert window.offending(400) == 0
    window.expire(1000)
    assert len(window) == 0


def test_the_window_is_capped_and_counts_what_it_evicts() -> None:
    window = BruteForceWindow(BruteForcePolicy(failures=3, window_seconds=60, max_sources=100))
    for index in range(1000):
        window.failure(f"198.51.100.{index}", float(index))
    assert len(window) == 100
    assert window.evictions == 900


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_no_text_makes_a_parser_or_detector_raise(text: str) -> None:
    parse_json(text)
    parse_combined(text)
    classify_value(text)
    is_scanner(text)
    counts = dict.fromkeys(SENSITIVE_KINDS, 0)
    found = scan_sensitive(text.lower(), text.encode("utf-8", "surrogatepass"), counts)
    assert found == sum(counts.values())
    assert set(classify_value(text)) <= set(ATTACK_KINDS)


def test_long_request_values_and_agents_are_classified_but_not_kept() -> None:
    cache = VerdictCache(max_entries=8192)
    long_probe = "/q?id=1%27%20UNION%20SELECT%201--&pad=" + "a" * 4000
    for index in range(300):  # unique 4 KB values: cached, they would hold 1.2 MB here
        assert cache.value(f"{long_probe}{index}") == ("sql_injection",)
        assert cache.agent(f"sqlmap/1.7 {'b' * 4000}{index}")
        assert cache.value(f"/api/v1/items/{index}") == ()
    assert sum(map(len, cache.values)) <= 300 * CACHE_VALUE_MAX_CHARS
    assert cache.agents == {}
    assert len(cache.values) == 300  # the short values are memoised as before


def test_a_long_source_is_tracked_under_a_small_key_and_stays_distinct() -> None:
    window = BruteForceWindow(BruteForcePolicy(failures=2, window_seconds=60, max_sources=100))
    base = "user:" + "m" * 10_000
    assert window.failure(base + "1", 0.0) is False
    assert window.failure(base + "2", 1.0) is False  # same first 10,000 characters
    assert window.failure(base + "1", 2.0) is True
    assert window.failure("203.0.113.9", 3.0) is False
    assert len(window) == 3
    assert all(len(key) <= SOURCE_MAX_CHARS for key in window._windows)
    assert source_key("203.0.113.9") == "203.0.113.9"


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("is_admin=true", "auth_bypass"),
        ("page=1&role=admin", "auth_bypass"),
        ("//admin", "auth_bypass"),
        ("/./admin/users", "auth_bypass"),
        ("token=x&alg=none", "auth_bypass"),
        ("table=information_schema.tables", "sql_injection"),
        ("next=javascript:void", "xss"),
        ("run=/bin/sh", "command_injection"),
        ("host=example.org&&id", "command_injection"),
        ("&&cmd.exeadmin", "command_injection"),
    ],
)
def test_a_query_field_of_plain_characters_is_still_checked_for_attacks(
    value: str, kind: str
) -> None:
    assert kind in classify_value(value)


PLAIN_TOKENS = st.sampled_from(
    [
        "admin", "is_admin", "isadmin", "auth", "authenticated", "role", "root", "alg", "none",
        "true", "yes", "1", "=", "&", "/", ".", "_", "-", ":", "a", "etc", "passwd", "bin",
        "sh", "bash", "cmd.exe", "javascript", "onload", "onerror", "document.cookie", "srcdoc",
        "information_schema", "xp_cmdshell", "x-original-url", ".git", "config", ".env", "proc",
        "self", "win.ini", "Admin", "TRUE", "&&", "id", "ls", "cat", "curl", "rm", "sleep",
        "python3", "CMD", "shadow", "vbscript", "x-rewrite-url", "superuser", "~", "@", ",",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(PLAIN_TOKENS, max_size=12).map("".join))
def test_the_fast_path_for_plain_values_finds_what_the_full_patterns_find(value: str) -> None:
    if ".." in value:
        return  # not a plain value: the full patterns run anyway
    full = tuple(kind for kind, pattern in _PATTERNS if pattern.search(normalise(value)))
    assert classify_value(value) == full
