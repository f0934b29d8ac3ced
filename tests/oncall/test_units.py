"""The pure parts of the on-call commands, without servers: durations, matchers, the
refusals of ``ack``, alert states, episodes from a range query, and acks per episode."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from oncall.__main__ import build_parser, default_author, resolve_servers
from oncall.ack import parse_matcher, parse_matchers, plan_ack
from oncall.api import Alertmanager, RuleInfo
from oncall.commands import alert_state, sort_alerts
from oncall.durations import format_duration, parse_duration
from oncall.errors import OncallError
from oncall.history import acks_for, build_episodes, choose_step
from oncall.model import Alert, Matcher, Silence

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
DAY = 86400


def alert(name: str, severity: str = "warning", minutes_ago: int = 10, **labels: str) -> Alert:
    return Alert(
        labels={"alertname": name, "severity": severity, "team": "ops", **labels},
        starts_at=NOW - timedelta(minutes=minutes_ago),
        state="active",
        silenced_by=(),
        inhibited_by=(),
    )


def silence(
    comment: str, *matchers: Matcher, start: datetime = NOW, hours: float = 2, sid: str = "s1"
) -> Silence:
    return Silence(
        id=sid,
        matchers=matchers,
        starts_at=start,
        ends_at=start + timedelta(hours=hours),
        created_by="alice",
        comment=comment,
        state="active",
    )


# durations ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30m", 1800), ("2h", 7200), ("1d", DAY), ("1h30m", 5400), ("45s", 45), ("7d", 7 * DAY)],
)
def test_a_duration_is_days_hours_minutes_and_seconds_in_that_order(
    text: str, seconds: int
) -> None:
    assert parse_duration(text, what="--for", most_seconds=7 * DAY) == seconds


@pytest.mark.parametrize("text", ["", "2", "h", "2x", "30m2h", "-1h", "1.5h", "2 h", "1w"])
def test_anything_else_is_refused_with_the_forms_that_work(text: str) -> None:
    with pytest.raises(OncallError, match="like 30m, 2h, 1d or 1h30m"):
        parse_duration(text, what="--for", most_seconds=7 * DAY)


def test_a_zero_duration_or_one_past_the_limit_is_refused() -> None:
    with pytest.raises(OncallError, match="longer than zero"):
        parse_duration("0m", what="--for", most_seconds=7 * DAY)
    with pytest.raises(OncallError, match="at most 7d"):
        parse_duration("7d1s", what="--for", most_seconds=7 * DAY)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (59, "59s"), (300, "5m"), (7800, "2h10m"), (7200, "2h"), (3 * DAY, "3d"),
     (3 * DAY + 4 * 3600 + 59, "3d4h")],
)  # fmt: skip
def test_an_age_shows_its_two_largest_units(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text


# matchers and the refusals of ack -------------------------------------------------------


def test_a_matcher_is_label_equals_value_and_nothing_else() -> None:
    assert parse_matcher("instance=db-1:9100") == Matcher("instance", "db-1:9100")
    assert parse_matcher("path=/a=b") == Matcher("path", "/a=b")
    for bad in ("instance", "=x", "1abc=x", "inst-ance=x", "instance!=x", "instance=~db.*"):
        with pytest.raises(OncallError, match="matcher"):
            parse_matcher(bad)
    with pytest.raises(OncallError, match="given twice"):
        parse_matchers(["instance=a", "instance=b"])


def test_matchers_match_as_alertmanager_does() -> None:
    labels = {"alertname": "A", "instance": "h1"}
    assert Matcher("instance", "h1").matches(labels)
    assert Matcher("zone", "").matches(labels)  # a missing label is ""
    assert Matcher("instance", "h.", is_regex=True).matches(labels)
    assert not Matcher("instance", "h", is_regex=True).matches(labels)  # anchored
    assert Matcher("instance", "h2", is_equal=False).matches(labels)


FIRING = [
    alert("DiskFull", "critical", instance="db-1"),
    alert("DiskFull", "warning", instance="db-2"),
    alert("CpuHigh", instance="app-1"),
]


def plan(name: str, *matchers: str, all_matching: bool = False, comment: str = "on it") -> Any:
    return plan_ack(
        FIRING,
        name,
        parse_matchers(matchers),
        seconds=7200,
        comment=comment,
        author="alice",
        all_matching=all_matching,
        now=NOW,
    )


def test_an_ack_is_a_silence_on_the_alert_name_and_the_labels_given() -> None:
    made = plan("DiskFull", "instance=db-1")
    assert made.matchers == (Matcher("alertname", "DiskFull"), Matcher("instance", "db-1"))
    assert [a.labels["instance"] for a in made.alerts] == ["db-1"]
    assert made.comment == "ack: on it"
    assert (made.starts_at, made.ends_at) == (NOW, NOW + timedelta(hours=2))
    assert made.created_by == "alice"
    assert [m.to_json() for m in made.matchers][1] == {
        "name": "instance",
        "value": "db-1",
        "isRegex": False,
        "isEqual": True,
    }


def test_an_alert_that_is_not_firing_is_refused_with_the_names_that_are() -> None:
    with pytest.raises(OncallError, match=r"DiskFul is not firing now\. Firing: CpuHigh, DiskFull"):
        plan("DiskFul")


def test_matchers_that_match_nothing_are_refused_with_the_alerts_of_that_name() -> None:
    with pytest.raises(OncallError) as caught:
        plan("DiskFull", "instance=db-9")
    assert 'no firing DiskFull matches instance="db-9"' in str(caught.value)
    assert 'instance="db-1"' in str(caught.value) and 'instance="db-2"' in str(caught.value)


def test_two_matching_alerts_are_refused_unless_all_matching_is_given() -> None:
    with pytest.raises(OncallError, match="2 firing alerts match; nothing acknowledged"):
        plan("DiskFull")
    assert len(plan("DiskFull", all_matching=True).alerts) == 2
    assert len(plan("DiskFull", "team=ops", all_matching=True).alerts) == 2


def test_an_empty_comment_or_an_alertname_matcher_is_refused() -> None:
    with pytest.raises(OncallError, match="--comment"):
        plan("CpuHigh", comment="  ")
    with pytest.raises(OncallError, match="as ALERTNAME"):
        plan("CpuHigh", "alertname=CpuHigh")


# alerts ---------------------------------------------------------------------------------


def test_alerts_sort_critical_first_then_oldest_first() -> None:
    rows = [
        alert("New", "warning", minutes_ago=1),
        alert("Info", "info", minutes_ago=100),
        alert("Page", "critical", minutes_ago=1),
        alert("Old", "warning", minutes_ago=50),
        alert("Odd", "whatever", minutes_ago=500),
    ]
    assert [a.name for a in sort_alerts(rows)] == ["Page", "Old", "New", "Info", "Odd"]


def test_an_alert_state_tells_an_ack_from_a_maintenance_silence() -> None:
    ack = silence("ack: disk cleanup, OPS-42", sid="ack1")
    maintenance = silence("kernel upgrade", sid="m1")
    known = {s.id: s for s in (ack, maintenance)}
    base = alert("DiskFull")

    def state(silenced: tuple[str, ...] = (), inhibited: tuple[str, ...] = ()) -> str:
        muted = Alert(base.labels, base.starts_at, "suppressed", silenced, inhibited)
        return alert_state(muted, known)[0]

    assert state() == "active"
    assert state(("ack1",)).startswith("acknowledged by alice until 2024-05-01")
    assert state(("ack1",)).endswith("(disk cleanup, OPS-42)")
    assert state(("m1",)) == "silenced"
    assert state(("m1", "ack1")).startswith("acknowledged by alice")
    assert state(inhibited=("x",)) == "inhibited"


# servers and author ---------------------------------------------------------------------


def test_the_flags_win_over_the_environment_and_the_environment_over_the_defaults() -> None:
    env = {"PROMFLEET_ALERTMANAGER_URL": "http://a:1, http://b:2", "PROMFLEET_PROMETHEUS_URL": "p"}
    assert resolve_servers(None, None, {}).alertmanagers == ("http://localhost:9093",)
    assert resolve_servers(None, None, {}).prometheus == "http://localhost:9090"
    assert resolve_servers(None, None, env).alertmanagers == ("http://a:1", "http://b:2")
    assert resolve_servers(None, None, env).prometheus == "p"
    flags = resolve_servers(["http://c:3", "http://d:4,http://e:5"], "q", env)
    assert flags.alertmanagers == ("http://c:3", "http://d:4", "http://e:5")
    assert flags.prometheus == "q"


def test_the_server_options_may_come_before_or_after_the_command() -> None:
    before = build_parser().parse_args(["--alertmanager", "http://a", "alerts"])
    after = build_parser().parse_args(["alerts", "--alertmanager", "http://a"])
    assert before.alertmanager == after.alertmanager == ["http://a"]


def test_the_author_is_the_environment_or_the_login_name() -> None:
    assert default_author({"PROMFLEET_ONCALL_AUTHOR": "bob"}) == "bob"
    assert default_author({}) != ""


def test_an_unreachable_alertmanager_names_every_url_tried() -> None:
    am = Alertmanager(["http://127.0.0.1:1", "http://127.0.0.1:2"], timeout=5)
    with pytest.raises(OncallError) as caught:
        am.alerts()
    assert "http://127.0.0.1:1" in str(caught.value) and "http://127.0.0.1:2" in str(caught.value)


# history --------------------------------------------------------------------------------

LABELS = {"alertname": "DiskFull", "severity": "critical", "team": "ops", "instance": "h"}
RULE = RuleInfo(name="DiskFull", labels={"severity": "critical"}, for_seconds=5, interval_seconds=1)


def series(points: Mapping[Any, float], name: str = "", **extra: str) -> dict[str, Any]:
    metric = {**LABELS, **extra}
    if name:
        metric["__name__"] = name
    return {"metric": metric, "values": [[t, str(v)] for t, v in sorted(points.items())]}


def episode_data() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Evaluations at x.2 s. Episode 1: active at 1005.2, fires from 1010.2 (for 5 s), last
    fires at 1019.2, resolved at 1020.2. Episode 2: active at 1050.2, fires from 1055.2, and
    still fires at the last point, 1100. ALERTS_FOR_STATE holds whole seconds."""
    firing = {t: t - 0.8 for t in range(1011, 1021)}
    firing |= {t: t - 0.8 for t in range(1056, 1101)}
    for_state = {t: 1005 for t in range(1006, 1021)} | {t: 1050 for t in range(1051, 1101)}
    return (
        [series(firing, alertstate="firing")],
        [series(for_state, name="ALERTS_FOR_STATE")],
    )


def ts(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def test_episodes_start_when_the_alert_fired_and_end_when_it_resolved() -> None:
    firing, for_state = episode_data()
    episodes = build_episodes(firing, for_state, [RULE], start=1000, end=1100, step=1)
    assert [(e.started, e.ended, e.exact) for e in episodes] == [
        (ts(1055.2), None, True),  # newest first, still firing
        (ts(1010.2), ts(1020.2), True),
    ]
    assert episodes[0].labels == LABELS
    assert episodes[1].duration_seconds(ts(1100)) == pytest.approx(10.0)


def test_a_gap_in_the_data_does_not_split_an_episode_with_one_activity() -> None:
    firing, for_state = episode_data()
    for gone in ("1014", "1015", "1016"):  # e.g. Prometheus restarted, state restored
        firing[0]["values"] = [v for v in firing[0]["values"] if str(v[0]) != gone]
    episodes = build_episodes(firing, for_state, [RULE], start=1000, end=1100, step=1)
    assert [(e.started, e.ended) for e in episodes][1] == (ts(1010.2), ts(1020.2))
    assert len(episodes) == 2


def test_without_the_rule_or_with_a_coarse_step_times_are_good_to_one_step() -> None:
    firing, for_state = episode_data()
    unknown = build_episodes(firing, for_state, [], start=1000, end=1100, step=1)
    assert [(e.started, e.ended, e.exact) for e in unknown][1] == (ts(1011), ts(1021), False)
    coarse = [series({1020: 1019.2}, alertstate="firing")]
    state = [series({1020: 1005}, name="ALERTS_FOR_STATE")]
    (only,) = build_episodes(coarse, state, [RULE], start=960, end=1200, step=60)
    # The start from ALERTS_FOR_STATE and the rule's for; the end good to one step.
    assert (only.started, only.ended, only.exact) == (ts(1010), ts(1080), False)


def test_an_episode_that_began_before_the_range_starts_when_it_became_active() -> None:
    firing, for_state = episode_data()
    for data in (*firing, *for_state):  # what a range query from 1015 returns
        data["values"] = [v for v in data["values"] if v[0] >= 1015]
    episodes = build_episodes(firing, for_state, [RULE], start=1015, end=1100, step=1)
    assert [(e.started, e.ended, e.exact) for e in episodes][1] == (ts(1010), ts(1020.2), True)


def test_the_step_keeps_a_range_query_under_prometheus_point_limit() -> None:
    assert choose_step(3600) == 1
    for seconds in (3600, 7 * DAY, 30 * DAY, 30 * DAY + 1):
        assert seconds / choose_step(seconds) + 1 < 11_000


def test_an_episode_is_acknowledged_by_the_acks_that_match_it_and_overlap_it() -> None:
    firing, for_state = episode_data()
    episode = build_episodes(firing, for_state, [RULE], start=1000, end=1100, step=1)[1]
    on_it = Matcher("alertname", "DiskFull")
    during = silence("ack: during", on_it, start=ts(1015), sid="a")
    before = silence("ack: before", on_it, start=ts(0), hours=0.1, sid="b")
    after = silence("ack: after", on_it, start=ts(1030), sid="c")
    other = silence("ack: other host", on_it, Matcher("instance", "x"), start=ts(1015), sid="d")
    maintenance = silence("maintenance", on_it, start=ts(1015), sid="e")
    straddling = silence("ack: early", on_it, start=ts(900), hours=1, sid="f")
    found = acks_for(episode, [during, before, after, other, maintenance, straddling], NOW)
    assert [s.id for s in found] == ["f", "a"]


def test_a_silence_parses_from_alertmanager_json() -> None:
    raw = json.loads(
        '{"id": "x", "status": {"state": "expired"}, "createdBy": "bob", "comment": "ack: hi",'
        ' "startsAt": "2024-05-01T10:00:00.123456789Z", "endsAt": "2024-05-01T11:00:00Z",'
        ' "updatedAt": "2024-05-01T10:00:00Z",'
        ' "matchers": [{"name": "alertname", "value": "A", "isRegex": false}]}'
    )
    parsed = Silence.from_json(raw)
    assert parsed.is_ack and parsed.reason == "hi" and parsed.state == "expired"
    assert parsed.matchers == (Matcher("alertname", "A"),)
    assert parsed.starts_at == datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert parsed.describe() == '{alertname="A"} by bob: ack: hi'
