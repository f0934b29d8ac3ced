"""What an acknowledgement may silence: the pure checks behind ``ack``, and the silence
it becomes. Every refusal is an OncallError that says what is firing instead."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from oncall.errors import OncallError
from oncall.model import ACK_PREFIX, Alert, Matcher, format_labels, matching

MOST_ACK_SECONDS = 7 * 86400
_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse_matcher(text: str) -> Matcher:
    """``LABEL=VALUE`` as an equality matcher; anything else is refused."""
    name, sep, value = text.partition("=")
    if not sep:
        raise OncallError(f"matcher {text!r} is not LABEL=VALUE (e.g. instance=db-1:9187)")
    if name.endswith("!") or value.startswith("~"):
        raise OncallError(
            f"matcher {text!r}: only LABEL=VALUE equality is allowed here, "
            "not != or =~ (an ack names the alerts it covers exactly)"
        )
    if not _LABEL_NAME.fullmatch(name):
        raise OncallError(
            f"matcher {text!r}: {name!r} is not a label name "
            "(letters, digits and _, not starting with a digit)"
        )
    return Matcher(name=name, value=value)


def parse_matchers(texts: Sequence[str]) -> list[Matcher]:
    """Each ``LABEL=VALUE``; a label named twice is refused."""
    matchers = [parse_matcher(t) for t in texts]
    seen: set[str] = set()
    for m in matchers:
        if m.name in seen:
            raise OncallError(f"label {m.name!r} is given twice; give each label once")
        seen.add(m.name)
    return matchers


@dataclass(frozen=True)
class AckPlan:
    """The silence to create and the firing alerts it acknowledges."""

    matchers: tuple[Matcher, ...]
    alerts: tuple[Alert, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str


def plan_ack(
    firing: Sequence[Alert],
    alertname: str,
    label_matchers: Sequence[Matcher],
    *,
    seconds: int,
    comment: str,
    author: str,
    all_matching: bool,
    now: datetime,
) -> AckPlan:
    """The silence acknowledging ``alertname`` (narrowed by ``label_matchers``) among the
    ``firing`` alerts, or an OncallError saying why not and what fires instead."""
    if not comment.strip():
        raise OncallError("--comment must say why you acknowledge (e.g. 'on it, OPS-123')")
    if not author.strip():
        raise OncallError("no author: give --author NAME or set PROMFLEET_ONCALL_AUTHOR")
    if any(m.name == "alertname" for m in label_matchers):
        raise OncallError("give the alert name as ALERTNAME, not as an alertname= matcher")
    named = [a for a in firing if a.name == alertname]
    if not named:
        names = sorted({a.name for a in firing})
        listing = ", ".join(names) if names else "(nothing is firing)"
        raise OncallError(f"{alertname} is not firing now. Firing: {listing}")
    matchers = (Matcher("alertname", alertname), *label_matchers)
    hits = matching(named, matchers)
    if not hits:
        raise OncallError(
            f"no firing {alertname} matches {' '.join(str(m) for m in label_matchers)}. "
            f"Firing {alertname} alerts:\n" + _listing(named)
        )
    if len(hits) > 1 and not all_matching:
        raise OncallError(
            f"{len(hits)} firing alerts match; nothing acknowledged. Narrow it with "
            "LABEL=VALUE, or give --all-matching to acknowledge them all:\n" + _listing(hits)
        )
    return AckPlan(
        matchers=matchers,
        alerts=tuple(hits),
        starts_at=now,
        ends_at=now + timedelta(seconds=seconds),
        created_by=author.strip(),
        comment=ACK_PREFIX + comment.strip(),
    )


def _listing(alerts: Sequence[Alert]) -> str:
    return "\n".join(f"  {format_labels(a.labels)}" for a in alerts)
