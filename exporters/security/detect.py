"""Detectors of the security exporter: attack patterns, sensitive data, brute force.

Everything here is pure and bounded: caches are capped and cleared, the brute-force
window tracks at most ``max_sources`` sources and counts what it evicts. No detector
keeps or returns the text it matched, only a kind from a small fixed set.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import unquote_plus

ATTACK_KINDS = (
    "sql_injection",
    "xss",
    "path_traversal",
    "command_injection",
    "auth_bypass",
    "scanner",
)
# The kinds whose requests block their source by default (``denylist.attack-kinds``): a
# payload that can read or change data or run commands on the server. xss targets other
# users' browsers, auth_bypass forms are noisy, and a scanner's user agent alone is
# reconnaissance: counted and alerted on, never blocked on their own by default.
CRITICAL_ATTACK_KINDS = frozenset({"sql_injection", "command_injection", "path_traversal"})
SENSITIVE_KINDS = ("password", "api_key", "card_number", "private_key", "token")

# A value made only of these characters, with no "..", needs no URL-decoding and can
# only hold the probes of _SAFE_PATTERNS (plain words, no quote, bracket, space or
# operator), so the expensive expressions are skipped for it. A query field on its own
# ("is_admin=true") takes this path: the probes must cover every such form.
_SAFE = re.compile(r"[A-Za-z0-9/_.,:~=&@-]*")
_FILE_PROBE = re.compile(
    r"/etc/(?:passwd|shadow|group|hosts)\b|/proc/self/|win\.ini|boot\.ini|\.htpasswd|/\.env\b"
    r"|/\.git/(?:config|head)"
)
_AUTH_BYPASS_PLAIN = (
    r"//admin\b|/\./admin|\b(?:is_?admin|authenticated|auth|admin)=(?:1|true|yes)\b"
    r"|\brole=(?:admin|root|superuser)\b|\balg=none\b|x-original-url|x-rewrite-url"
)
# A shell command after a separator; "&&" is the one separator a _SAFE value can hold.
_SHELL_COMMANDS = (
    r"(?:cat|ls|id|whoami|uname|wget|curl|nc|ncat|bash|sh|zsh|python[0-9.]*|perl|ruby|php"
    r"|ping|rm|chmod|echo|nslookup|sleep|powershell|cmd(?:\.exe)?)\b"
)
_SHELL_PLAIN = r"/bin/(?:ba)?sh\b|\bcmd\.exe\b"
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "sql_injection",
        re.compile(
            r"union(?:\s|/\*.*?\*/)+(?:all(?:\s|/\*.*?\*/)+)?select\b"
            r"|\b(?:or|and)\s+['\"]?\w+['\"]?\s*(?:=|like)\s*['\"]?\w+"
            r"|'\s*(?:or|and)\s*'[^']*'\s*=\s*'"
            r"|;\s*(?:drop|delete|insert|update|alter|truncate|exec)\s"
            r"|\b(?:sleep|benchmark|pg_sleep)\s*\(\s*\d|waitfor\s+delay\s+'"
            r"|information_schema|\bselect\b.{0,80}\bfrom\b|xp_cmdshell|'\s*(?:--|#)"
            r"|\bload_file\s*\(|\binto\s+(?:out|dump)file\b"
        ),
    ),
    (
        "xss",
        re.compile(
            r"<\s*script|javascript\s*:|vbscript\s*:|<\s*iframe|<\s*svg|<\s*img[^>]*\bon\w+\s*="
            r"|\bon(?:error|load|mouseover|click|focus|blur|submit)\s*=|document\s*\.\s*cookie"
            r"|\balert\s*\(|\beval\s*\(|<\s*body[^>]*\bon\w+\s*=|srcdoc\s*="
        ),
    ),
    (
        "path_traversal",
        re.compile(r"\.\.[/\\]|[/\\]\.\.(?:$|[/\\;])|" + _FILE_PROBE.pattern + r"|c:\\windows"),
    ),
    (
        "command_injection",
        re.compile(
            r"(?:;|\|\|?|&&|\n|`|\$\()\s*" + _SHELL_COMMANDS
            + r"|\$\{ifs\}|\$\([^)]*\)|`[^`]+`|" + _SHELL_PLAIN
        ),
    ),
    (
        "auth_bypass",
        re.compile(
            r"\.\.;/|/;/|;/admin|/admin[;%]|admin'\s*(?:--|#|/\*)"
            r"|'\s*or\s+'?1'?\s*=\s*'?1|\bor\s+true\b|\"alg\"\s*:\s*\"none\""
            r"|" + _AUTH_BYPASS_PLAIN
        ),
    ),
)
# The forms of the patterns above that a _SAFE value can hold, in _PATTERNS' order; only
# "select ... from" is left out on purpose (a plain path such as /select-from-a-list).
_SAFE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("sql_injection", re.compile(r"information_schema|xp_cmdshell")),
    (
        "xss",
        re.compile(
            r"javascript:|vbscript:|\bon(?:error|load|mouseover|click|focus|blur|submit)="
            r"|document\.cookie|srcdoc="
        ),
    ),
    ("path_traversal", _FILE_PROBE),
    ("command_injection", re.compile(r"&&" + _SHELL_COMMANDS + "|" + _SHELL_PLAIN)),
    ("auth_bypass", re.compile(_AUTH_BYPASS_PLAIN)),
)
_SCANNER = re.compile(
    r"sqlmap|nikto|nmap|masscan|zgrab|nuclei|dirbuster|gobuster|feroxbuster|wpscan|acunetix"
    r"|nessus|openvas|w3af|hydra|burp|zmeu|wfuzz|ffuf|jaeles|netsparker|qualys|arachni"
    r"|skipfish|whatweb|commix|xsstrike|joomscan|havij|dirb/",
    re.IGNORECASE,
)
_CACHE_MAX = 8192
# Only short values are memoised: long ones rarely repeat, and 8,192 of them at the
# line cap (64 KiB) would hold half a gigabyte. Bounded in bytes, not just in entries.
CACHE_VALUE_MAX_CHARS = 256


def normalise(value: str) -> str:
    """URL-decode (twice, for double encoding) and lower-case a path, query or body."""
    text = value
    for _ in range(2):
        if "%" not in text and "+" not in text:
            break
        text = unquote_plus(text, errors="replace")
    return text.lower()


def classify_value(value: str) -> tuple[str, ...]:
    """The attack kinds found in one request field (path, query or body), in fixed order."""
    if _SAFE.fullmatch(value) is not None and ".." not in value:
        lowered = value.lower()
        return tuple(kind for kind, pattern in _SAFE_PATTERNS if pattern.search(lowered))
    text = normalise(value)
    return tuple(kind for kind, pattern in _PATTERNS if pattern.search(text) is not None)


def is_scanner(user_agent: str) -> bool:
    """True for the user agent of a known vulnerability scanner or brute-forcer."""
    return _SCANNER.search(user_agent) is not None


class VerdictCache:
    """Bounded memo of :func:`classify_value` and :func:`is_scanner` (values repeat a lot)."""

    def __init__(self, max_entries: int = _CACHE_MAX) -> None:
        self.max_entries = max_entries
        self.values: dict[str, tuple[str, ...]] = {}
        self.agents: dict[str, bool] = {}

    def value(self, value: str) -> tuple[str, ...]:
        verdict = self.values.get(value)
        if verdict is None:
            verdict = classify_value(value)
            if len(value) > CACHE_VALUE_MAX_CHARS:
                return verdict
            if len(self.values) >= self.max_entries:
                self.values.clear()
            self.values[value] = verdict
        return verdict

    def agent(self, user_agent: str) -> bool:
        verdict = self.agents.get(user_agent)
        if verdict is None:
            verdict = is_scanner(user_agent)
            if len(user_agent) > CACHE_VALUE_MAX_CHARS:
                return verdict
            if len(self.agents) >= self.max_entries:
                self.agents.clear()
            self.agents[user_agent] = verdict
        return verdict


# Sensitive data ------------------------------------------------------------------------

# Scanned over whole blocks of lower-cased text. Every expression starts with a literal,
# which lets the regex engine jump between candidates at memchr speed; none crosses a
# newline. Card numbers are found on the raw bytes: a translate() maps digits and
# separators to "0" and only runs of 13 or more are checked with the expression and Luhn.
_MASKED = re.compile(r"[*x#.\-]+|\[?(?:redacted|filtered|masked|hidden|removed)\]?|<redacted>")
_VALUE = r"[ \t]*[:=][ \t]*\\?[\"']?"
_SENSITIVE: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "password",
        re.compile(r"pass(?:word|wd|phrase)?\\?[\"']?" + _VALUE + r"([^\s\"'\\&,;}]{3,})"),
    ),
    ("password", re.compile(r"pwd\\?[\"']?" + _VALUE + r"([^\s\"'\\&,;}]{3,})")),
    ("api_key", re.compile(r"key\\?[\"']?" + _VALUE + r"([a-z0-9_\-+/]{16,})")),
    ("api_key", re.compile(r"akia[0-9a-z]{16}(?![0-9a-z])")),
    ("api_key", re.compile(r"sk_(?:live|test)_[0-9a-z]{16,}")),
    ("api_key", re.compile(r"gh[pousr]_[0-9a-z]{36}")),
    ("api_key", re.compile(r"xox[abprs]-[0-9a-z\-]{10,}")),
    ("api_key", re.compile(r"aiza[0-9a-z_\-]{35}")),
    ("private_key", re.compile(r"-----begin (?:[a-z]+ )?private key-----")),
    ("token", re.compile(r"eyj[a-z0-9_\-]{8,}\.eyj[a-z0-9_\-]{8,}\.[a-z0-9_\-]{8,}")),
    ("token", re.compile(r"bearer[ \t]+([a-z0-9_\-.=+/]{20,})")),
)
_CARD_TABLE = bytes.maketrans(b"0123456789 -", b"0" * 12)
_CARD_RUN = b"0" * 13
_CARD = re.compile(
    rb"(?<![\d.])(?:4\d{3}|5[1-5]\d{2}|3[47]\d{2}|6011)(?:[ -]?\d{4}){2}[ -]?\d{3,4}(?:\d{3})?"
    rb"(?![\d.])"
)


def luhn_ok(digits: bytes) -> bool:
    """The Luhn checksum every payment card number satisfies."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        number = char - 48
        if index % 2 == 1:
            number *= 2
            if number > 9:
                number -= 9
        total += number
    return total % 10 == 0


def scan_sensitive(
    lowered: str, raw: bytes, counts: dict[str, int], where: list[int] | None = None
) -> int:
    """Add to ``counts[kind]`` each secret in a block; ``lowered`` is ``raw`` decoded, lower-cased.

    Masked values (``***``, ``[REDACTED]``) do not count; a match is dropped at once,
    never stored. Returns how many were found. ``where``, when given, receives each
    secret's offset: a character offset into ``lowered`` as ``~offset`` for text, a byte
    offset into ``raw`` as it is for card numbers (see :func:`sensitive_lines`).
    """
    found = 0
    for kind, pattern in _SENSITIVE:
        for match in pattern.finditer(lowered):
            if match.lastindex and _MASKED.fullmatch(match.group(1)) is not None:
                continue
            counts[kind] += 1
            found += 1
            if where is not None:
                where.append(~match.start())
    mapped = raw.translate(_CARD_TABLE)
    start = mapped.find(_CARD_RUN)
    while start != -1:
        end = start + len(_CARD_RUN)
        while end < len(mapped) and mapped[end] == 48:
            end += 1
        for card in _CARD.finditer(raw, max(0, start - 1), min(len(raw), end + 1)):
            digits = card.group(0).replace(b" ", b"").replace(b"-", b"")
            if 13 <= len(digits) <= 19 and luhn_ok(digits):
                counts["card_number"] += 1
                found += 1
                if where is not None:
                    where.append(card.start())
        start = mapped.find(_CARD_RUN, end)
    return found


def sensitive_lines(lowered: str, raw: bytes, counts: dict[str, int]) -> frozenset[int]:
    """:func:`scan_sensitive`, and the indexes of the lines (split on ``\\n``) holding secrets.

    Secrets are rare, so the newlines before each are counted only when one is found
    (``lower()`` neither adds nor removes a newline, so ``lowered``'s lines are ``raw``'s).
    """
    where: list[int] = []
    if not scan_sensitive(lowered, raw, counts, where):
        return frozenset()
    lines: set[int] = set()
    line = last = 0
    for offset in sorted(~o for o in where if o < 0):
        line += lowered.count("\n", last, offset)
        last = offset
        lines.add(line)
    line = last = 0
    for offset in sorted(o for o in where if o >= 0):
        line += raw.count(b"\n", last, offset)
        last = offset
        lines.add(line)
    return frozenset(lines)


# Brute force ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BruteForcePolicy:
    """A source with at least ``failures`` failures within ``window_seconds`` offends."""

    failures: int = 5
    window_seconds: float = 300.0
    max_sources: int = 100_000


# An address is at most 45 characters; a longer source (a user name from a login form
# is attacker-controlled text) is tracked by a digest, so each key stays small.
SOURCE_MAX_CHARS = 64


def source_key(source: str) -> str:
    """``source`` itself when short, else a fixed-size digest of it."""
    if len(source) <= SOURCE_MAX_CHARS:
        return source
    digest = hashlib.blake2b(source.encode("utf-8", "surrogatepass"), digest_size=16)
    return "#" + digest.hexdigest()


class BruteForceWindow:
    """Per-source sliding windows of failure times, bounded in sources and in bytes.

    Each source keeps a tuple of at most ``failures`` timestamps (only the last N
    matter; a tuple is a tenth of a deque's size) under a key of at most
    ``SOURCE_MAX_CHARS`` characters. The map is ordered by last failure, so expiry and
    eviction both take from the front: an OrderedDict, because a plain dict keeps the
    slots of deleted keys at its front and ``next(iter(d))`` walks them all, which made
    eviction 13 µs a failure and the expiry of 100,000 sources 6 s (1.8 µs and 37 ms).
    """

    def __init__(self, policy: BruteForcePolicy) -> None:
        self.policy = policy
        self._windows: OrderedDict[str, tuple[float, ...]] = OrderedDict()
        self._offenders: dict[str, float] = {}  # source -> when it stops offending
        self.detections = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._windows)

    def failure(self, source: str, when: float) -> bool:
        """Record one failure; True when this failure makes ``source`` newly offending."""
        if len(source) > SOURCE_MAX_CHARS:
            source = source_key(source)
        windows = self._windows
        needed = self.policy.failures
        window = windows.pop(source, None)
        if window is None:
            if len(windows) >= self.policy.max_sources:
                self._evict_one()
            window = (when,)
        else:
            window = (*window[1 - needed :], when) if needed > 1 else (when,)
        windows[source] = window
        if len(window) < needed:
            return False
        oldest = min(window)
        if max(window) - oldest > self.policy.window_seconds:
            return False
        until = oldest + self.policy.window_seconds
        was = self._offenders.get(source)
        self._offenders[source] = until if was is None else max(was, until)
        if was is not None and was >= when:
            return False
        self.detections += 1
        return True

    def _evict_one(self) -> None:
        oldest, _ = self._windows.popitem(last=False)
        self._offenders.pop(oldest, None)
        self.evictions += 1

    def expire(self, now: float) -> None:
        """Forget sources whose last failure left the window before ``now``."""
        horizon = now - self.policy.window_seconds
        windows = self._windows
        while windows:
            source = next(iter(windows))
            if windows[source][-1] >= horizon:
                break
            del windows[source]
        for source in [s for s, until in self._offenders.items() if until < now]:
            del self._offenders[source]

    def offending(self, now: float) -> int:
        """How many sources are offending at ``now``."""
        return sum(1 for until in self._offenders.values() if until >= now)
