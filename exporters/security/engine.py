"""The security exporter's counting core: decoded blocks of lines in, counters out.

:class:`Engine` is fed complete lines (bytes) per configured log by the tailer, parses
each once, runs the detectors and keeps the counters the collectors publish. It is
thread-safe: the tail thread feeds it, scrapes read :meth:`Engine.snapshot`.

One log line is one event in one category: a line that is several things at once (a
401 is a denied response and a failed login; a failed login that starts a brute-force
run; an attack that also leaks a password) is counted in ``events`` once, under the
first of :data:`CATEGORY_PRECEDENCE` that applies, so alerts that add categories up never
count a line twice. The signal counters (auth failures by reason, rate-limited requests,
attacks by kind, cross-tenant attempts, ...) also count a line at most once each.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from exporters.security.change import CHANGE_ORIGINS, ChangePolicy
from exporters.security.detect import (
    ATTACK_KINDS,
    CRITICAL_ATTACK_KINDS,
    SENSITIVE_KINDS,
    BruteForcePolicy,
    BruteForceWindow,
    VerdictCache,
    sensitive_lines,
)
from exporters.security.parse import FieldMap, Parser, Record, make_parser, parse_timestamp

SKIP_REASONS = ("parse_error", "invalid_utf8", "too_long", "truncated")
AUTH_REASONS = (
    "bad_password",
    "unknown_user",
    "expired_token",
    "invalid_token",
    "mfa_failed",
    "account_locked",
    "http_401",
    "other",
)
DENIED_CODES = ("401", "403")
EVENT_CATEGORIES = (
    "auth_failure",
    "access_denied",
    "rate_limited",
    "attack",
    "brute_force",
    "privilege_escalation",
    "token_revocation",
    "config_change",
    "cross_tenant",
    "sensitive_data",
)
# The category a line is counted in when it is several things at once: the most serious
# first. The failure that starts a brute-force run is that run's event, not a failure.
CATEGORY_PRECEDENCE = (
    "privilege_escalation",
    "cross_tenant",
    "brute_force",
    "attack",
    "auth_failure",
    "access_denied",
    "rate_limited",
    "token_revocation",
    "config_change",
    "sensitive_data",
)
_RANK = {category: rank for rank, category in enumerate(CATEGORY_PRECEDENCE)}
ADMIN_ROLES = frozenset({"admin", "administrator", "root", "superuser", "owner", "sysadmin"})

# event value -> category; "role_change" counts only when the new role is an admin one.
DEFAULT_EVENTS: Mapping[str, str] = MappingProxyType(
    {
        **dict.fromkeys(
            (
                "auth_failure",
                "auth_failed",
                "authentication_failure",
                "authentication_failed",
                "login_failed",
                "login_failure",
                "invalid_credentials",
            ),
            "auth_failure",
        ),
        **dict.fromkeys(("access_denied", "forbidden", "permission_denied"), "access_denied"),
        **dict.fromkeys(("rate_limited", "throttled", "too_many_requests"), "rate_limited"),
        **dict.fromkeys(("privilege_escalation", "sudo_to_root"), "privilege_escalation"),
        **dict.fromkeys(
            ("role_change", "role_changed", "role_granted", "permission_granted", "grant_role"),
            "role_change",
        ),
        **dict.fromkeys(
            ("token_revoked", "token_revocation", "session_revoked", "api_key_revoked"),
            "token_revocation",
        ),
        **dict.fromkeys(
            ("config_change", "config_changed", "configuration_changed", "settings_changed"),
            "config_change",
        ),
        **dict.fromkeys(("cross_tenant_access", "tenant_violation"), "cross_tenant"),
    }
)
EVENT_TARGETS = (*EVENT_CATEGORIES, "role_change")
REASON_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        **{r: r for r in AUTH_REASONS},
        "invalid_password": "bad_password",
        "wrong_password": "bad_password",
        "bad_credentials": "bad_password",
        "invalid_credentials": "bad_password",
        "no_such_user": "unknown_user",
        "user_not_found": "unknown_user",
        "token_expired": "expired_token",
        "bad_token": "invalid_token",
        "invalid_signature": "invalid_token",
        "mfa_required": "mfa_failed",
        "otp_failed": "mfa_failed",
        "locked": "account_locked",
        "locked_out": "account_locked",
    }
)
# What a JSON field of the wrong type holds where text was expected (unhashable, too).
_STRUCTURED = (list, dict)
_STATUS: dict[object, str] = {
    **{code: code for code in ("401", "403", "429")},
    **{int(code): code for code in ("401", "403", "429")},
}


@dataclass(frozen=True)
class LogConfig:
    """One followed file: its label name, path, format and field mapping."""

    name: str
    path: str
    format: str = "json"
    pattern: str = ""
    fields: FieldMap = field(default_factory=FieldMap)
    events: Mapping[str, str] = field(default_factory=lambda: DEFAULT_EVENTS)
    rotated: tuple[str, ...] = ()  # where copytruncate/rename leave the previous file

    def parser(self) -> Parser:
        return make_parser(self.format, self.pattern)


@dataclass
class LogCounts:
    lines: int = 0
    skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SKIP_REASONS, 0))
    rotations: dict[str, int] = field(default_factory=lambda: {"rename": 0, "truncate": 0})
    present: bool = False
    read_errors: int = 0
    offset: int = 0
    size: int = 0
    bad_field: int = 0  # lines with a field of the wrong type (only that check skipped)


@dataclass(frozen=True)
class Snapshot:
    """A consistent copy of every counter, taken under the engine's lock."""

    logs: Mapping[str, LogCounts]
    auth_failures: Mapping[str, int]
    denied: Mapping[str, int]
    rate_limited: int
    attacks: Mapping[str, int]
    sensitive: Mapping[str, int]
    events: Mapping[str, int]
    privilege_escalations: int
    token_revocations: int
    config_changes: Mapping[str, int]  # by origin: deploy_pipeline, change_window, unplanned
    cross_tenant: int
    brute_force_sources: int
    brute_force_detections: int
    brute_force_tracked: int
    brute_force_evictions: int
    attack_sources: int  # sources in an attack run of a blocking kind now
    attack_runs: int  # times a source started one


# The default attack run that blocks a source: a few payloads, not one (a single odd
# search query must not lock a user out for an hour); a scanner sends hundreds.
ATTACK_BLOCK_REQUESTS = 3
ATTACK_BLOCK_WINDOW_SECONDS = 300.0


@dataclass(frozen=True)
class AttackBlockPolicy:
    """A source whose requests carry ``requests`` attacks of ``kinds`` within
    ``window_seconds`` is blocked (told to ``on_attack``), as a brute forcer is."""

    kinds: frozenset[str] = CRITICAL_ATTACK_KINDS
    requests: int = ATTACK_BLOCK_REQUESTS
    window_seconds: float = ATTACK_BLOCK_WINDOW_SECONDS
    max_sources: int = 100_000

    def window(self) -> BruteForceWindow:
        return BruteForceWindow(
            BruteForcePolicy(self.requests, self.window_seconds, self.max_sources)
        )


class Engine:
    """Parses and counts; ``on_detection(source, when)`` is told of each new brute forcer,
    ``on_attack(source, when, kind)`` of each source that starts an attack run of a
    critical kind (:class:`AttackBlockPolicy`)."""

    def __init__(
        self,
        logs: tuple[LogConfig, ...],
        policy: BruteForcePolicy | None = None,
        clock: Callable[[], float] = time.time,
        on_detection: Callable[[str, float], object] | None = None,
        max_line_chars: int = 65536,
        changes: ChangePolicy | None = None,
        attack_policy: AttackBlockPolicy | None = None,
        on_attack: Callable[[str, float, str], object] | None = None,
    ) -> None:
        self.attack_policy = attack_policy or AttackBlockPolicy()
        self.attack_window = self.attack_policy.window()
        self.on_attack = on_attack
        # The kinds that block, in ATTACK_KINDS' order (a request's first one is its reason).
        self._blocking = tuple(k for k in ATTACK_KINDS if k in self.attack_policy.kinds)
        self.changes = changes or ChangePolicy()
        self.max_line_chars = max_line_chars
        self.logs = {log.name: log for log in logs}
        self._parsers = {log.name: log.parser() for log in logs}
        self.counts = {log.name: LogCounts() for log in logs}
        self.clock = clock
        self.on_detection = on_detection
        self.window = BruteForceWindow(policy or BruteForcePolicy())
        self.cache = VerdictCache()
        self.lock = threading.Lock()
        self.auth_failures = dict.fromkeys(AUTH_REASONS, 0)
        self.denied = dict.fromkeys(DENIED_CODES, 0)
        self.attacks = dict.fromkeys(ATTACK_KINDS, 0)
        self.sensitive = dict.fromkeys(SENSITIVE_KINDS, 0)
        self.events = dict.fromkeys(EVENT_CATEGORIES, 0)
        self.rate_limited = 0
        self.privilege_escalations = 0
        self.token_revocations = 0
        self.config_changes = dict.fromkeys(CHANGE_ORIGINS, 0)
        self.cross_tenant = 0
        self._last_time_text: Any = None
        self._last_time_value: float | None = None
        self._wrong_field = False  # a field _special read was a list or an object

    # Feeding ---------------------------------------------------------------------------

    def skip(self, log: str, reason: str, lines: int = 1) -> None:
        """Count lines dropped before parsing (too long, lost to a truncation)."""
        with self.lock:
            counts = self.counts[log]
            counts.lines += lines
            counts.skipped[reason] += lines

    def process(self, log: str, block: bytes) -> None:
        """Count every line of ``block`` (complete lines, separated by ``\\n``)."""
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError:
            self._process_mixed(log, block)
            return
        with self.lock:
            self._process_text(log, text, block, 0)

    def _process_mixed(self, log: str, block: bytes) -> None:
        good: list[str] = []
        bad = 0
        for raw in block.split(b"\n"):
            try:
                good.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                bad += 1
        text = "\n".join(good)
        with self.lock:
            self._process_text(log, text, text.encode("utf-8"), bad)

    def _process_text(self, log: str, text: str, raw: bytes, invalid_utf8: int) -> None:
        counts = self.counts[log]
        if invalid_utf8:
            counts.lines += invalid_utf8
            counts.skipped["invalid_utf8"] += invalid_utf8
        events = self.events
        # Secrets are found over the whole block (fast), then placed on their lines, so a
        # line with a secret is one sensitive_data event unless it is something worse.
        secrets = sensitive_lines(text.lower(), raw, self.sensitive)
        parse = self._parsers[log]
        config = self.logs[log]
        fm = config.fields
        status_key, event_key = fm.status, fm.event
        tenant_key, target_key = fm.tenant, fm.target_tenant
        request_keys, agent_key = fm.request_fields, fm.user_agent
        verdicts = self.cache.values
        agents = self.cache.agents
        rank = _RANK
        seen = errors = too_long = bad_field = 0
        max_len = self.max_line_chars
        # The loop below runs once per line: lookups are hoisted, and a line is only
        # handed to the slower paths when one of its fields is interesting.
        for index, line in enumerate(text.split("\n")):
            if not line:
                continue
            seen += 1
            if len(line) > max_len:
                too_long += 1
                if secrets and index in secrets:
                    events["sensitive_data"] += 1
                continue
            record = parse(line)
            if record is None:
                if line.isspace():
                    seen -= 1
                else:
                    errors += 1
                    if secrets and index in secrets:
                        events["sensitive_data"] += 1
                continue
            get = record.get
            # A field of the wrong type (a list or object where text was expected) only
            # loses that field's check: the line's other fields are still counted, and the
            # line is counted once in bad_field. Each try costs nothing when no error; the
            # rarer checks (_special) say whether they met such a field.
            wrong = False
            category: str | None = None
            try:
                code = _STATUS.get(get(status_key)) if status_key else None
            except TypeError:
                code, wrong = None, True
            event = get(event_key) if event_key else None
            if code is not None or event is not None:
                category = self._special(record, fm, config.events, code, event)
                if self._wrong_field:
                    wrong = True
            cross = category == "cross_tenant"
            if tenant_key and target_key:
                tenant = get(tenant_key)
                if tenant:
                    target = get(target_key)
                    if target and tenant != target:
                        if tenant.__class__ is str and target.__class__ is str:
                            cross = True
                        elif isinstance(tenant, _STRUCTURED) or isinstance(target, _STRUCTURED):
                            wrong = True
            if cross:
                self.cross_tenant += 1
                if category is None or rank[category] > rank["cross_tenant"]:
                    category = "cross_tenant"
            found: tuple[str, ...] = ()
            for key in request_keys:
                value = get(key)
                if value:
                    try:
                        verdict = verdicts.get(value)
                    except TypeError:
                        wrong = True
                        continue
                    if verdict is None:
                        verdict = self.cache.value(value) if value.__class__ is str else ()
                    if verdict:
                        found = found + verdict
            if agent_key and not found:
                # A payload names the attack; the scanner's user agent only counts alone.
                agent = get(agent_key)
                if agent:
                    try:
                        scanner = agents.get(agent)
                    except TypeError:
                        scanner, wrong = False, True
                    if scanner is None:
                        scanner = agent.__class__ is str and self.cache.agent(agent)
                    if scanner:
                        found = ("scanner",)
            elif agent_key and isinstance(get(agent_key), _STRUCTURED):
                wrong = True
            if wrong:
                bad_field += 1
            if found:
                self._attack(found)
                if category is None or rank[category] > rank["attack"]:
                    category = "attack"
                if self._blocking:
                    if isinstance(get(fm.source) if fm.source else None, _STRUCTURED):
                        wrong = True
                    else:
                        self._attacker(found, record, fm)
            if category is None and secrets and index in secrets:
                category = "sensitive_data"
            if category is not None:
                events[category] += 1
        counts.lines += seen
        counts.skipped["parse_error"] += errors
        counts.skipped["too_long"] += too_long
        counts.bad_field += bad_field

    def _attack(self, kinds: tuple[str, ...]) -> None:
        """One request is one attack, of the first kind it carries (in ATTACK_KINDS' order)."""
        attacks = self.attacks
        if len(kinds) == 1:
            attacks[kinds[0]] += 1
            return
        attacks[min(kinds, key=ATTACK_KINDS.index)] += 1

    def _attacker(self, kinds: tuple[str, ...], record: Record, fm: FieldMap) -> None:
        """Count one attack of a blocking kind against its source's window; tell
        ``on_attack`` when the source starts a run (only addresses can be blocked)."""
        kind = next((k for k in self._blocking if k in kinds), None)
        if kind is None:
            return
        source = self._text(record, fm.source)
        if not source or source == "-" or len(source) > 45:
            return
        when = self._when(record, fm)
        if self.attack_window.failure(source, when) and self.on_attack is not None:
            self.on_attack(source, when, kind)

    def _text(self, record: Record, key: str) -> str | None:
        """The text at ``key`` (None if absent or not text); a list or object is noted."""
        value = record.get(key) if key else None
        if value.__class__ is str:
            return value
        if isinstance(value, _STRUCTURED):
            self._wrong_field = True
        return None

    def _special(
        self,
        record: Record,
        fm: FieldMap,
        events_map: Mapping[str, str],
        code: str | None,
        event: object,
    ) -> str | None:
        """A line with a denied/limited status or an event field: its category, if any.

        Counts its signals once each (a 429 that is also a rate_limited event is one
        rate-limited request). A cross-tenant event is returned as ``cross_tenant`` and
        counted by the caller, which also compares the tenant fields. Sets
        ``_wrong_field`` when a field it read (event, role, reason, source, user, time)
        was a list or an object, so that field's check was skipped.
        """
        self._wrong_field = isinstance(event, _STRUCTURED)
        failure = ""
        category: str | None = None
        limited = False
        if code == "429":
            limited = True
            category = "rate_limited"
        elif code is not None:
            self.denied[code] += 1
            category = "access_denied"
            if code == "401":
                failure = "http_401"
        if event.__class__ is str:
            named = events_map.get(event)
            if named is not None:
                named, reason = self._event(named, record, fm)
                failure = reason or failure
                if named == "rate_limited":
                    limited = True
                if named is not None and (category is None or _RANK[named] < _RANK[category]):
                    category = named
        if limited:
            self.rate_limited += 1
        if failure:
            category = self._failure(failure, record, fm, category)
        return category

    def _event(self, category: str, record: Record, fm: FieldMap) -> tuple[str | None, str]:
        """Count one named event: (its category or None, an auth-failure reason or "")."""
        if category == "role_change":
            role = self._text(record, fm.role)
            if role is None or role.lower() not in ADMIN_ROLES:
                return None, ""
            category = "privilege_escalation"
        if category == "auth_failure":
            reason = self._text(record, fm.reason)
            return category, "other" if reason is None else REASON_ALIASES.get(reason, "other")
        if category == "privilege_escalation":
            self.privilege_escalations += 1
        elif category == "token_revocation":
            self.token_revocations += 1
        elif category == "config_change":
            origin = self.changes.origin(self._text(record, fm.user), self._when(record, fm))
            self.config_changes[origin] += 1
            if origin != "unplanned":
                return None, ""  # a deploy's or a change window's change is routine
        return category, ""

    def _failure(
        self, reason: str, record: Record, fm: FieldMap, category: str | None
    ) -> str | None:
        """Count one authentication failure; the line's category after it."""
        self.auth_failures[reason] += 1
        if category is None or _RANK[category] > _RANK["auth_failure"]:
            category = "auth_failure"
        source = self._text(record, fm.source)
        if not source or source == "-":
            user = self._text(record, fm.user)
            if not user or user == "-":
                return category
            source = "user:" + user
        when = self._when(record, fm)
        if self.window.failure(source, when):
            if _RANK[category] > _RANK["brute_force"]:
                category = "brute_force"
            if self.on_detection is not None:
                self.on_detection(source, when)
        return category

    def _when(self, record: Record, fm: FieldMap) -> float:
        """The line's time, trusted only up to now: a time from the future (a skewed
        writer's clock) would keep a source offending long after its window."""
        stamp = record.get(fm.time) if fm.time else None
        if isinstance(stamp, _STRUCTURED):
            self._wrong_field = True
        return min(self._time(stamp), self.clock())

    def _time(self, value: Any) -> float:
        if value is None:
            return self.clock()
        if value.__class__ is str and value == self._last_time_text:
            stamp = self._last_time_value
        else:
            stamp = parse_timestamp(value)
            if value.__class__ is str:
                self._last_time_text, self._last_time_value = value, stamp
        return self.clock() if stamp is None else stamp

    # Reading ---------------------------------------------------------------------------

    def expire(self) -> None:
        with self.lock:
            now = self.clock()
            self.window.expire(now)
            self.attack_window.expire(now)

    def snapshot(self) -> Snapshot:
        with self.lock:
            now = self.clock()
            self.window.expire(now)
            self.attack_window.expire(now)
            return Snapshot(
                logs={
                    name: LogCounts(
                        c.lines,
                        dict(c.skipped),
                        dict(c.rotations),
                        c.present,
                        c.read_errors,
                        c.offset,
                        c.size,
                        c.bad_field,
                    )
                    for name, c in self.counts.items()
                },
                auth_failures=dict(self.auth_failures),
                denied=dict(self.denied),
                rate_limited=self.rate_limited,
                attacks=dict(self.attacks),
                sensitive=dict(self.sensitive),
                events=dict(self.events),
                privilege_escalations=self.privilege_escalations,
                token_revocations=self.token_revocations,
                config_changes=dict(self.config_changes),
                cross_tenant=self.cross_tenant,
                brute_force_sources=self.window.offending(now),
                brute_force_detections=self.window.detections,
                brute_force_tracked=len(self.window),
                brute_force_evictions=self.window.evictions,
                attack_sources=self.attack_window.offending(now),
                attack_runs=self.attack_window.detections,
            )
